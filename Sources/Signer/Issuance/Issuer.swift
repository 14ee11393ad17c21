import ACME
import CertificateSupport
import Foundation
import Logging
import SignerProtocol
import X509

/// Issuance, step by step: check the CSR against the zone table, wait for a permit (a zone
/// lock, or a place in the name's TXT set), order, publish the challenge in our DNS, confirm it
/// is served, let the CA validate, finalize with the install's own CSR, and return the chain.
/// Every failure becomes the `Problem` the installer is answered with; this layer knows
/// nothing of HTTP.
struct Issuer: Sendable {
    /// The policy, as the configuration now has it (a reload replaces it).
    let zoneTable: CurrentZoneTable
    let gate: any IssuanceGate
    let publisher: ChallengePublisher
    /// In the order requests try them; at least one.
    let authorities: [CertificateAuthority]
    /// The orders and certificates the budgets count, and renewals are checked against.
    let records: any IssuanceRecords
    let domains: RegisteredDomains
    let pauses: CAPauses
    let deadline: Duration
    let metrics: SignerMetrics
    let logger: Logger
    /// The certificates renewals are replacing right now, one request each.
    var replacementClaims = ReplacementClaims()

    /// What a successful request produced.
    struct Issued: Sendable {
        let pemChain: String
        let zone: String
        let names: [String]
        /// The CA that issued it.
        let ca: String
    }

    /// Signs `request`, or throws `Problem`. Refusals by policy or budget never reach the CA.
    /// `replacing` is the certificate a renewal replaces (the agent's `X-CSRProxy-Replaces`),
    /// `proof` the old key's signature over the CSR when the renewal has a new key.
    func sign(_ request: SigningRequest, replacing: Certificate? = nil, proof: [UInt8]? = nil, logger: Logger) async throws(Problem) -> Issued {
        let approval = try zoneTable.table.approve(request)
        let zone = approval.zone
        let provenReplacement = try await replacedCertificateID(replacing, proof: proof, request: request, names: approval.names)
        let replaces = await claimExemption(provenReplacement)
        defer { if let replaces { replacementClaims.release(replaces) } }
        let registeredDomain = domains.domain(of: approval.names[0], in: zone)
        // `lock` serialises the zone; `set` lets orders share each name's TXT set up to its cap.
        let (keys, capacity) = switch zone.concurrency {
        case .lock: (["zone:\(zone.name)"], 1)
        case .set: (approval.names.map { "name:\($0)" }, zone.maximumValuesPerName)
        }
        let deadline = ContinuousClock.now + self.deadline
        let order = Order(request: request, zone: zone.name, names: approval.names, registeredDomain: registeredDomain, replaces: replaces, deadline: deadline)
        do {
            // The ACME flow stops itself at `deadline` and cleans up (withdraws its TXT value,
            // deactivates authorizations); this outer bound, a little later, only catches a wait
            // for a permit that lasts the whole deadline, or a flow that hangs regardless.
            // Abandoned, not waited for, past it: a query to a database that went silent does
            // not end when cancelled, and the requester must have its answer.
            let (pem, ca) = try await abandoning(at: deadline + .seconds(2), orThrow: { DeadlinePassed() }, followingCancellation: true) {
                try await gate.withPermits(for: keys, capacity: capacity) {
                    metrics.orderStarted()
                    defer { metrics.orderEnded() }
                    return try await firstCAThatIssues(order, logger: logger)
                }
            }
            if let mismatch = IssuedChainCheck.mismatch(pem: pem, request: request, names: approval.names) {
                logger.critical("the CA's certificate does not match the approved request; it is not passed on", metadata: [
                    "signer.zone": "\(zone.name)", "signer.ca": "\(ca)", "signer.mismatch": "\(mismatch)",
                ])
                throw Problem(.caRefused, detail: "the CA's answer does not match the request (\(mismatch)); nothing was issued to you")
            }
            return Issued(pemChain: pem, zone: zone.name, names: approval.names, ca: ca)
        } catch let problem as Problem {
            throw problem
        } catch {
            throw problem(for: error, zone: zone.name, ca: authorities[0].name, logger: logger)
        }
    }

    /// Tries the CAs in order: one that is paused for the zone or whose budget is spent is
    /// passed over without traffic, and one that is rate-limiting, failing or unreachable hands
    /// over to the next while the deadline lasts. Returns the chain and the CA's name; when
    /// no CA issued, throws what the installer should hear (the soonest Retry-After).
    private func firstCAThatIssues(_ order: Order, logger: Logger) async throws -> (String, String) {
        var passedOver: [Problem] = []
        for authority in authorities {
            if let end = pauses.pausedUntil(zone: order.zone, ca: authority.name) {
                let seconds = max(1, Int(end.timeIntervalSinceNow.rounded(.up)))
                passedOver.append(Problem(.caRateLimited, detail: "\(authority.name) rate-limited this zone's orders; no order goes to it for \(seconds) s", retryAfterSeconds: seconds))
                continue
            }
            do {
                let pem = try await authority.account.withAccount(deadline: order.deadline) { client in
                    try await place(order, at: authority, with: client)
                }
                return (pem, authority.name)
            } catch let problem as Problem where problem.problemType == .budgetExhausted {
                passedOver.append(problem)
            } catch let error as ACMEError where Self.anotherCAMayIssue(error) {
                let problem = problem(for: error, zone: order.zone, ca: authority.name, logger: logger)
                logger.warning("the CA did not issue; trying the next one if there is one", metadata: [
                    "signer.zone": "\(order.zone)", "signer.ca": "\(authority.name)", "error": "\(error)",
                ])
                passedOver.append(problem)
            }
        }
        throw Self.soonest(passedOver)
    }

    /// Rate limits, a CA's own faults, an unreachable CA and deadlines say nothing about the
    /// request: another CA may well issue. A refusal of the request itself is final.
    static func anotherCAMayIssue(_ error: ACMEError) -> Bool {
        error.isTransient || error.problem?.acmeErrorName == "serverInternal"
    }

    /// What to answer when no CA issued: a 503 if some CA may be back soon, else the 429 that
    /// frees first; the details of every CA, so the installer's log says why.
    static func soonest(_ problems: [Problem]) -> Problem {
        guard problems.count > 1 else { return problems.first ?? Problem(.caUnavailable, detail: "no CA is configured", retryAfterSeconds: 60) }
        let unavailable = problems.filter { $0.problemType == .caUnavailable }
        let candidates = unavailable.isEmpty ? problems : unavailable
        var chosen = candidates.min { ($0.retryAfterSeconds ?? .max) < ($1.retryAfterSeconds ?? .max) } ?? problems[0]
        chosen.detail = "no CA issued: " + problems.map(\.detail).joined(separator: "; ")
        return chosen
    }

    /// One request on its way to a CA.
    struct Order: Sendable {
        let request: SigningRequest
        let zone: String
        let names: [String]
        let registeredDomain: String
        let replaces: String?
        let deadline: ContinuousClock.Instant
    }

    /// The outer bound passed (a permit that never came, a flow that hung).
    struct DeadlinePassed: Error {}
}
