@testable import Agent
import CertificateSupport
import CommandLineSupport
import Crypto
import Foundation
import Logging
import SignerProtocol
import Testing
import X509

struct RenewalDecisionTests {
    static func leaf(days: Double, startedDaysAgo: Double) throws -> Certificate {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName { CommonName("go.eval.example.com") }
        let start = Date().addingTimeInterval(-startedDaysAgo * 86_400)
        return try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey), notValidBefore: start,
            notValidAfter: start.addingTimeInterval(days * 86_400), issuer: subject, subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256, extensions: .init(), issuerPrivateKey: .init(key))
    }

    static func cache(for leaf: Certificate, startIn: Double, fetchedHoursAgo: Double) throws -> RenewalCache {
        let formatter = ISO8601DateFormatter()
        let start = Date().addingTimeInterval(startIn * 86_400)
        let window = RenewalWindowResponse(suggestedWindow: .init(start: formatter.string(from: start), end: formatter.string(from: start.addingTimeInterval(86_400))), source: "ca")
        return try RenewalCache(serial: leaf.serialNumber.description, window: window, fetchedAt: Date().addingTimeInterval(-fetchedHoursAgo * 3600))
    }

    @Test func aFreshCacheDecidesWithoutTheNetwork() throws {
        let leaf = try Self.leaf(days: 90, startedDaysAgo: 10)
        let later = try Self.cache(for: leaf, startIn: 20, fetchedHoursAgo: 1)
        guard case .notDue = RenewalCache.decide(leaf: leaf, cache: later, isFallback: false, now: Date()) else { Issue.record("expected not due"); return }
        let now = try Self.cache(for: leaf, startIn: -2, fetchedHoursAgo: 1)
        guard case .due = RenewalCache.decide(leaf: leaf, cache: now, isFallback: false, now: Date()) else { Issue.record("expected due"); return }
    }

    @Test func aStaleOrForeignCacheMeansAskingTheSigner() throws {
        let leaf = try Self.leaf(days: 90, startedDaysAgo: 10)
        #expect(RenewalCache.decide(leaf: leaf, cache: try Self.cache(for: leaf, startIn: 20, fetchedHoursAgo: 13), isFallback: false, now: Date()) == .askSigner)
        let other = try Self.leaf(days: 90, startedDaysAgo: 10)
        #expect(RenewalCache.decide(leaf: leaf, cache: try Self.cache(for: other, startIn: 20, fetchedHoursAgo: 1), isFallback: false, now: Date()) == .askSigner)
        #expect(RenewalCache.decide(leaf: leaf, cache: nil, isFallback: false, now: Date()) == .askSigner)
    }

    @Test func theLifetimeRuleAndTheFallbackOverrideTheCache() throws {
        let old = try Self.leaf(days: 90, startedDaysAgo: 80)  // past 75 days: the end of the lifetime window
        guard case .due = RenewalCache.decide(leaf: old, cache: try Self.cache(for: old, startIn: 30, fetchedHoursAgo: 1), isFallback: false, now: Date()) else { Issue.record("expected due"); return }
        let young = try Self.leaf(days: 90, startedDaysAgo: 1)
        guard case .due = RenewalCache.decide(leaf: young, cache: try Self.cache(for: young, startIn: 30, fetchedHoursAgo: 1), isFallback: true, now: Date()) else { Issue.record("expected due"); return }
    }
}
