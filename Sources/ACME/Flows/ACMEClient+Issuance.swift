import Foundation
import Logging

/// What to issue: the names, the CSR that already carries them, and optional ARI/profile fields.
public struct IssuanceRequest: Sendable {
    public var dnsNames: [String]
    /// The CSR in DER, made and signed elsewhere: the key never comes near the CA client.
    public var csrDER: [UInt8]
    public var profile: String?
    /// The ARI CertID of the certificate this one replaces.
    public var replaces: String?
    /// When the CA answers `alreadyReplaced`: true orders again without `replaces` (RFC 9773
    /// §5: the certificate is still needed); false throws the CA's error instead, for a caller
    /// that must count the new certificate against a budget before it is ordered.
    public var orderAgainWhenAlreadyReplaced: Bool

    public init(dnsNames: [String], csrDER: [UInt8], profile: String? = nil, replaces: String? = nil, orderAgainWhenAlreadyReplaced: Bool = true) {
        self.dnsNames = dnsNames
        self.csrDER = csrDER
        self.profile = profile
        self.replaces = replaces
        self.orderAgainWhenAlreadyReplaced = orderAgainWhenAlreadyReplaced
    }
}

/// What an issuance produced.
public struct IssuedCertificate: Sendable {
    /// Leaf first, then the intermediates, as the CA sent them.
    public var pemChain: String
    public var orderURL: URL?
    public var certificateURL: URL
    /// The ARI CertID the order carried as `replaces`: nil when none was asked for, the CA has
    /// no ARI, or it answered `alreadyReplaced` (then the certificate counts as a new one).
    public var replaced: String?
}

extension ACMEClient {
    /// Runs a whole DNS-01 order: order, publish every pending challenge through `solver`, tell the
    /// CA, wait for validation, finalize with the CSR, download the chain. Already valid
    /// authorizations (CAs reuse them) are skipped. On failure, pending authorizations are
    /// deactivated; in every case the published values are withdrawn.
    public func issueCertificate(_ request: IssuanceRequest, solver: any DNS01Solver, deadline: ContinuousClock.Instant) async throws -> IssuedCertificate {
        let started = ContinuousClock.now
        let placed = try await placeOrder(
            identifiers: request.dnsNames.map(ACMEIdentifier.dns), profile: request.profile, replaces: request.replaces,
            orderAgainWhenAlreadyReplaced: request.orderAgainWhenAlreadyReplaced, deadline: deadline)
        var order = placed.order
        var published: [(name: String, value: String)] = []
        var pendingAuthorizations: [URL] = []
        do {
            var challenges: [(authorization: URL, challenge: ACMEChallenge)] = []
            for url in order.authorizations {
                let (authorization, _) = try await self.authorization(at: url, deadline: deadline)
                switch authorization.status {
                case .valid:
                    continue  // reused by the CA: answering its challenge again would be an error
                case .pending:
                    guard let challenge = authorization.challenges.first(where: { $0.type == "dns-01" }), let token = challenge.token else {
                        throw ACMEError(.refused, "the CA offers no dns-01 challenge for \(authorization.identifier.value)")
                    }
                    pendingAuthorizations.append(url)
                    let name = "_acme-challenge." + authorization.identifier.value
                    let value = dns01Value(token: token)
                    // Recorded before it is published: a present that fails, times out or is
                    // cancelled half-way still has its value withdrawn below.
                    published.append((name, value))
                    try await withDeadline(deadline, "the DNS-01 solver to publish \(name)") {
                        try await solver.present(name: name, value: value)
                    }
                    if challenge.status == .pending { challenges.append((url, challenge)) }
                default:
                    throw ACMEError(.refused, "authorization for \(authorization.identifier.value) is \(authorization.status.rawValue)", problem: authorization.challenges.compactMap(\.error).first)
                }
            }
            for (_, challenge) in challenges {
                _ = try await respond(to: challenge, deadline: deadline)
            }
            for url in pendingAuthorizations {
                try await waitForValidAuthorization(at: url, deadline: deadline)
            }
            pendingAuthorizations = []
            order = try await waitForOrder(order, until: [.ready, .valid], deadline: deadline)
            if order.status == .ready {
                (order, _) = try await finalize(order, csrDER: request.csrDER, deadline: deadline)
                order = try await waitForOrder(order, until: [.valid], deadline: deadline)
            }
            guard let certificateURL = order.certificate else {
                throw ACMEError(.protocolViolation, "the order is valid but names no certificate URL")
            }
            let pem = try await downloadCertificate(at: certificateURL, deadline: deadline)
            await withdraw(published, solver: solver)
            let elapsed = ContinuousClock.now - started
            logger.info("certificate issued", metadata: [
                "acme.order.url": "\(order.url?.absoluteString ?? "-")",
                "acme.names": "\(request.dnsNames.joined(separator: ","))",
                "acme.duration_ms": "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)",
            ])
            return IssuedCertificate(pemChain: pem, orderURL: order.url, certificateURL: certificateURL, replaced: placed.replaces)
        } catch {
            await abandon(pendingAuthorizations)
            await withdraw(published, solver: solver)
            throw error
        }
    }

    /// Polls an authorization until valid; `invalid` becomes `validationFailed` with the CA's reason.
    private func waitForValidAuthorization(at url: URL, deadline: ContinuousClock.Instant) async throws {
        var backoff = Backoff.polling
        while true {
            let (authorization, retryAfter) = try await self.authorization(at: url, deadline: deadline)
            switch authorization.status {
            case .valid:
                return
            case .pending, .processing:
                try await sleep(backoff.advance(), retryAfter: retryAfter, deadline: deadline, waitingFor: "validation of \(authorization.identifier.value)")
            default:
                let problem = authorization.challenges.first(where: { $0.type == "dns-01" })?.error ?? authorization.challenges.compactMap(\.error).first
                throw ACMEError(.validationFailed, "the CA could not validate \(authorization.identifier.value) (authorization \(authorization.status.rawValue))", problem: problem)
            }
        }
    }

    private func waitForOrder(_ order: ACMEOrder, until wanted: Set<ACMEStatus>, deadline: ContinuousClock.Instant) async throws -> ACMEOrder {
        var current = order
        var backoff = Backoff.polling
        var retryAfter: Date?
        while !wanted.contains(current.status) {
            switch current.status {
            case .pending, .processing, .ready:
                try await sleep(backoff.advance(), retryAfter: retryAfter, deadline: deadline, waitingFor: "the order to become \(wanted.map(\.rawValue).sorted().joined(separator: " or "))")
            default:
                throw ACMEError(.refused, "the order became \(current.status.rawValue)", problem: current.error)
            }
            guard let url = current.url else { throw ACMEError(.protocolViolation, "the order has no URL to poll") }
            (current, retryAfter) = try await self.order(at: url, deadline: deadline)
        }
        return current
    }

    /// Sleeps for the backoff step, or until the CA's Retry-After when it gave one, never past the deadline.
    private func sleep(_ step: Duration, retryAfter: Date?, deadline: ContinuousClock.Instant, waitingFor what: String) async throws {
        var wait = step
        if let retryAfter {
            let seconds = retryAfter.timeIntervalSinceNow
            wait = seconds > 0 ? .milliseconds(Int64(seconds * 1000)) : step
        }
        guard ContinuousClock.now + wait < deadline else {
            throw ACMEError(.deadlineExceeded, "the deadline passed while waiting for \(what)")
        }
        try await Task.sleep(for: wait)
    }

    /// Best effort, with a short deadline of its own: the flow has already failed.
    private func abandon(_ authorizations: [URL]) async {
        for url in authorizations {
            do {
                try await deactivateAuthorization(at: url, deadline: .now + .seconds(5))
            } catch {
                logger.debug("could not deactivate an authorization", metadata: ["acme.authz.url": "\(url)", "error": "\(error)"])
            }
        }
    }

    /// Best effort, a few seconds per value: a solver whose backend hangs (a database that is
    /// away) must not hold back a certificate that is already issued.
    private func withdraw(_ published: [(name: String, value: String)], solver: any DNS01Solver) async {
        for (name, value) in published {
            do {
                try await withDeadline(.now + .seconds(5), "the DNS-01 solver to withdraw \(name)") {
                    try await solver.cleanUp(name: name, value: value)
                }
            } catch {
                logger.info("could not withdraw a DNS-01 value", metadata: ["acme.challenge.name": "\(name)", "error": "\(error)"])
            }
        }
    }
}
