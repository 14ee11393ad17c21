@testable import ACME
import CertificateSupport
import Crypto
import Foundation
import SwiftASN1
import Testing
import X509

struct ModelTests {
    static func fixture(_ name: String) throws -> [UInt8] {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures"))
        return Array(try Data(contentsOf: url))
    }

    @Test func problemDocumentsDecodeWithSubproblemsAndIdentifiers() throws {
        let problem = try JSONDecoder().decode(ACMEProblem.self, from: Data(Self.fixture("problem-subproblems")))
        #expect(problem.acmeErrorName == "malformed")
        #expect(problem.subproblems?.count == 2)
        #expect(problem.subproblems?[1].acmeErrorName == "rejectedIdentifier")
        #expect(problem.subproblems?[1].identifier == .dns("example.net"))
        #expect(problem.description.contains("example.net"))
        let foreign = ACMEProblem(type: "about:blank")
        #expect(foreign.acmeErrorName == nil)
    }

    @Test func directoryProfilesAreSelectedByPreference() throws {
        let directory = try JSONDecoder().decode(ACMEDirectory.self, from: Data(Self.fixture("directory-profiles-ari")))
        #expect(directory.renewalInfo?.absoluteString == "https://acme-v02.api.letsencrypt.org/acme/renewal-info")
        #expect(try directory.selectProfile(from: ["tlsserver", "classic"]) == "tlsserver")
        #expect(try directory.selectProfile(from: ["unheard-of", "shortlived"]) == "shortlived")
        #expect(try directory.selectProfile(from: []) == nil, "no preference: the CA's default profile")
        #expect(throws: ACMEError.self) { try directory.selectProfile(from: ["unheard-of"]) }
        let pebbleLike = try JSONDecoder().decode(ACMEDirectory.self, from: Data(ScriptedCA.directoryJSON.utf8))
        #expect(throws: ACMEError.self) { try pebbleLike.selectProfile(from: ["classic"]) }
    }

    @Test func ariCertificateIDMatchesRFC9773() {
        // RFC 9773 §4.1: AKI 69:88:5B:6B:..:C8:D4 and serial 0x87654321 give this identifier.
        let aki: [UInt8] = [0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3, 0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4]
        #expect(ARICertificateID(authorityKeyIdentifier: aki, serialNumber: [0x00, 0x87, 0x65, 0x43, 0x21]).value == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE")
        #expect(ARICertificateID(authorityKeyIdentifier: aki, serialNumber: [0x87, 0x65, 0x43, 0x21]).value == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", "the sign octet is added")
    }

    @Test func ariCertificateIDComesFromACertificatesAKIAndSerial() throws {
        let issuerKey = P256.Signing.PrivateKey()
        let aki: [UInt8] = Array(0..<20)
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(bytes: [0x00, 0x87, 0x65, 0x43, 0x21]),
            publicKey: .init(P256.Signing.PrivateKey().publicKey), notValidBefore: Date(), notValidAfter: Date() + 86400,
            issuer: try DistinguishedName { CommonName("Test CA") }, subject: try DistinguishedName { CommonName("go.example.com") },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions { AuthorityKeyIdentifier(keyIdentifier: aki[...]) },
            issuerPrivateKey: .init(issuerKey))
        #expect(try ARICertificateID(certificate: certificate).value == Base64URL.encode(aki) + ".AIdlQyE")
    }

    @Test func renewalWindowsParseAndPickATimeInside() throws {
        let info = try RenewalInfo(json: Self.fixture("renewal-info"), retryAfter: nil)
        #expect(info.windowStart == RenewalInfo.parseTimestamp("2025-01-02T04:00:00Z"))
        #expect(info.windowEnd.timeIntervalSince(info.windowStart) == 86400)
        #expect(info.explanationURL?.absoluteString == "https://acme.example.com/docs/ari")
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<100 {
            let time = info.renewalTime(using: &generator)
            #expect(time >= info.windowStart && time < info.windowEnd)
        }
        #expect(RenewalInfo.parseTimestamp("2025-01-02T04:00:00.123Z") != nil)
        #expect(throws: ACMEError.self) { try RenewalInfo(json: Array(#"{"suggestedWindow":{"start":"2025-01-03T04:00:00Z","end":"2025-01-02T04:00:00Z"}}"#.utf8), retryAfter: nil) }
        #expect(throws: ACMEError.self) { try RenewalInfo(json: Array("{}".utf8), retryAfter: nil) }
    }

    @Test func retryAfterAndLinkHeadersParse() {
        let now = Date(timeIntervalSince1970: 1_000_000)
        let response = ACMEHTTPResponse(status: 200, headers: [
            ("Retry-After", "30"),
            ("Link", #"<https://ca.test/dir>;rel="index", <https://ca.test/cert/1/1>;rel="alternate""#),
        ], body: [])
        #expect(response.retryAfter(now: now) == now.addingTimeInterval(30))
        #expect(response.links(relation: "alternate").map(\.absoluteString) == ["https://ca.test/cert/1/1"])
        #expect(response.links(relation: "index").map(\.absoluteString) == ["https://ca.test/dir"])
    }
}
