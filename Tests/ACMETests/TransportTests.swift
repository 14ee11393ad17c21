@testable import ACME
import CertificateSupport
import Foundation
import Logging
import Testing

struct TransportTests {
    static let logger = Logger(label: "test.acme", factory: { _ in SwiftLogNoOpLogHandler() })

    /// A client with a known account URL, speaking to `ca`.
    static func client(_ ca: ScriptedCA, directory: String = ScriptedCA.directoryJSON) async throws -> ACMEClient {
        let client = ACMEClient(directoryURL: ScriptedCA.directoryURL, accountKey: .generateP256(), httpClient: ca, logger: logger)
        ca.then { _ in ScriptedCA.json(200, directory, nonce: nil) }
        ca.then { _ in ScriptedCA.json(200, "{}", nonce: "first") }
        ca.then { _ in ScriptedCA.json(200, #"{"status":"valid"}"#, nonce: "after-account", headers: [("Location", "https://ca.test/acct/1")]) }
        _ = try await client.registerAccount(agreeToTermsOfService: true)
        return client
    }

    @Test func aBadNonceIsRetriedWithTheNonceTheRejectionCarried() async throws {
        let ca = ScriptedCA()
        let client = try await Self.client(ca)
        ca.then { _ in ScriptedCA.problem(400, "badNonce", nonce: "fresh-from-rejection") }
        ca.then { _ in ScriptedCA.json(200, #"{"type":"dns-01","url":"https://ca.test/chall/1","status":"processing"}"#) }
        let challenge = ACMEChallenge(type: "dns-01", url: URL(string: "https://ca.test/chall/1")!, status: .pending, token: "t")
        let answered = try await client.respond(to: challenge)
        #expect(answered.status == .processing)
        let posts = ca.requests.filter { $0.method == .post }
        #expect(posts.count == 3)  // account, rejected, retried
        #expect(try ScriptedCA.protectedHeader(of: posts[1])["nonce"] as? String == "after-account", "the pooled nonce from the account response")
        #expect(try ScriptedCA.protectedHeader(of: posts[2])["nonce"] as? String == "fresh-from-rejection")
        #expect(ca.requests.filter { $0.method == .head }.count == 1, "no newNonce round trip beyond the account's first")
    }

    @Test func aCAThatRejectsEveryNonceGivesUpBoundedly() async throws {
        let ca = ScriptedCA(fallback: { _ in ScriptedCA.problem(400, "badNonce") })
        let client = try await Self.client(ca)
        let before = ca.requests.count
        await #expect { try await client.deactivateAuthorization(at: URL(string: "https://ca.test/authz/1")!) } throws: { error in
            (error as? ACMEError)?.code == .badNonceExhausted
        }
        #expect(ca.requests.count - before == ACMETransport.maximumBadNonceRetries + 1)
    }

    @Test func anEmptyPoolFetchesANonceFromNewNonce() async throws {
        let ca = ScriptedCA()
        let client = try await Self.client(ca)
        ca.then { _ in ScriptedCA.problem(400, "malformed", nonce: nil) }  // consumes the pooled nonce, gives none back
        _ = try? await client.deactivateAuthorization(at: URL(string: "https://ca.test/authz/1")!)
        ca.then { _ in ScriptedCA.json(200, "", nonce: "from-head") }
        ca.then { _ in ScriptedCA.json(200, #"{"status":"deactivated","identifier":{"type":"dns","value":"x"},"challenges":[]}"#) }
        try await client.deactivateAuthorization(at: URL(string: "https://ca.test/authz/1")!)
        let last = ca.requests.suffix(2)
        #expect(last.first?.method == .head)
        #expect(try ScriptedCA.protectedHeader(of: last.last!)["nonce"] as? String == "from-head")
    }

    @Test func rateLimitsAndOutagesCarryRetryAfter() async throws {
        let ca = ScriptedCA()
        let client = try await Self.client(ca)
        ca.then { _ in ScriptedCA.problem(429, "rateLimited", headers: [("Retry-After", "120")]) }
        let before = Date()
        await #expect { _ = try await client.newOrder(identifiers: [.dns("go.example.com")]) } throws: { error in
            guard let error = error as? ACMEError, error.code == .rateLimited, let retryAfter = error.retryAfter else { return false }
            return retryAfter.timeIntervalSince(before) > 110 && error.problem?.acmeErrorName == "rateLimited" && error.isTransient
        }
        ca.then { _ in ACMEHTTPResponse(status: 503, headers: [("Retry-After", "Wed, 21 Oct 2037 07:28:00 GMT"), ("Replay-Nonce", "n503")], body: []) }
        await #expect { _ = try await client.newOrder(identifiers: [.dns("go.example.com")]) } throws: { error in
            guard let error = error as? ACMEError, error.code == .unavailable, let retryAfter = error.retryAfter else { return false }
            return Calendar(identifier: .gregorian).component(.year, from: retryAfter) == 2037
        }
        ca.then { _ in ScriptedCA.problem(403, "unauthorized") }
        await #expect { _ = try await client.newOrder(identifiers: [.dns("go.example.com")]) } throws: { error in
            (error as? ACMEError)?.code == .refused && (error as? ACMEError)?.isTransient == false
        }
    }

    @Test func alreadyReplacedIsRetriedWithoutReplaces() async throws {
        let ca = ScriptedCA()
        let client = try await Self.client(ca, directory: ScriptedCA.directoryWithARIJSON)
        ca.then { _ in ScriptedCA.problem(409, "alreadyReplaced") }
        ca.then { _ in
            ScriptedCA.json(201, #"{"status":"pending","identifiers":[{"type":"dns","value":"go.example.com"}],"authorizations":[],"finalize":"https://ca.test/fin/1"}"#, headers: [("Location", "https://ca.test/order/1")])
        }
        let order = try await client.newOrder(identifiers: [.dns("go.example.com")], replaces: "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE")
        #expect(order.url?.absoluteString == "https://ca.test/order/1")
        let bodies = try ca.requests.suffix(2).map { request -> [String: Any] in
            let outer = try JSONSerialization.jsonObject(with: Data(request.body!)) as! [String: String]
            return try JSONSerialization.jsonObject(with: Data(Base64URL.decode(outer["payload"]!)!)) as! [String: Any]
        }
        #expect(bodies[0]["replaces"] as? String == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE")
        #expect(bodies[1]["replaces"] == nil)
    }

    /// RFC 9773 §5: `replaces` goes only to a CA whose directory has renewalInfo.
    @Test func aCAWithoutARIIsNotSentReplaces() async throws {
        let ca = ScriptedCA()
        let client = try await Self.client(ca)
        ca.then { _ in
            ScriptedCA.json(201, #"{"status":"pending","identifiers":[{"type":"dns","value":"go.example.com"}],"authorizations":[],"finalize":"https://ca.test/fin/1"}"#, headers: [("Location", "https://ca.test/order/1")])
        }
        _ = try await client.newOrder(identifiers: [.dns("go.example.com")], replaces: "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE")
        let outer = try JSONSerialization.jsonObject(with: Data(try #require(ca.requests.last?.body))) as! [String: String]
        let payload = try JSONSerialization.jsonObject(with: Data(try #require(Base64URL.decode(outer["payload"] ?? "")))) as! [String: Any]
        #expect(payload["identifiers"] != nil)
        #expect(payload["replaces"] == nil)
    }

    @Test func unreachableCAsAreUnavailableAndDeadlinesAreKept() async throws {
        struct Refusing: ACMEHTTPClient {
            func execute(_ request: ACMEHTTPRequest, timeout: Duration) async throws -> ACMEHTTPResponse {
                throw POSIXError(.ECONNREFUSED)
            }
        }
        let client = ACMEClient(directoryURL: ScriptedCA.directoryURL, accountKey: .generateP256(), httpClient: Refusing(), logger: Self.logger)
        await #expect { _ = try await client.directory() } throws: { error in (error as? ACMEError)?.code == .unavailable }
        await #expect { _ = try await client.directory(deadline: .now - .seconds(1)) } throws: { error in (error as? ACMEError)?.code == .deadlineExceeded }
    }
}
