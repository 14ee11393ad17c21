import ACME
import CertificateSupport
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ReloadableTLS
import ServiceLifecycle

/// An HTTPS front for pebble, on loopback, for what pebble 2.4 cannot show: it records every
/// request the client sent (so a test can read the JWS payloads, `replaces` among them),
/// advertises ARI in the directory when asked (pebble 2.4 has none, and RFC 9773 lets a client
/// send `replaces` only to a CA that does), and answers newOrder with a scripted CA problem
/// (`rateLimited` with a Retry-After, say) instead of forwarding it. Everything else goes to
/// pebble, with pebble's URLs rewritten to the front's in headers and bodies.
public final class ACMEFront: @unchecked Sendable {
    public struct Recorded: Sendable {
        public let method: String
        public let path: String
        public let body: [UInt8]
        /// What the client was answered (pebble's status, or the scripted fault's).
        public var status = 0

        /// The JWS payload, decoded: what the client asked for.
        public var payload: [String: Any]? {
            guard let jws = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
                  let encoded = jws["payload"] as? String, let bytes = Base64URL.decode(encoded)
            else { return nil }
            return try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
        }
    }

    /// A problem to answer newOrder with, `count` times.
    public struct Fault: Sendable {
        public var status: Int
        public var type: String
        public var retryAfterSeconds: Int?
        public var count: Int
        public init(status: Int = 429, type: String = "urn:ietf:params:acme:error:rateLimited", retryAfterSeconds: Int? = 30, count: Int = 1) {
            self.status = status
            self.type = type
            self.retryAfterSeconds = retryAfterSeconds
            self.count = count
        }
    }

    public let tlsRootPEM: String
    public private(set) var port = 0
    public var directoryURL: URL { URL(string: "https://127.0.0.1:\(port)/dir")! }
    private let lock = NSLock()
    private var requests: [Recorded] = []
    private var fault: Fault?
    private var stalled = false
    private var refusesRepeatedReplaces = false
    private var holdsDownloads = false
    private var holdsChallengeResponses = false
    private var held = 0
    private var replacedCertIDs: Set<String> = []
    private var task: Task<Void, Error>?

    /// Starts the front before `pebble`. With `advertisesARI`, the directory gains a
    /// `renewalInfo` URL (answered 404: the signer then computes windows itself).
    public init(pebble: Pebble, advertisesARI: Bool) async throws {
        let identity = try TestCertificates.localhostServerIdentity()
        tlsRootPEM = identity.caPEM
        let identities = TLSIdentityStore(try TLSIdentity(certificateChainPEM: identity.certificatePEM, privateKeyPEM: identity.keyPEM))
        let transport = try pebble.makeTransport()
        let pebbleBase = "https://127.0.0.1:\(pebble.directoryURL.port ?? 0)"
        let router = Router()
        router.on("**", method: .get) { [self] request, _ in try await relay(request, transport: transport, pebbleBase: pebbleBase, advertisesARI: advertisesARI) }
        router.on("**", method: .head) { [self] request, _ in try await relay(request, transport: transport, pebbleBase: pebbleBase, advertisesARI: advertisesARI) }
        router.on("**", method: .post) { [self] request, _ in try await relay(request, transport: transport, pebbleBase: pebbleBase, advertisesARI: advertisesARI) }
        let (bound, boundContinuation) = AsyncStream.makeStream(of: Int.self)
        let application = Application(
            router: router, server: .reloadableTLS(identities: identities),
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "acme-front"),
            onServerRunning: { channel in boundContinuation.yield(channel.localAddress?.port ?? 0) },
            logger: Logger(label: "acme-front") { _ in SwiftLogNoOpLogHandler() })
        task = Task {
            try? await application.runService()
            try await transport.shutdown()
        }
        for await value in bound {
            port = value
            break
        }
    }

    /// Every request so far, in order.
    public var recorded: [Recorded] { lock.withLock { requests } }

    /// Every newOrder request so far, answered or not (a nonce pebble rejected, a scripted fault).
    public var newOrderRequests: [Recorded] {
        recorded.filter { $0.method == "POST" && $0.path.hasPrefix("/order-plz") }
    }

    /// The payloads of the orders pebble placed (201), in order.
    public var newOrders: [[String: Any]] {
        newOrderRequests.filter { $0.status == 201 }.compactMap(\.payload)
    }

    /// From now on, holds every request for a minute before answering: a CA that hangs.
    public func stall() {
        lock.withLock { stalled = true }
    }

    /// From now on, answers a newOrder whose `replaces` names a CertID that an order placed
    /// before named already with 409 `alreadyReplaced`, as Let's Encrypt does.
    public func refuseRepeatedReplaces() {
        lock.withLock { refusesRepeatedReplaces = true }
    }

    /// From now on, holds each certificate download (the CA has issued; the signer is fetching
    /// the chain) until `releaseDownloads()`, or for a minute at most.
    public func holdDownloads() {
        lock.withLock { holdsDownloads = true }
    }

    public func releaseDownloads() {
        lock.withLock { holdsDownloads = false }
    }

    /// From now on, holds each challenge response (the signer tells the CA its value is
    /// published; the order then holds its permits and its value) until
    /// `releaseChallengeResponses()`, or for a minute at most.
    public func holdChallengeResponses() {
        lock.withLock { holdsChallengeResponses = true }
    }

    public func releaseChallengeResponses() {
        lock.withLock { holdsChallengeResponses = false }
    }

    /// How many certificate downloads have been held so far.
    public var heldDownloads: Int { lock.withLock { held } }

    /// Answers the next newOrder requests with `fault` instead of forwarding them.
    public func failNewOrders(_ fault: Fault) {
        lock.withLock { self.fault = fault }
    }

    public func stop() {
        task?.cancel()
        task = nil
    }

    deinit { stop() }

    private func relay(_ request: Request, transport: AsyncHTTPClientTransport, pebbleBase: String, advertisesARI: Bool) async throws -> Response {
        let body = Array(buffer: try await request.body.collect(upTo: 1 << 20))
        let path = request.uri.path
        let (index, stalls) = lock.withLock {
            requests.append(Recorded(method: request.method.rawValue, path: path, body: body))
            return (requests.count - 1, stalled)
        }
        if stalls { try await Task.sleep(for: .seconds(60)) }
        // Pebble's certificate URLs are /certZ/<serial>.
        // Pebble's challenge URLs are /chalZ/<id>, answered to a POST with the signer's go-ahead.
        let isDownload = path.hasPrefix("/certZ/"), isChallengeResponse = request.method == .post && path.hasPrefix("/chalZ/")
        let holding = { [self] in lock.withLock { (isDownload && holdsDownloads) || (isChallengeResponse && holdsChallengeResponses) } }
        let holds = holding() && lock.withLock {
            if isDownload { held += 1 }
            return true
        }
        if holds {
            let until = ContinuousClock.now + .seconds(60)
            while holding(), ContinuousClock.now < until { try await Task.sleep(for: .milliseconds(20)) }
        }
        let response = try await answer(request, body: body, path: path, transport: transport, pebbleBase: pebbleBase, advertisesARI: advertisesARI)
        lock.withLock { requests[index].status = Int(response.status.code) }
        return response
    }

    private func answer(_ request: Request, body: [UInt8], path: String, transport: AsyncHTTPClientTransport, pebbleBase: String, advertisesARI: Bool) async throws -> Response {
        let replaces = request.method == .post && path.hasPrefix("/order-plz") ? Recorded(method: "POST", path: path, body: body).payload?["replaces"] as? String : nil
        let repeated = replaces.map { id in lock.withLock { refusesRepeatedReplaces && replacedCertIDs.contains(id) } } ?? false
        if request.method == .post, path.hasPrefix("/order-plz"), let fault = repeated ? Fault(status: 409, type: "urn:ietf:params:acme:error:alreadyReplaced", retryAfterSeconds: nil) : takeFault() {
            var headers: HTTPFields = [.contentType: "application/problem+json"]
            if let seconds = fault.retryAfterSeconds { headers[.retryAfter] = String(seconds) }
            let problem = #"{"type":"\#(fault.type)","detail":"scripted by the test's ACME front","status":\#(fault.status)}"#
            return Response(status: .init(code: fault.status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: problem)))
        }
        let url = URL(string: pebbleBase + request.uri.description)!
        var forwarded = ACMEHTTPRequest(method: request.method == .post ? .post : request.method == .head ? .head : .get, url: url)
        if let type = request.headers[.contentType] { forwarded.headers.append(("Content-Type", type)) }
        // Pebble checks a JWS's `url` against the Host it was asked on, and builds its own URLs
        // from it: the front's.
        forwarded.headers.append(("Host", "127.0.0.1:\(port)"))
        if request.method == .post { forwarded.body = body }
        let answer = try await transport.execute(forwarded, timeout: .seconds(30))
        if let replaces, answer.status == 201 { _ = lock.withLock { replacedCertIDs.insert(replaces) } }
        let front = "https://127.0.0.1:\(port)"
        var text = String(decoding: answer.body, as: UTF8.self).replacingOccurrences(of: pebbleBase, with: front)
        if path == "/dir", advertisesARI, let brace = text.lastIndex(of: "}") {
            text.insert(contentsOf: #","renewalInfo":"\#(front)/renewal-info""#, at: brace)
        }
        var headers = HTTPFields()
        for (name, value) in answer.headers {
            guard let field = HTTPField.Name(name), field != .contentLength, field != .transferEncoding, field != .connection else { continue }
            headers.append(HTTPField(name: field, value: value.replacingOccurrences(of: pebbleBase, with: front)))
        }
        return Response(status: .init(code: answer.status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    private func takeFault() -> Fault? {
        lock.withLock {
            guard var current = fault, current.count > 0 else { return nil }
            current.count -= 1
            fault = current.count > 0 ? current : nil
            return current
        }
    }
}
