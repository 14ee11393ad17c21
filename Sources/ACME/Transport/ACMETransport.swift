import Foundation
import Logging

/// Sends ACME requests: unauthenticated GETs, and JWS-signed POSTs with nonces taken from the
/// pool and `badNonce` rejections retried with the fresh nonce the rejection carries.
struct ACMETransport: Sendable {
    /// badNonce retries per request. CAs may reject valid nonces at random (pebble: 5% by
    /// default, 50% in our tests), so one retry is not enough; a bound keeps a broken CA finite.
    static let maximumBadNonceRetries = 20

    let http: any ACMEHTTPClient
    let nonces = NoncePool()
    /// The most one request may take, before the flow's deadline cuts it shorter.
    let requestTimeout: Duration
    /// The hosts a URL may name: the directory's and any configured. A URL the CA hands out is
    /// data: one on another host or scheme is refused, never fetched (nor signed for).
    let allowedHosts: Set<String>
    let logger: Logger

    func get(_ url: URL, deadline: ContinuousClock.Instant) async throws -> ACMEHTTPResponse {
        let response = try await send(ACMEHTTPRequest(method: .get, url: url), deadline: deadline)
        nonces.add(response.header("replay-nonce"))
        guard response.status < 400 else { throw Self.error(for: response, url: url) }
        return response
    }

    /// A signed POST; `payload` nil is POST-as-GET.
    func post(
        _ url: URL, payload: [UInt8]?, key: ACMEAccountKey, keyReference: JWS.KeyReference,
        newNonceURL: URL, accept: String? = nil, deadline: ContinuousClock.Instant
    ) async throws -> ACMEHTTPResponse {
        var lastProblem: ACMEProblem?
        for attempt in 0...Self.maximumBadNonceRetries {
            let nonce: String
            if let pooled = nonces.take() {
                nonce = pooled
            } else {
                nonce = try await fetchNonce(newNonceURL, deadline: deadline)
            }
            let body = try JWS.sign(payload: payload, url: url, nonce: nonce, key: key, keyReference: keyReference)
            var headers = [("Content-Type", "application/jose+json")]
            if let accept { headers.append(("Accept", accept)) }
            let response = try await send(ACMEHTTPRequest(method: .post, url: url, headers: headers, body: body), deadline: deadline)
            nonces.add(response.header("replay-nonce"))
            if response.status < 400 { return response }
            let problem = Self.problem(in: response)
            guard problem?.acmeErrorName == "badNonce" else { throw Self.error(for: response, url: url) }
            lastProblem = problem
            logger.debug("CA rejected a nonce; retrying", metadata: ["acme.url": "\(url)", "acme.attempt": "\(attempt + 1)"])
        }
        throw ACMEError(.badNonceExhausted, "the CA rejected \(Self.maximumBadNonceRetries + 1) nonces in a row for \(url)", problem: lastProblem)
    }

    private func fetchNonce(_ url: URL, deadline: ContinuousClock.Instant) async throws -> String {
        let response = try await send(ACMEHTTPRequest(method: .head, url: url), deadline: deadline)
        guard response.status < 400 else { throw Self.error(for: response, url: url) }
        guard let nonce = response.header("replay-nonce"), !nonce.isEmpty else {
            throw ACMEError(.protocolViolation, "newNonce at \(url) answered \(response.status) without a Replay-Nonce")
        }
        return nonce
    }

    /// One exchange, cut short by whichever comes first: the request timeout or the flow's deadline.
    private func send(_ request: ACMEHTTPRequest, deadline: ContinuousClock.Instant) async throws -> ACMEHTTPResponse {
        guard request.url.scheme?.lowercased() == "https", let host = request.url.host?.lowercased(), allowedHosts.contains(host) else {
            throw ACMEError(.protocolViolation, "the CA pointed at \(request.url), which is not https on \(allowedHosts.sorted().joined(separator: ", ")); not followed")
        }
        let remaining = deadline - .now
        guard remaining > .zero else {
            throw ACMEError(.deadlineExceeded, "the deadline passed before \(request.method.rawValue) \(request.url)")
        }
        do {
            let response = try await http.execute(request, timeout: min(requestTimeout, remaining))
            // Redirects are not followed (RFC 8555 has none): one is the CA's error, or someone else's.
            guard !(300..<400).contains(response.status) else {
                throw ACMEError(.protocolViolation, "the CA answered \(request.url) with a redirect (\(response.status)) to \(response.header("location") ?? "nowhere"); not followed")
            }
            return response
        } catch let error as ACMEError {
            throw error
        } catch {
            if deadline <= .now {
                throw ACMEError(.deadlineExceeded, "the deadline passed during \(request.method.rawValue) \(request.url): \(error)")
            }
            throw ACMEError(.unavailable, "the CA at \(request.url.host ?? "?") is unreachable: \(error)")
        }
    }

    static func problem(in response: ACMEHTTPResponse) -> ACMEProblem? {
        try? JSONDecoder().decode(ACMEProblem.self, from: Data(response.body))
    }

    /// Maps an error response to an `ACMEError` whose code says whether to retry.
    static func error(for response: ACMEHTTPResponse, url: URL) -> ACMEError {
        let problem = problem(in: response)
        let summary = problem.map { "\($0)" } ?? "HTTP \(response.status)"
        if response.status == 429 || problem?.acmeErrorName == "rateLimited" {
            return ACMEError(.rateLimited, "the CA rate-limited \(url): \(summary)", problem: problem, retryAfter: response.retryAfter())
        }
        if response.status >= 500 {
            return ACMEError(.unavailable, "the CA failed at \(url): \(summary)", problem: problem, retryAfter: response.retryAfter())
        }
        return ACMEError(.refused, "the CA refused \(url): \(summary)", problem: problem)
    }
}
