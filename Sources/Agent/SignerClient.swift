#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AsyncHTTPClient
import CertificateSupport
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import SignerProtocol

/// Talks to the signer over HTTPS: `POST /v1/sign` with retries, `GET /v1/renewal-info`.
/// Only the CSR ever leaves the machine. Proxies come from `https_proxy`/`no_proxy`, as
/// evaluation users behind a corporate proxy expect.
///
/// AsyncHTTPClient rather than URLSession: the agent's static binary stays at a fraction of
/// the size and memory (see the README's numbers), and it is already in the package.
final class SignerClient: Sendable {
    /// One HTTP client per signer, each with the proxy its URL calls for (`no_proxy` may list
    /// one node and not another).
    private let clients: [HTTPClient]
    /// The signers of the zone, tried in turn (`signer_urls`).
    private let bases: [URL]
    private let userAgent: String
    private let logger: Logger

    init(configuration: AgentConfiguration, environment: [String: String], logger: Logger) throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let bundle = configuration.extraTrustBundle {
            do {
                guard let bytes = try CheckedPath.read(bundle, limit: 8 << 20) else { throw AgentError(.configuration, "no such file") }
                tls.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMBytes(bytes))]
            } catch {
                throw AgentError(.configuration, "cannot read the CA bundle \(bundle) (ca_bundle): \(error)")
            }
        }
        // AsyncHTTPClient keeps retrying a connection until its connect timeout: with other
        // signers to try, a dead one should not take ten seconds of the deadline.
        let connect: TimeAmount = configuration.signerURLs.count > 1 ? .seconds(3) : .seconds(10)
        var http = HTTPClient.Configuration(tlsConfiguration: tls, timeout: .init(connect: connect, read: .seconds(90)))
        http.decompression = .disabled
        // A redirect is an answer, never followed: the signer's URL is the one configured, and a
        // 3xx (to http:, to anyone) must not carry the CSR or a renewal's header elsewhere.
        http.redirectConfiguration = .disallow
        clients = configuration.signerURLs.map { url in
            var own = http
            own.proxy = Self.proxy(for: url, environment: environment)
            return HTTPClient(eventLoopGroupProvider: .singleton, configuration: own)
        }
        bases = configuration.signerURLs
        userAgent = "\(configuration.product) CSRProxy-agent/\(AgentVersion.current)"
        self.logger = logger
    }

    func shutdown() async {
        for client in clients { try? await client.shutdown() }
    }

    /// Sends the CSR (DER) and returns the PEM chain. Retries connection failures, 429 and 5xx
    /// (waiting as long as Retry-After says, with jitter) until `deadline`. Final for the run: a
    /// redirect (named with its Location), any other 4xx, and `ca-refused` whatever its status
    /// (the CA refused the order or its validation: asking again, on any node, spends the
    /// failed-validation limit every install of a shared name shares). With several signers a
    /// failure moves on to the next at once; the wait comes after each whole round.
    /// `replacing` is the certificate a renewal replaces (and, with a new key, the old key's
    /// proof), so the CA can exempt it.
    func sign(csrDER: [UInt8], labels: [Label], replacing: Replacement? = nil, deadline: ContinuousClock.Instant, progress: (String) -> Void) async throws -> String {
        var wait = Duration.seconds(1)
        var lastError: AgentError?
        var attempt = 0
        var current = 0
        while true {
            attempt += 1
            let base = bases[current]
            let client = clients[current]
            do {
                var request = HTTPClientRequest(url: base.appendingPathComponent(String(SignerAPI.signPath.dropFirst())).absoluteString)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: SignerAPI.derCSRMediaType)
                request.headers.add(name: "Accept", value: SignerAPI.certificateChainMediaType)
                request.headers.add(name: "User-Agent", value: userAgent)
                for label in labels { request.headers.add(name: SignerAPI.labelHeader, value: label.description) }
                if let replacing {
                    request.headers.add(name: SignerAPI.replacesHeader, value: Base64URL.encode(replacing.certificateDER))
                    if let proof = replacing.proof { request.headers.add(name: SignerAPI.replacesProofHeader, value: Base64URL.encode(proof)) }
                }
                request.body = .bytes(ByteBuffer(bytes: csrDER))
                let remaining = deadline - ContinuousClock.now
                // The whole exchange, body included, ends by the deadline: a signer that trickles
                // an endless body is cut off there, and one that sends too much at the bound.
                let (status, headers, body) = try await Self.within(remaining) { [client, request] in
                    let response = try await client.execute(request, timeout: .seconds(max(1, remaining.components.seconds)))
                    do {
                        return (response.status, response.headers, try await response.body.collect(upTo: Self.answerLimit))
                    } catch is NIOTooManyBytesError {
                        throw AgentError(.badAnswer, "the signer's answer is larger than \(Self.answerLimit / 1024) KiB, more than any certificate chain")
                    }
                }
                if status == .ok { return String(buffer: body) }
                let problem = try? JSONDecoder().decode(Problem.self, from: Data(body.readableBytesView))
                let detail = TerminalText.clean(problem?.detail ?? "HTTP \(status.code)", limit: 300)
                let response = (status: status, headers: headers)
                // A number of seconds the signer asks for, up to 8 days (a spent weekly budget);
                // anything else is ignored.
                let retryAfter = response.headers.first(name: "Retry-After").flatMap(Int.init).flatMap { (0...(8 * 86_400)).contains($0) ? $0 : nil }
                if problem?.problemType == .caRefused {
                    throw AgentError(.refused, "the CA refused the request (\(response.status.code)): \(detail)")
                }
                switch response.status.code {
                case 300..<400:
                    throw AgentError(.refused, Self.redirectMessage(base: base, status: Int(response.status.code), headers: response.headers))
                case 429, 503, 500, 502, 504:
                    let failure = AgentError(.temporary, "the signer answered \(response.status.code): \(detail)", retryAfterSeconds: retryAfter)
                    // Waiting past the deadline is pointless: say so now, with when to come back,
                    // unless another signer of the zone is still to be asked in this round.
                    if let retryAfter, ContinuousClock.now + .seconds(retryAfter) >= deadline, current == bases.count - 1 { throw failure }
                    lastError = failure
                    if let retryAfter { wait = .seconds(retryAfter) }
                default:
                    throw AgentError(.refused, "the signer refused the request (\(response.status.code)): \(detail)")
                }
            } catch let error as AgentError where error.code == .refused || error.code == .badAnswer || error.retryAfterSeconds != nil {
                // Final: a refusal, a bad answer, or a wait the deadline does not allow.
                throw error
            } catch let error as NIOSSLError {
                throw AgentError(.unreachable, "TLS with the signer failed (\(error)); is its certificate trusted (ca_bundle)?")
            } catch let error as BoringSSLError {
                throw AgentError(.unreachable, "TLS with the signer failed (\(error)); is its certificate trusted (ca_bundle)?")
            } catch let error as AgentError {
                lastError = error
            } catch {
                lastError = AgentError(.unreachable, "cannot reach the signer at \(base): \(error)")
            }
            let failure = lastError ?? AgentError(.temporary, "the signer did not answer")
            current = (current + 1) % bases.count
            if current != 0 {
                progress("\(base) failed (\(failure.message)); trying \(bases[current])")
                continue
            }
            // Jitter spreads installs that failed together, so they do not come back together.
            let pause = wait * Double.random(in: 0.8...1.2)
            guard ContinuousClock.now + pause < deadline else { throw failure }
            progress("attempt \(attempt) failed (\(failure.message)); retrying in \(pause.components.seconds) s")
            try await Task.sleep(for: pause)
            wait = min(wait * 2, .seconds(60))
        }
    }

    /// What a redirect is told as: where it pointed (cleaned, bounded) and what to do about it.
    static func redirectMessage(base: URL, status: Int, headers: HTTPHeaders) -> String {
        let location = TerminalText.clean(headers.first(name: "Location") ?? "nowhere", limit: 200)
        return "the signer at \(base) answered \(status), redirecting to \(location); the agent follows no redirect: if that is the signer, set signer_url to it"
    }

    /// The most a signer's answer may be: a chain is a few KiB.
    static let answerLimit = 256 * 1024

    /// Runs `body`, giving up with `temporary` when `limit` has passed.
    static func within<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: max(limit, .seconds(1)))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw AgentError(.temporary, "the signer did not finish answering within \(max(limit, .seconds(1)).components.seconds) s")
            }
            return value
        }
    }

    /// The signer's renewal window for the installed leaf (DER).
    func renewalInfo(certificateDER: [UInt8], deadline: ContinuousClock.Instant) async throws -> RenewalWindowResponse {
        let encoded = Base64URL.encode(certificateDER)
        let response = try await get(SignerAPI.renewalInfoPath, query: "certificate=\(encoded)", deadline: deadline)
        let body = try await response.body.collect(upTo: 64 * 1024)
        guard response.status == .ok else {
            throw AgentError(response.status.code == 429 || response.status.code >= 500 ? .temporary : .refused, "renewal-info answered \(response.status.code)")
        }
        do {
            return try JSONDecoder().decode(RenewalWindowResponse.self, from: Data(body.readableBytesView))
        } catch {
            throw AgentError(.badAnswer, "renewal-info is not a renewal window: \(error)")
        }
    }

    /// `GET /healthz`: the status and the signer's clock (its Date header).
    func health(deadline: ContinuousClock.Instant) async throws -> (status: Int, date: Date?) {
        let response = try await get(SignerAPI.healthPath, deadline: deadline)
        _ = try? await response.body.collect(upTo: 4096)
        let date = response.headers.first(name: "Date").flatMap(Self.parseHTTPDate)
        return (Int(response.status.code), date)
    }

    /// A GET to one of the signer's paths, from the first signer that answers; a failure to
    /// connect to every one is `unreachable`.
    private func get(_ path: String, query: String? = nil, deadline: ContinuousClock.Instant) async throws -> HTTPClientResponse {
        var failures: [String] = []
        for (base, client) in zip(bases, clients) {
            var url = base.appendingPathComponent(String(path.dropFirst())).absoluteString
            if let query { url += "?\(query)" }
            var request = HTTPClientRequest(url: url)
            request.headers.add(name: "User-Agent", value: userAgent)
            do {
                let response = try await client.execute(request, timeout: .seconds(max(1, (deadline - ContinuousClock.now).components.seconds)))
                if (300..<400).contains(response.status.code) {
                    throw AgentError(.refused, Self.redirectMessage(base: base, status: Int(response.status.code), headers: response.headers))
                }
                if response.status == .serviceUnavailable, base != bases.last {
                    failures.append("\(base) answered 503")
                    continue
                }
                return response
            } catch let error as AgentError {
                throw error
            } catch {
                failures.append("cannot reach the signer at \(base): \(error)")
            }
        }
        throw AgentError(.unreachable, failures.joined(separator: "; "))
    }

    /// An RFC 9110 IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`.
    static func parseHTTPDate(_ text: String) -> Date? {
        let parts = text.split(separator: " ")
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard parts.count == 6, let day = Int(parts[1]), let month = months.firstIndex(of: String(parts[2])), let year = Int(parts[3]) else { return nil }
        let clock = parts[4].split(separator: ":").compactMap { Int($0) }
        guard clock.count == 3 else { return nil }
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let iso = "\(year)-\(two(month + 1))-\(two(day))T\(two(clock[0])):\(two(clock[1])):\(two(clock[2]))Z"
        return try? Date(iso, strategy: .iso8601)
    }

    /// The proxy for `url` from the usual variables, unless `no_proxy` names its host.
    static func proxy(for url: URL, environment: [String: String]) -> HTTPClient.Configuration.Proxy? {
        let host = url.host?.lowercased() ?? ""
        let noProxy = (environment["no_proxy"] ?? environment["NO_PROXY"] ?? "").split(separator: ",").map { String($0).trimmingWhitespace.lowercased() }
        for entry in noProxy where !entry.isEmpty {
            let suffix = entry.hasPrefix(".") ? String(entry.dropFirst()) : entry
            if entry == "*" || host == suffix || host.hasSuffix("." + suffix) { return nil }
        }
        let names = url.scheme == "https" ? ["https_proxy", "HTTPS_PROXY"] : ["http_proxy", "HTTP_PROXY"]
        guard let value = names.lazy.compactMap({ environment[$0] }).first(where: { !$0.isEmpty }),
              let proxy = URL(string: value.firstRange(of: "://") != nil ? value : "http://\(value)"), let proxyHost = proxy.host
        else { return nil }
        var authorization: HTTPClient.Authorization?
        if let user = proxy.user { authorization = .basic(username: user, password: proxy.password ?? "") }
        return .server(host: proxyHost, port: proxy.port ?? 3128, authorization: authorization)
    }
}

/// The agent's version, sent in the User-Agent.
public enum AgentVersion {
    public static let current = "0.1.0"
}

/// The certificate a renewal replaces, as the signer is sent it: its DER and, when the renewal
/// has a new key, the old key's signature over the new CSR.
struct Replacement: Sendable {
    let certificateDER: [UInt8]
    let proof: [UInt8]?
}
