import Crypto
import Foundation
import SwiftASN1
import Testing
import TestSupport
import X509

/// Every kind of bad request gets its status and stable problem `type`, as
/// `application/problem+json`, and none of them reaches the CA.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct SignerRefusalTests {
    static let name = SignerHarness.name

    struct Case: Sendable, CustomTestStringConvertible {
        let label: String
        let status: Int
        let type: String
        /// Writes the body to the path; returns extra curl headers.
        let make: @Sendable (_ path: String, _ directory: String) async throws -> [String]
        var testDescription: String { label }
    }

    static func der(_ path: String, subject: DistinguishedName, sans: [GeneralName]?, extra: [Certificate.Extension] = [], key: Certificate.PrivateKey = .init(P256.Signing.PrivateKey())) throws -> [String] {
        try Data(try TestCertificates.csr(subject: subject, subjectAlternativeNames: sans, extraExtensions: extra, key: key)).write(to: URL(fileURLWithPath: path))
        return ["Content-Type: application/pkcs10"]
    }

    static let cases: [Case] = [
        Case(label: "empty body", status: 400, type: "bad-csr") { path, _ in
            try Data().write(to: URL(fileURLWithPath: path)); return []
        },
        Case(label: "not a CSR", status: 400, type: "bad-csr") { path, _ in
            try "hello, signer".write(toFile: path, atomically: true, encoding: .utf8); return []
        },
        Case(label: "a certificate instead of a CSR", status: 400, type: "bad-csr") { path, _ in
            try TestCertificates.localhostServerIdentity().certificatePEM.write(toFile: path, atomically: true, encoding: .utf8); return []
        },
        Case(label: "self-signature broken", status: 400, type: "bad-csr") { path, _ in
            let key = P256.Signing.PrivateKey()
            var csr = try CertificateSigningRequest(derEncoded: try TestCertificates.csr(for: [name], key: .init(key)))
            // Same request, signed by another key: parses, but its signature does not verify.
            let other = try CertificateSigningRequest(derEncoded: try TestCertificates.csr(for: [name], key: .init(P256.Signing.PrivateKey())))
            csr = try CertificateSigningRequest(version: csr.version, subject: csr.subject, publicKey: csr.publicKey, attributes: csr.attributes, signatureAlgorithm: csr.signatureAlgorithm, signature: other.signature)
            var serializer = DER.Serializer()
            try serializer.serialize(csr)
            try Data(serializer.serializedBytes).write(to: URL(fileURLWithPath: path))
            return ["Content-Type: application/pkcs10"]
        },
        Case(label: "unknown subject", status: 403, type: "subject-not-allowed") { path, _ in
            try der(path, subject: try DistinguishedName { CommonName("evil.example.org") }, sans: [.dnsName("evil.example.org")])
        },
        Case(label: "extra SAN", status: 403, type: "names-not-allowed") { path, _ in
            try der(path, subject: try DistinguishedName { CommonName(name) }, sans: [.dnsName(name), .dnsName("other.eval.example.com")])
        },
        Case(label: "wildcard SAN", status: 403, type: "names-not-allowed") { path, _ in
            try der(path, subject: try DistinguishedName { CommonName(name) }, sans: [.dnsName(name), .dnsName("*.eval.example.com")])
        },
        Case(label: "IP SAN", status: 403, type: "names-not-allowed") { path, _ in
            try der(path, subject: try DistinguishedName { CommonName(name) }, sans: [.dnsName(name), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))])
        },
        Case(label: "e-mail SAN", status: 403, type: "names-not-allowed") { path, _ in
            try der(path, subject: try DistinguishedName { CommonName(name) }, sans: [.dnsName(name), .rfc822Name("root@example.com")])
        },
        Case(label: "CN outside the SAN set", status: 403, type: "subject-not-allowed") { path, _ in
            try der(path, subject: try DistinguishedName { CommonName("other.eval.example.com") }, sans: [.dnsName(name)])
        },
        Case(label: "P-521 key", status: 400, type: "key-not-allowed") { path, _ in
            try der(path, subject: try DistinguishedName { CommonName(name) }, sans: [.dnsName(name)], key: .init(P521.Signing.PrivateKey()))
        },
        Case(label: "RSA-1024 key (openssl)", status: 400, type: "key-not-allowed") { path, directory in
            let result = try await runCommand("/bin/sh", ["-c", "openssl genrsa -out \(directory)/weak.pem 1024 && openssl req -key \(directory)/weak.pem -new -subj /CN=\(name) -addext subjectAltName=DNS:\(name) -out \(path)"])
            guard result.status == 0 else { throw TestFailure(result.standardError) }
            return []
        },
        Case(label: "asks to be a CA", status: 400, type: "key-not-allowed") { path, _ in
            try der(path, subject: try DistinguishedName { CommonName(name) }, sans: [.dnsName(name)],
                    extra: [try Certificate.Extension(BasicConstraints.isCertificateAuthority(maxPathLength: nil), critical: true)])
        },
        Case(label: "body over the limit", status: 413, type: "body-too-large") { path, _ in
            try Data(repeating: UInt8(ascii: "A"), count: 20_000).write(to: URL(fileURLWithPath: path)); return []
        },
        Case(label: "malformed label", status: 400, type: "bad-label") { path, _ in
            try Data(try TestCertificates.csr(for: [name], key: .init(P256.Signing.PrivateKey()))).write(to: URL(fileURLWithPath: path))
            return ["Content-Type: application/pkcs10", "X-CSRProxy-Label: Product=has space"]
        },
        Case(label: "too many labels", status: 400, type: "bad-label") { path, _ in
            try Data(try TestCertificates.csr(for: [name], key: .init(P256.Signing.PrivateKey()))).write(to: URL(fileURLWithPath: path))
            return ["Content-Type: application/pkcs10"] + (1...5).map { "X-CSRProxy-Label: k\($0)=v" }
        },
    ]

    @Test func everyBadInputHasItsProblemAndNoneReachesTheCA() async throws {
        let harness = try await SignerHarness()
        defer { harness.stop() }
        let directory = harness.workDirectory.path
        for (index, item) in Self.cases.enumerated() {
            let path = "\(directory)/case-\(index)"
            let headers = try await item.make(path, directory)
            let response = try await curl(harness.signURL, bodyFile: path, headers: headers)
            #expect(response.status == item.status, "\(item.label): \(response.text)")
            #expect(response.problemType == "urn:csrproxy:problem:\(item.type)", "\(item.label): \(response.text)")
            #expect(response.headers["content-type"] == "application/problem+json", "\(item.label)")
            #expect(response.problemDetail?.isEmpty == false, "\(item.label)")
        }
        #expect(harness.pebble.newOrderCount == 0, "a refused request reached the CA")
        let missing = try await curl(harness.baseURL.appendingPathComponent("v1/nothing"))
        #expect(missing.status == 404)
        #expect(missing.problemType == "urn:csrproxy:problem:not-found")
        let wrongMethod = try await curl(harness.signURL)
        #expect(wrongMethod.status == 405)
    }

    /// Past its burst a client gets 429 with Retry-After, before the CSR is even read.
    @Test func rateLimitedClientGets429WithRetryAfter() async throws {
        var options = SignerHarness.Options()
        options.rateLimitBurst = 2
        options.rateLimitPerMinute = 1
        let harness = try await SignerHarness(options)
        defer { harness.stop() }
        let path = harness.workDirectory.appendingPathComponent("req.der").path
        try Data(try TestCertificates.csr(for: [Self.name], key: .init(P256.Signing.PrivateKey()))).write(to: URL(fileURLWithPath: path))
        for _ in 0..<2 {
            #expect(try await curl(harness.signURL, bodyFile: path, headers: ["Content-Type: application/pkcs10"]).status == 200)
        }
        #expect(harness.pebble.newOrderCount == 2)
        let limited = try await curl(harness.signURL, bodyFile: path, headers: ["Content-Type: application/pkcs10"])
        #expect(limited.status == 429)
        #expect(limited.problemType == "urn:csrproxy:problem:rate-limited")
        #expect(Int(limited.headers["retry-after"] ?? "") ?? 0 >= 1)
        #expect(harness.pebble.newOrderCount == 2)
    }
}
