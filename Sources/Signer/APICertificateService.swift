import ACME
import CertificateSupport
import Crypto
import Foundation
import Logging
import ReloadableTLS
import ServiceLifecycle
import SwiftASN1
import X509

/// `http.tls = "auto"`: the signer obtains the API's own certificate through its own DNS and
/// ACME machinery, serves it, and renews it at 2/3 of its lifetime, swapping it in without a
/// restart. A publisher needs no reverse proxy and no separate certificate.
///
/// Until the first certificate arrives the API serves a short-lived self-signed one (so the
/// listener is up and `/readyz` can say what it waits for); a stored certificate is reused.
struct APICertificateService: Service {
    let name: String
    /// The zone the name is in, and the registered domain a CA counts it under.
    let zone: String
    let registeredDomain: String
    let directory: String
    let identities: TLSIdentityStore
    /// The first CA, and the issuer whose budgets and ledger every certificate goes through:
    /// the API's own is counted like any other, and renewed with `replaces` like any other.
    let authority: CertificateAuthority
    let issuer: Issuer
    let readiness: Readiness
    let deadline: Duration
    let logger: Logger

    var keyPath: String { "\(directory)/key.pem" }
    var chainPath: String { "\(directory)/fullchain.pem" }

    /// The identity to start with: the stored pair when it loads, else a placeholder.
    static func initialIdentity(name: String, directory: String, logger: Logger) throws -> TLSIdentity {
        if let stored = try? TLSIdentity(certificateChainPath: "\(directory)/fullchain.pem", privateKeyPath: "\(directory)/key.pem") {
            return stored
        }
        logger.info("no API certificate stored yet; serving a temporary self-signed one until the CA issues it", metadata: ["signer.api.name": "\(name)"])
        return try placeholder(for: name)
    }

    func run() async throws {
        var backoff = Backoff(first: .seconds(5), ceiling: .seconds(3600))
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let current = identities.current.leaf
            let renewAt = RenewalSchedule.window(notBefore: current.notValidBefore, notAfter: current.notValidAfter).start
            if !Self.isPlaceholder(current), renewAt > Date() {
                readiness.apiCertificateReady()
                // Wake at least twice a day, so a changed clock or a replaced file is noticed.
                let wait = min(renewAt.timeIntervalSinceNow, 12 * 3600)
                await sleepUnlessShuttingDown(for: .seconds(wait))
                continue
            }
            do {
                try await readiness.waitForDNS()
                // A stop cancels an order in progress (the flow withdraws its TXT value) rather
                // than waiting out the issuance deadline.
                try await cancelWhenGracefulShutdown { try await self.obtain() }
                readiness.apiCertificateReady()
                backoff.reset()
            } catch where Task.isShuttingDownGracefully || Task.isCancelled {
                break
            } catch {
                let wait = backoff.advance()
                logger.warning("could not obtain the API certificate; retrying", metadata: ["signer.api.name": "\(name)", "error": "\(error)", "retry_in_s": "\(wait.components.seconds)"])
                await sleepUnlessShuttingDown(for: wait)
            }
        }
    }

    /// Orders a certificate for the API's name with the stored key (a new one the first time),
    /// checks the pair, stores it atomically and puts it into service.
    private func obtain() async throws {
        let key: Certificate.PrivateKey
        if let stored = try? String(decoding: SecureFile.read(keyPath), as: UTF8.self), let parsed = try? Certificate.PrivateKey(pemEncoded: stored) {
            key = parsed
        } else {
            key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        }
        let request = try SigningRequest(bytes: try SigningRequest.build(dnsNames: [name], key: key))
        let deadline = ContinuousClock.now + self.deadline
        // The certificate in service, when this renews it with the same key: exempt once.
        let current = identities.current.leaf
        let renewing = !Self.isPlaceholder(current) && current.publicKey == key.publicKey ? try? ARICertificateID(certificate: current).value : nil
        let replaces = await issuer.claimExemption(renewing)
        defer { if let replaces { issuer.replacementClaims.release(replaces) } }
        let order = Issuer.Order(request: request, zone: zone, names: [name], registeredDomain: registeredDomain, replaces: replaces, deadline: deadline)
        let pemChain = try await authority.account.withAccount(deadline: deadline) { client in
            try await issuer.place(order, at: authority, with: client)
        }
        let keyPEM = try key.serializeAsPEM().pemString + "\n"
        let identity = try TLSIdentity(certificateChainPEM: pemChain, privateKeyPEM: keyPEM)
        try SecureFile.write(Array(keyPEM.utf8), to: keyPath)
        try SecureFile.write(Array(pemChain.utf8), to: chainPath, mode: 0o644)
        identities.replace(with: identity)
        logger.info("API certificate in service", metadata: ["signer.api.name": "\(name)", "signer.api.certificate": "\(identity.summary)"])
    }

    static func isPlaceholder(_ certificate: Certificate) -> Bool {
        certificate.issuer == certificate.subject
    }

    /// A self-signed certificate for `name`, valid for a day, for the minutes before the real one.
    static func placeholder(for name: String) throws -> TLSIdentity {
        let key = P256.Signing.PrivateKey()
        let certificate = try Certificate.selfSigned(names: [name], key: .init(key), lifetime: 86_400, backdate: 60)
        return try TLSIdentity(
            certificateChainPEM: try certificate.serializeAsPEM().pemString + "\n",
            privateKeyPEM: key.pemRepresentation)
    }
}
