import _CryptoExtras
import CertificateSupport
import Crypto
import Foundation
import SwiftASN1
import Testing
import TestSupport
import X509

struct RenewalScheduleTests {
    @Test func ninetyDayCertificatesRenewFromTwoThirds() {
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let window = RenewalSchedule.window(notBefore: start, notAfter: start.addingTimeInterval(90 * 86_400))
        #expect(window.start == start.addingTimeInterval(60 * 86_400))
        #expect(window.end == start.addingTimeInterval(75 * 86_400))
    }

    @Test func shortLivedCertificatesRenewFromHalf() {
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let window = RenewalSchedule.window(notBefore: start, notAfter: start.addingTimeInterval(6 * 86_400))
        #expect(window.start == start.addingTimeInterval(3 * 86_400))
        #expect(window.end == start.addingTimeInterval(4.5 * 86_400))
    }
}
