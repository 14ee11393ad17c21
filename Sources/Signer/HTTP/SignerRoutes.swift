import ACME
import CertificateSupport
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SignerProtocol
import X509

/// The HTTP API: `POST /v1/sign`, `GET /v1/renewal-info`, health, readiness and metrics.
/// Handlers only translate between HTTP and the issuance layer, where the policy and the flow
/// live; they throw `Problem`, which `ProblemMiddleware` answers. They log with the request's
/// logger, so every line carries Hummingbird's request id.
struct SignerRoutes: Sendable {
    let issuer: Issuer
    let renewalAdvisor: RenewalAdvisor
    let authorities: [CertificateAuthority]
    let readiness: Readiness
    let metrics: SignerMetrics
    let rateLimiter: RateLimiter
    let http: SignerConfiguration.HTTPSettings

    // Both are RFC 9110 tokens written here, which HTTPField.Name accepts: never nil.
    static let labelField = HTTPField.Name(SignerAPI.labelHeader)!
    static let forwardedForField = HTTPField.Name("X-Forwarded-For")!
    static let replacesField = HTTPField.Name(SignerAPI.replacesHeader)!
    static let replacesProofField = HTTPField.Name(SignerAPI.replacesProofHeader)!

    func register(on router: Router<SignerRequestContext>) {
        router.post(RouterPath(SignerAPI.signPath)) { request, context in try await sign(request, context: context) }
        router.get(RouterPath(SignerAPI.signPath)) { request, _ -> Response in
            throw Problem(.methodNotAllowed, detail: "GET is not allowed on \(request.uri.path); POST the CSR as the body")
        }
        router.get(RouterPath(SignerAPI.renewalInfoPath)) { request, context in try await renewalInfo(request, context: context) }
        router.get(RouterPath(SignerAPI.healthPath)) { _, _ in Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ok\n"))) }
        router.get(RouterPath(SignerAPI.readinessPath)) { _, _ in try ready() }
        router.get(RouterPath(SignerAPI.metricsPath)) { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
        }
    }

    // MARK: POST /v1/sign

    func sign(_ request: Request, context: SignerRequestContext) async throws -> Response {
        let started = ContinuousClock.now
        let client = clientAddress(request, context: context)
        var labels: [Label] = []
        var zone = "-"
        var outcome = "issued"
        var names: [String] = []
        var ca = "-"
        defer {
            let elapsed = ContinuousClock.now - started
            metrics.recordIssuance(zone: zone, outcome: outcome, labels: labels, duration: elapsed)
            context.logger.info("sign request", metadata: [
                "http.client": "\(client.anonymised)",
                "signer.outcome": "\(outcome)",
                "signer.zone": "\(zone)",
                "signer.ca": "\(ca)",
                "signer.names": "\(names.joined(separator: ","))",
                "signer.labels": "\(labels.map(\.description).joined(separator: ","))",
                "signer.duration_ms": "\(TimeAmount(elapsed).nanoseconds / 1_000_000)",
            ])
        }
        do {
            if let wait = rateLimiter.admit(client.rateLimitKey) {
                throw Problem(.rateLimited, detail: "more than \(http.rateLimit.burst) requests in a burst or \(http.rateLimit.perMinute) a minute from this address; retry in \(wait) s", retryAfterSeconds: wait)
            }
            guard readiness.canTakeOrders else {
                throw Problem(.notReady, detail: "this signer cannot reach its shared state; try another signer of the zone, or again shortly (request \(context.id))", retryAfterSeconds: 5)
            }
            do {
                labels = try Label.parse(headers: request.headers[values: Self.labelField])
            } catch {
                throw Problem(.badLabel, detail: error.message)
            }
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: http.bodyLimitBytes)
            } catch is NIOTooManyBytesError {
                throw Problem(.bodyTooLarge, detail: "the body is over \(http.bodyLimitBytes) bytes; a CSR is 1-2 KiB")
            }
            let signingRequest = try parseCSR(Array(buffer: body))
            let replacing = try replacedCertificate(request.headers[values: Self.replacesField])
            let proof = try replacementProof(request.headers[values: Self.replacesProofField], replacing: replacing)
            let issued = try await issuer.sign(signingRequest, replacing: replacing, proof: proof, logger: context.logger)
            zone = issued.zone
            names = issued.names
            ca = issued.ca
            return Response(
                status: .ok, headers: [.contentType: SignerAPI.certificateChainMediaType],
                body: .init(byteBuffer: ByteBuffer(string: issued.pemChain)))
        } catch let problem as Problem {
            outcome = problem.problemType?.slug ?? "error"
            throw problem
        }
    }

    /// PEM or DER, by what the bytes are, whatever the content type says (installers send
    /// curl's form default, or PEM labelled `application/pkcs10`).
    private func parseCSR(_ bytes: [UInt8]) throws(Problem) -> SigningRequest {
        guard !bytes.isEmpty else {
            throw Problem(.badCSR, detail: "the body is empty; send the CSR, e.g. curl --data-binary @req.csr")
        }
        // The bytes say what they are: PEM armour, or a DER SEQUENCE. A Content-Type that
        // disagrees (PEM sent as application/pkcs10) is the client's slip, not a reason to refuse.
        do {
            return try SigningRequest(bytes: bytes)
        } catch let error as CertificateSupportError where error.code == .unsupportedKey || error.code == .unsupportedSignature {
            throw Problem(.keyNotAllowed, detail: error.message)
        } catch let error as CertificateSupportError {
            let hint = error.code == .badSignature ? "" : "; send a PEM CSR (-----BEGIN CERTIFICATE REQUEST-----), or DER with Content-Type: \(SignerAPI.derCSRMediaType)"
            throw Problem(.badCSR, detail: error.message + hint)
        } catch {
            throw Problem(.badCSR, detail: "the CSR cannot be read: \(error)")
        }
    }

    /// The certificate a renewal replaces: one header, base64url DER, bounded.
    private func replacedCertificate(_ values: [String]) throws(Problem) -> Certificate? {
        guard let value = values.first else { return nil }
        guard values.count == 1, value.utf8.count <= SignerAPI.replacesHeaderLimit,
              let der = Base64URL.decode(value), let certificate = try? Certificate(derEncoded: der)
        else {
            throw Problem(.badRequest, detail: "\(SignerAPI.replacesHeader) must be one base64url DER certificate of at most \(SignerAPI.replacesHeaderLimit) characters")
        }
        return certificate
    }

    /// The old key's signature over the CSR, for a renewal with a new key: one header,
    /// base64url, bounded, and only beside the certificate it is about.
    private func replacementProof(_ values: [String], replacing: Certificate?) throws(Problem) -> [UInt8]? {
        guard let value = values.first else { return nil }
        guard values.count == 1, value.utf8.count <= ReplacementProof.headerLimit, let proof = Base64URL.decode(value) else {
            throw Problem(.badRequest, detail: "\(SignerAPI.replacesProofHeader) must be one base64url signature of at most \(ReplacementProof.headerLimit) characters")
        }
        guard replacing != nil else {
            throw Problem(.badRequest, detail: "\(SignerAPI.replacesProofHeader) is a proof about the certificate in \(SignerAPI.replacesHeader), which this request does not send")
        }
        return proof
    }

    // MARK: GET /v1/renewal-info

    /// `?certificate=<base64url DER of the leaf>`: the advisor's window for it.
    func renewalInfo(_ request: Request, context: SignerRequestContext) async throws -> Response {
        let client = clientAddress(request, context: context)
        if let wait = rateLimiter.admit(client.rateLimitKey) {
            throw Problem(.rateLimited, detail: "too many requests from this address; retry in \(wait) s", retryAfterSeconds: wait)
        }
        guard let encoded = request.uri.queryParameters.get("certificate"),
              let der = Base64URL.decode(encoded) ?? Data(base64Encoded: encoded).map(Array.init),
              let certificate = try? Certificate(derEncoded: der)
        else {
            throw Problem(.badRequest, detail: "pass the leaf certificate as ?certificate=<base64url of its DER>")
        }
        let window = await renewalAdvisor.window(for: certificate, logger: context.logger)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(window))))
    }

    // MARK: Health

    private func ready() throws -> Response {
        // One registered CA is enough to issue; the others join as their CAs answer.
        let missing = readiness.missing(accountRegistered: authorities.contains { $0.account.isRegistered })
        guard missing.isEmpty else {
            throw Problem(.notReady, detail: "waiting for: \(missing.joined(separator: ", "))", retryAfterSeconds: 5)
        }
        return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ready\n")))
    }

    private func clientAddress(_ request: Request, context: SignerRequestContext) -> ClientAddress {
        ClientAddress(peer: context.peer, forwardedFor: request.headers[values: Self.forwardedForField], trustedProxies: Set(http.trustedProxies))
    }
}
