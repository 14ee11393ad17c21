@testable import ACME
import CertificateSupport
import Foundation
import Synchronization

/// A fake CA for unit tests: answers each request with the next scripted response and records
/// what it was sent. Integration tests use the real pebble instead.
final class ScriptedCA: ACMEHTTPClient {
    typealias Responder = @Sendable (ACMEHTTPRequest) -> ACMEHTTPResponse
    private let state = Mutex<(responders: [Responder], requests: [ACMEHTTPRequest])>(([], []))
    let fallback: Responder

    init(fallback: @escaping Responder = { _ in ACMEHTTPResponse(status: 500, headers: [], body: []) }) {
        self.fallback = fallback
    }

    func then(_ responder: @escaping Responder) { state.withLock { $0.responders.append(responder) } }

    var requests: [ACMEHTTPRequest] { state.withLock { $0.requests } }

    func execute(_ request: ACMEHTTPRequest, timeout: Duration) async throws -> ACMEHTTPResponse {
        let responder = state.withLock { state -> Responder in
            state.requests.append(request)
            return state.responders.isEmpty ? fallback : state.responders.removeFirst()
        }
        return responder(request)
    }

    static let directoryURL = URL(string: "https://ca.test/directory")!
    static let directoryJSON = #"{"newNonce":"https://ca.test/nonce","newAccount":"https://ca.test/account","newOrder":"https://ca.test/order"}"#
    /// The same with RFC 9773's renewalInfo, as Let's Encrypt's has it.
    static let directoryWithARIJSON = #"{"newNonce":"https://ca.test/nonce","newAccount":"https://ca.test/account","newOrder":"https://ca.test/order","renewalInfo":"https://ca.test/renewal-info"}"#

    static func json(_ status: Int, _ body: String, nonce: String? = "n-\(UUID().uuidString)", headers: [(String, String)] = []) -> ACMEHTTPResponse {
        var all = headers + [("Content-Type", "application/json")]
        if let nonce { all.append(("Replay-Nonce", nonce)) }
        return ACMEHTTPResponse(status: status, headers: all, body: Array(body.utf8))
    }

    static func problem(_ status: Int, _ name: String, nonce: String? = "n-\(UUID().uuidString)", headers: [(String, String)] = []) -> ACMEHTTPResponse {
        json(status, #"{"type":"urn:ietf:params:acme:error:\#(name)","detail":"scripted \#(name)"}"#, nonce: nonce, headers: headers)
    }

    /// The decoded protected header of a JWS request body.
    static func protectedHeader(of request: ACMEHTTPRequest) throws -> [String: Any] {
        let body = try JSONSerialization.jsonObject(with: Data(request.body ?? [])) as! [String: String]
        return try JSONSerialization.jsonObject(with: Data(Base64URL.decode(body["protected"]!)!)) as! [String: Any]
    }
}
