import ACME
import CertificateSupport
import Crypto
import Foundation
import Logging
import SignerProtocol
import SwiftASN1
import X509

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
    let budget: CertificateBudget
    let domains: RegisteredDomains
    let pauses: CAPauses
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

    /// Signs `request`, or throws `Problem`. Refusals by policy or budget never reach the CA.
    /// `replacing` is the certificate a renewal replaces (the agent's `X-CSRProxy-Replaces`).
    func sign(_ request: SigningRequest, replacing: Certificate? = nil, logger: Logger) async throws(Problem) -> Issued {
        let approval = try table.approve(request)
        let zone = approval.zone
        let replaces = try replacedCertificateID(replacing, request: request, names: approval.names)
        if let end = pauses.pausedUntil(zone: zone.name) {
            let seconds = max(1, Int(end.timeIntervalSinceNow.rounded(.up)))
            throw Problem(.caRateLimited, detail: "the CA rate-limited this zone's orders; no order goes to it for \(seconds) s", retryAfterSeconds: seconds)
        }
        let registeredDomain = domains.domain(of: approval.names[0], in: zone)
        // `lock` serialises the zone; `set` lets orders share each name's TXT set up to its cap.
        let (keys, capacity) = switch zone.concurrency {
        case .lock: (["zone:\(zone.name)"], 1)
        case .set: (approval.names.map { "name:\($0)" }, zone.maximumValuesPerName)
        }
        let deadline = ContinuousClock.now + self.deadline
        do {
            // The ACME flow stops itself at `deadline` and cleans up (withdraws its TXT value,
            // deactivates authorizations); this outer bound, a little later, only catches a wait
            // for a permit that lasts the whole deadline, or a flow that hangs regardless.
            let pem = try await withDeadline(deadline + .seconds(2), orThrow: { DeadlinePassed() }) {
                try await gate.withPermits(for: keys, capacity: capacity) {
                    metrics.orderStarted()
                    defer { metrics.orderEnded() }
                    return try await account.withAccount(deadline: deadline) { client in
                        try await order(
                            with: client, request: request, zone: zone.name, names: approval.names,
                            registeredDomain: registeredDomain, replaces: replaces, deadline: deadline)
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
            throw problem(for: error, zone: zone.name, logger: logger)
        }
    }

    /// One order, inside the budget: a renewal the CA can exempt (it has ARI, and the request
    /// names what it replaces) spends no budget; anything else reserves its place first. The
    /// order and the certificate are in the ledger before the answer leaves.
    private func order(
        with client: ACMEClient, request: SigningRequest, zone: String, names: [String], registeredDomain: String,
        replaces: String?, deadline: ContinuousClock.Instant
    ) async throws -> String {
        // Only a CA with ARI may be sent `replaces` (RFC 9773 §5), and only it exempts renewals.
        let hasARI = try await client.directory(deadline: deadline).renewalInfo != nil
        let exempt = replaces != nil && hasARI
        let reservation = exempt ? nil : try budget.reserve(names: names, registeredDomain: registeredDomain)
        defer { if let reservation { budget.release(reservation) } }
        let sortedNames = names.map { $0.lowercased() }.sorted()
        try budget.ledger.record(.init(kind: .order, at: Date(), zone: zone, names: sortedNames, registeredDomain: registeredDomain, renewal: exempt))
        let issuance = IssuanceRequest(dnsNames: names, csrDER: request.derBytes, profile: profile, replaces: exempt ? replaces : nil)
        let issued = try await client.issueCertificate(issuance, solver: publisher, deadline: deadline)
        let leaf = try? PEMDocument.parseMultiple(pemString: issued.pemChain).first.map { try Certificate(pemDocument: $0) }
        try budget.ledger.record(.init(
            kind: .certificate, at: Date(), zone: zone, names: sortedNames, registeredDomain: registeredDomain,
            certificateID: leaf.flatMap { try? ARICertificateID(certificate: $0).value },
            keySHA256: leaf.flatMap { try? Self.keyHash($0.publicKey) }, notAfter: leaf?.notValidAfter,
            renewal: issued.replaced != nil))
        return issued.pemChain
    }

    /// The ARI CertID to send as `replaces`, once the certificate is the requester's to replace:
    /// it is for the same names and either carries the CSR's key (a renewal keeps its key) or
    /// is one this signer issued (same CertID and key in the ledger). Anything else is refused,
    /// so no one can spend another install's replacement.
    private func replacedCertificateID(_ certificate: Certificate?, request: SigningRequest, names: [String]) throws(Problem) -> String? {
        guard let certificate else { return nil }
        guard let id = try? ARICertificateID(certificate: certificate).value else {
            throw Problem(.badRequest, detail: "the certificate in \(SignerAPI.replacesHeader) has no Authority Key Identifier, so it cannot be named to the CA")
        }
        let certified = certificate.dnsNames.map { $0.lowercased() }.sorted()
        guard certified == names.map({ $0.lowercased() }).sorted() else {
            throw Problem(.replacesNotAllowed, detail: "the certificate to replace is for \(certified.joined(separator: ", ")), not for the names of this CSR")
        }
        if certificate.publicKey == request.csr.publicKey { return id }
        if let issued = budget.ledger.certificate(withID: id), issued.names == certified,
           let presented = try? Self.keyHash(certificate.publicKey), issued.keySHA256 == presented {
            return id
        }
        throw Problem(.replacesNotAllowed, detail: "the certificate to replace has another key than the CSR and this signer did not issue it; renew with the installed key, or send no \(SignerAPI.replacesHeader)")
    }

    /// SHA-256 of the DER SubjectPublicKeyInfo, in hex.
    static func keyHash(_ key: Certificate.PublicKey) throws -> String {
        SHA256.hash(data: try key.subjectPublicKeyInfoDER()).map { String(format: "%02x", $0) }.joined()
    }

    private struct DeadlinePassed: Error {}

    /// The problem an installer gets for a failed issuance. CA problems are relayed without
    /// their free text beyond a bounded, printable excerpt: it is the CA's, not ours.
    private func problem(for error: any Error, zone: String, logger: Logger) -> Problem {
        switch error {
        case is DeadlinePassed, is CancellationError:
            return Problem(.caUnavailable, detail: "the certificate was not issued within \(deadline.components.seconds) s; try again", retryAfterSeconds: 30)
        case let error as ACMEError:
            metrics.recordCAError(type: error.problem?.acmeErrorName ?? "\(error.code)")
            let retryAfter = error.retryAfter.map { max(1, Int($0.timeIntervalSinceNow.rounded(.up))) }
            let caType = error.problem.map { Self.sanitised($0.type) }
            let caDetail = error.problem?.detail.map { ": " + Self.sanitised($0, limit: 300) } ?? ""
            if error.code == .rateLimited {
                // The CA's own limit: pause this zone's orders to it until it says, and relay that.
                let seconds = retryAfter ?? 60
                pauses.pause(zone: zone, until: Date().addingTimeInterval(TimeInterval(seconds)))
                return Problem(.caRateLimited, detail: "the CA rate-limited the order\(caDetail); no order goes to it for \(seconds) s", caProblemType: caType, retryAfterSeconds: seconds)
            }
            if error.isTransient {
                let what = "the CA could not be reached or did not finish in time"
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
