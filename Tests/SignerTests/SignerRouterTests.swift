import ACME
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
@testable import Signer
import SwiftASN1
import Testing
import TestSupport
import X509

/// The API in-process, through `buildApplication` and Hummingbird's router test client: every
/// refusal, limit and problem case that needs no CA. The CA client answers nothing, so a
/// request that got past the policy would come back 503 `ca-unavailable`, never its 4xx.
/// What needs a CA (issuance, its failures) is tested against pebble in IntegrationTests.
@Suite(.timeLimit(.minutes(2)))
struct SignerRouterTests {
    static let name = "go.eval.example.com"
    static let problemPrefix = "urn:csrproxy:problem:"

    /// A signer whose CA cannot be reached, with its state in a scratch directory.
    static func application(burst: Int = 100, perMinute: Int = 600) throws -> some ApplicationProtocol {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("router-\(UUID().uuidString)").path
        let configuration = try SignerConfiguration(toml: """
            [acme]
            directory_url = "https://ca.invalid/dir"
            account_key_path = "\(directory)/state/account-key.pem"

            [dns]
            listen = ["127.0.0.1:\(try freeDNSPort())"]
            udp_sockets = 1

            [http]
            listen = "127.0.0.1:0"
            rate_limit_per_minute = \(perMinute)
            rate_limit_burst = \(burst)

            [[zones]]
            zone = "eval.example.com"
            nameservers = ["ns1.eval.example.com=127.0.0.1"]
            subject = "CN=\(name)"
            names = ["\(name)"]
            """)
        let logger = Logger(label: "router-test") { _ in SwiftLogNoOpLogHandler() }
        let local = try LocalResources(configuration: configuration, logger: logger)
        return buildApplication(configuration: configuration, local: local, caClients: [UnreachableCA()], logger: logger)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let label: String
        let status: HTTPResponse.Status
        let type: String
        /// The body and the headers to send it with.
        let make: @Sendable () async throws -> (body: [UInt8], headers: HTTPFields)
        var testDescription: String { label }
    }

    static let derHeaders: HTTPFields = [.contentType: "application/pkcs10"]

    static func der(subject: String, sans: [GeneralName]?, extra: [Certificate.Extension] = [], key: Certificate.PrivateKey = .init(P256.Signing.PrivateKey())) throws -> (body: [UInt8], headers: HTTPFields) {
        let subject = try DistinguishedName { CommonName(subject) }
        return (try TestCertificates.csr(subject: subject, subjectAlternativeNames: sans, extraExtensions: extra, key: key), derHeaders)
    }

    static func goodCSR() throws -> [UInt8] {
        try TestCertificates.csr(for: [name], key: .init(P256.Signing.PrivateKey()))
    }

    static let cases: [Case] = [
        Case(label: "empty body", status: .badRequest, type: "bad-csr") { ([], [:]) },
        Case(label: "not a CSR", status: .badRequest, type: "bad-csr") { (Array("hello, signer".utf8), [:]) },
        Case(label: "a certificate instead of a CSR", status: .badRequest, type: "bad-csr") {
            (Array(try TestCertificates.localhostServerIdentity().certificatePEM.utf8), [:])
        },
        Case(label: "self-signature broken", status: .badRequest, type: "bad-csr") {
            let csr = try CertificateSigningRequest(derEncoded: try goodCSR())
            // Same request, signed by another key: parses, but its signature does not verify.
            let other = try CertificateSigningRequest(derEncoded: try goodCSR())
            let forged = try CertificateSigningRequest(
                version: csr.version, subject: csr.subject, publicKey: csr.publicKey, attributes: csr.attributes,
                signatureAlgorithm: csr.signatureAlgorithm, signature: other.signature)
            var serializer = DER.Serializer()
            try serializer.serialize(forged)
            return (serializer.serializedBytes, derHeaders)
        },
        Case(label: "unknown subject", status: .forbidden, type: "subject-not-allowed") {
            try der(subject: "evil.example.org", sans: [.dnsName("evil.example.org")])
        },
        Case(label: "extra SAN", status: .forbidden, type: "names-not-allowed") {
            try der(subject: name, sans: [.dnsName(name), .dnsName("other.eval.example.com")])
        },
        Case(label: "wildcard SAN", status: .forbidden, type: "names-not-allowed") {
            try der(subject: name, sans: [.dnsName(name), .dnsName("*.eval.example.com")])
        },
        Case(label: "IP SAN", status: .forbidden, type: "names-not-allowed") {
            try der(subject: name, sans: [.dnsName(name), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))])
        },
        Case(label: "e-mail SAN", status: .forbidden, type: "names-not-allowed") {
            try der(subject: name, sans: [.dnsName(name), .rfc822Name("root@example.com")])
        },
        Case(label: "CN outside the SAN set", status: .forbidden, type: "subject-not-allowed") {
            try der(subject: "other.eval.example.com", sans: [.dnsName(name)])
        },
        Case(label: "P-521 key", status: .badRequest, type: "key-not-allowed") {
            try der(subject: name, sans: [.dnsName(name)], key: .init(P521.Signing.PrivateKey()))
        },
        Case(label: "RSA-1024 key (openssl)", status: .badRequest, type: "key-not-allowed") {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("weak-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let result = try await runCommand("/bin/sh", ["-c", "openssl genrsa -out \(directory)/weak.pem 1024 && openssl req -key \(directory)/weak.pem -new -subj /CN=\(name) -addext subjectAltName=DNS:\(name) -out \(directory)/req.pem"])
            guard result.status == 0 else { throw TestFailure(result.standardError) }
            return (Array(try Data(contentsOf: URL(fileURLWithPath: "\(directory)/req.pem"))), [:])
        },
        Case(label: "asks to be a CA", status: .badRequest, type: "key-not-allowed") {
            try der(subject: name, sans: [.dnsName(name)], extra: [try Certificate.Extension(BasicConstraints.isCertificateAuthority(maxPathLength: nil), critical: true)])
        },
        Case(label: "body over the limit", status: .contentTooLarge, type: "body-too-large") {
            (Array(repeating: UInt8(ascii: "A"), count: 20_000), [:])
        },
        Case(label: "malformed label", status: .badRequest, type: "bad-label") {
            (try goodCSR(), [.contentType: "application/pkcs10", HTTPField.Name("X-CSRProxy-Label")!: "Product=has space"])
        },
        Case(label: "too many labels", status: .badRequest, type: "bad-label") {
            var headers = derHeaders
            for index in 1...5 { headers.append(HTTPField(name: HTTPField.Name("X-CSRProxy-Label")!, value: "k\(index)=v")) }
            return (try goodCSR(), headers)
        },
    ]

    @Test("every bad CSR request has its problem", arguments: cases)
    func badRequestHasItsProblem(_ item: Case) async throws {
        let request = try await item.make()
        try await Self.application().test(.router) { client in
            let response = try await client.execute(uri: "/v1/sign", method: .post, headers: request.headers, body: ByteBuffer(bytes: request.body))
            let text = String(buffer: response.body)
            #expect(response.status == item.status, "\(text)")
            #expect(response.headers[.contentType] == "application/problem+json")
            let problem = try JSONDecoder().decode(ProblemDocument.self, from: Data(text.utf8))
            #expect(problem.type == Self.problemPrefix + item.type, "\(text)")
            #expect(problem.status == item.status.code)
            #expect(!problem.detail.isEmpty)
        }
    }

    /// Past its burst a client gets 429 with Retry-After, before its CSR is even read.
    @Test func pastItsBurstAClientGets429WithRetryAfter() async throws {
        try await Self.application(burst: 2, perMinute: 1).test(.router) { client in
            for _ in 0..<2 {
                let refused = try await client.execute(uri: "/v1/sign", method: .post, body: ByteBuffer())
                #expect(refused.status == .badRequest)
            }
            let limited = try await client.execute(uri: "/v1/sign", method: .post, headers: Self.derHeaders, body: ByteBuffer(bytes: try Self.goodCSR()))
            #expect(limited.status == .tooManyRequests)
            #expect(try Self.problemType(limited) == Self.problemPrefix + "rate-limited")
            #expect(Int(limited.headers[.retryAfter] ?? "") ?? 0 >= 1)
        }
    }

    @Test func unknownPathsAndMethodsAreProblemsToo() async throws {
        try await Self.application().test(.router) { client in
            let missing = try await client.execute(uri: "/v1/nothing", method: .get)
            #expect(missing.status == .notFound)
            #expect(try Self.problemType(missing) == Self.problemPrefix + "not-found")
            let wrongMethod = try await client.execute(uri: "/v1/sign", method: .get)
            #expect(wrongMethod.status == .methodNotAllowed)
            #expect(try Self.problemType(wrongMethod) == Self.problemPrefix + "method-not-allowed")
        }
    }

    /// Alive but not ready while the CA cannot be reached: the readiness problem says what it
    /// waits for, with Retry-After.
    @Test func healthyButNotReadyWithoutTheCA() async throws {
        try await Self.application().test(.router) { client in
            #expect(try await client.execute(uri: "/healthz", method: .get).status == .ok)
            let ready = try await client.execute(uri: "/readyz", method: .get)
            #expect(ready.status == .serviceUnavailable)
            #expect(try Self.problemType(ready) == Self.problemPrefix + "not-ready")
            #expect(String(buffer: ready.body).contains("ACME account"))
            #expect(ready.headers[.retryAfter] == "5")
        }
    }

    /// Without the CA's ARI the window is computed from the certificate's lifetime; a query
    /// without a readable certificate is a 400 problem.
    @Test func renewalInfoFallsBackToTheComputedWindow() async throws {
        let key = P256.Signing.PrivateKey()
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey), notValidBefore: now, notValidAfter: now + 90 * 86_400,
            issuer: try DistinguishedName { CommonName("test CA") }, subject: try DistinguishedName { CommonName(Self.name) },
            signatureAlgorithm: .ecdsaWithSHA256, extensions: try Certificate.Extensions {
                AuthorityKeyIdentifier(keyIdentifier: [1, 2, 3, 4])
            }, issuerPrivateKey: .init(key))
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        let encoded = Data(serializer.serializedBytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        try await Self.application().test(.router) { client in
            let window = try await client.execute(uri: "/v1/renewal-info?certificate=\(encoded)", method: .get)
            #expect(window.status == .ok, "\(String(buffer: window.body))")
            let body = try JSONSerialization.jsonObject(with: Data(String(buffer: window.body).utf8)) as? [String: Any]
            #expect(body?["source"] as? String == "computed")
            let unreadable = try await client.execute(uri: "/v1/renewal-info?certificate=bm90IGEgY2VydA", method: .get)
            #expect(unreadable.status == .badRequest)
            #expect(try Self.problemType(unreadable) == Self.problemPrefix + "bad-request")
        }
    }

    struct ProblemDocument: Decodable {
        let type: String
        let status: Int
        let detail: String
    }

    static func problemType(_ response: TestResponse) throws -> String {
        try JSONDecoder().decode(ProblemDocument.self, from: Data(String(buffer: response.body).utf8)).type
    }
}

/// A CA client that reaches nothing: every request fails as a refused connection would.
struct UnreachableCA: ACMEHTTPClient {
    struct ConnectionRefused: Error {}

    func execute(_ request: ACMEHTTPRequest, timeout: Duration) async throws -> ACMEHTTPResponse {
        throw ConnectionRefused()
    }
}
