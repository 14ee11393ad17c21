import ACME
import CertificateSupport
import Foundation
import Logging
import SignerProtocol

/// Issuance, step by step: check the CSR against the zone table, wait for a permit (a zone
/// lock, or a place in the name's TXT set), order, publish the challenge in our DNS, confirm it
/// is served, let the CA validate, finalize with the install's own CSR, and return the chain.
/// Every failure becomes the `Problem` the installer is answered with; this layer knows
/// nothing of HTTP.
struct Issuer: Sendable {
    let table: ZoneTable
    let gate: any IssuanceGate
    let publisher: ChallengePublisher
    let account: AccountManager
    let deadline: Duration
    let profile: String?
    let metrics: SignerMetrics
    let logger: Logger

    /// What a successful request produced.
    struct Issued: Sendable {
        let pemChain: String
        let zone: String
        let names: [String]
    }

    /// Signs `request`, or throws `Problem`. Refusals by policy never reach the CA.
    func sign(_ request: SigningRequest, logger: Logger) async throws(Problem) -> Issued {
        let approval = try table.approve(request)
        let zone = approval.zone
        // `lock` serialises the zone; `set` lets orders share each name's TXT set up to its cap.
        let (keys, capacity) = switch zone.concurrency {
        case .lock: (["zone:\(zone.name)"], 1)
        case .set: (approval.names.map { "name:\($0)" }, zone.maximumValuesPerName)
        }
        let deadline = ContinuousClock.now + self.deadline
        let issuance = IssuanceRequest(dnsNames: approval.names, csrDER: request.derBytes, profile: profile)
        do {
            // The ACME flow stops itself at `deadline` and cleans up (withdraws its TXT value,
            // deactivates authorizations); this outer bound, a little later, only catches a wait
            // for a permit that lasts the whole deadline, or a flow that hangs regardless.
            let pem = try await withDeadline(deadline + .seconds(2), orThrow: { DeadlinePassed() }) {
                try await gate.withPermits(for: keys, capacity: capacity) {
                    metrics.orderStarted()
                    defer { metrics.orderEnded() }
                    return try await account.withAccount(deadline: deadline) { client in
                        try await client.issueCertificate(issuance, solver: publisher, deadline: deadline).pemChain
                    }
                }
            }
            if let mismatch = IssuedChainCheck.mismatch(pem: pem, request: request, names: approval.names) {
                logger.critical("the CA's certificate does not match the approved request; it is not passed on", metadata: [
                    "signer.zone": "\(zone.name)", "signer.mismatch": "\(mismatch)",
                ])
                throw Problem(.caRefused, detail: "the CA's answer does not match the request (\(mismatch)); nothing was issued to you")
            }
            return Issued(pemChain: pem, zone: zone.name, names: approval.names)
        } catch let problem as Problem {
            throw problem
        } catch {
            throw problem(for: error, logger: logger)
        }
    }

    private struct DeadlinePassed: Error {}

    /// The problem an installer gets for a failed issuance. CA problems are relayed without
    /// their free text beyond a bounded, printable excerpt: it is the CA's, not ours.
    private func problem(for error: any Error, logger: Logger) -> Problem {
        switch error {
        case is DeadlinePassed, is CancellationError:
            return Problem(.caUnavailable, detail: "the certificate was not issued within \(deadline.components.seconds) s; try again", retryAfterSeconds: 30)
        case let error as ACMEError:
            metrics.recordCAError(type: error.problem?.acmeErrorName ?? "\(error.code)")
            let retryAfter = error.retryAfter.map { max(1, Int($0.timeIntervalSinceNow.rounded(.up))) }
            let caType = error.problem.map { Self.sanitised($0.type) }
            let caDetail = error.problem?.detail.map { ": " + Self.sanitised($0, limit: 300) } ?? ""
            if error.isTransient {
                let what = error.code == .rateLimited ? "the CA rate-limited the order" : "the CA could not be reached or did not finish in time"
                return Problem(.caUnavailable, detail: "\(what)\(caDetail); try again later", caProblemType: caType, retryAfterSeconds: retryAfter ?? 30)
            }
            return Problem(.caRefused, detail: "the CA refused the order (\(error.code))\(caDetail)", caProblemType: caType)
        default:
            logger.error("issuance failed unexpectedly", metadata: ["error": "\(error)"])
            return Problem(.internalError, detail: "the signer failed while issuing; the fault is logged")
        }
    }

    /// Printable ASCII only, bounded: a CA's text must not smuggle anything into our answer.
    static func sanitised(_ text: String, limit: Int = 200) -> String {
        let printable = text.unicodeScalars.map { (0x20..<0x7F).contains($0.value) ? Character($0) : " " }
        return String(String(printable).prefix(limit))
    }
}
