@testable import ACME
import Foundation
import Logging
import Testing

/// A URL the CA hands out is data: one on another host or scheme is never fetched, and a
/// redirect is never followed.
struct URLPolicyTests {
    @Test(arguments: ["https://elsewhere.test/chall/1", "http://ca.test/chall/1"])
    func aURLOffTheDirectorysHostIsNotFollowed(url: String) async throws {
        let ca = ScriptedCA()
        let client = try await TransportTests.client(ca)
        let before = ca.requests.count
        let challenge = ACMEChallenge(type: "dns-01", url: URL(string: url)!, status: .pending, token: "t")
        await #expect { try await client.respond(to: challenge) } throws: { error in
            (error as? ACMEError)?.code == .protocolViolation && "\(error)".contains("not followed")
        }
        #expect(ca.requests.count == before, "a request was sent to \(url)")
    }

    @Test func aListedHostIsFollowed() async throws {
        let ca = ScriptedCA()
        let client = ACMEClient(
            directoryURL: ScriptedCA.directoryURL, accountKey: .generateP256(), httpClient: ca, additionalHosts: ["certs.ca.test"], logger: TransportTests.logger)
        ca.then { _ in ScriptedCA.json(200, ScriptedCA.directoryJSON, nonce: nil) }
        _ = try await client.directory()
        ca.then { _ in ScriptedCA.json(200, "{}") }
        _ = try await client.transport.get(URL(string: "https://certs.ca.test/x")!, deadline: .now + .seconds(5))
        #expect(ca.requests.last?.url.host == "certs.ca.test")
    }

    @Test func aRedirectIsNotFollowed() async throws {
        let ca = ScriptedCA()
        let client = try await TransportTests.client(ca)
        ca.then { _ in ACMEHTTPResponse(status: 302, headers: [("Location", "http://evil.test/")], body: []) }
        await #expect { try await client.transport.get(URL(string: "https://ca.test/authz/1")!, deadline: .now + .seconds(5)) } throws: { error in
            (error as? ACMEError)?.code == .protocolViolation && "\(error)".contains("redirect")
        }
        #expect(!ca.requests.contains { $0.url.host == "evil.test" })
    }
}
