import ACME
import CertificateSupport
import Crypto
import Foundation
import SignerProtocol
import SwiftASN1
import X509

extension Issuer {
    /// One order at one CA, inside its budget. A renewal the CA can exempt (it has ARI, and the
    /// request proved the certificate it replaces is its own) spends no budget; anything else
    /// reserves its place first (or throws `budget-exhausted`). When the CA answers that the
    /// certificate was replaced already, the renewal is a new certificate and takes the same
    /// way as one. The order and the certificate are in the ledger before the answer leaves.
    func place(_ order: Order, at authority: CertificateAuthority, with client: ACMEClient) async throws -> String {
        // Only a CA with ARI may be sent `replaces` (RFC 9773 §5), and only it exempts renewals.
        if order.replaces != nil, try await client.directory(deadline: order.deadline).renewalInfo != nil {
            do {
                try await records.recordOrder(Self.placed(order, at: authority, renewal: true))
                return try await issue(order, at: authority, with: client, exempt: true, releasing: nil)
            } catch let error as ACMEError where error.isAlreadyReplaced {
                logger.notice("the CA says the certificate was replaced already: this renewal counts as a new certificate", metadata: [
                    "signer.zone": "\(order.zone)", "signer.ca": "\(authority.name)", "acme.replaces": "\(order.replaces ?? "")",
                ])
            }
        }
        let reservation = try await records.reserve(order, at: authority, placing: Self.placed(order, at: authority, renewal: false))
        do {
            return try await issue(order, at: authority, with: client, exempt: false, releasing: reservation)
        } catch {
            await records.release(reservation)
            throw error
        }
    }

    /// The ledger's entry for an order about to go to the CA.
    private static func placed(_ order: Order, at authority: CertificateAuthority, renewal: Bool) -> IssuanceLedger.Entry {
        IssuanceLedger.Entry(
            kind: .order, at: Date(), zone: order.zone, ca: authority.name, names: order.names.map { $0.lowercased() }.sorted(),
            registeredDomain: order.registeredDomain, renewal: renewal)
    }

    /// The order at the CA, recorded already; the certificate is recorded before it is returned
    /// (ending `reservation` with it), and from then on nothing here throws.
    private func issue(
        _ order: Order, at authority: CertificateAuthority, with client: ACMEClient, exempt: Bool, releasing reservation: BudgetReservation?
    ) async throws -> String {
        let names = order.names.map { $0.lowercased() }.sorted()
        // The client must not order again by itself after `alreadyReplaced`: that order is a
        // new certificate, which `place` counts first.
        let issuance = IssuanceRequest(
            dnsNames: order.names, csrDER: order.request.derBytes, profile: authority.profile,
            replaces: exempt ? order.replaces : nil, orderAgainWhenAlreadyReplaced: false)
        let issued = try await client.issueCertificate(issuance, solver: publisher, deadline: order.deadline)
        let leaf = try? PEMDocument.parseMultiple(pemString: issued.pemChain).first.map { try Certificate(pemDocument: $0) }
        let certificate = IssuanceLedger.Entry(
            kind: .certificate, at: Date(), zone: order.zone, ca: authority.name, names: names, registeredDomain: order.registeredDomain,
            certificateID: leaf.flatMap { try? ARICertificateID(certificate: $0).value },
            keySHA256: leaf.flatMap { try? Self.keyHash($0.publicKey) }, notAfter: leaf?.notValidAfter,
            renewal: issued.replaced != nil, replaced: issued.replaced)
        // The certificate is issued: from here nothing may keep it from its requester.
        await records.recordIssued(certificate, releasing: reservation)
        metrics.recordCertificate(zone: order.zone, ca: authority.name, renewal: issued.replaced != nil)
        return issued.pemChain
    }

    /// The ARI CertID a renewal may send as `replaces`, when the request proves the certificate
    /// in `X-CSRProxy-Replaces` is its own. Two proofs, both required:
    /// - possession: the certificate carries the CSR's key (a CSR is signed by its key, so only
    ///   the key's holder can send one), or, for a renewal with a new key, `proof` is the
    ///   certificate key's signature over this CSR (`ReplacementProof`). Anything else is
    ///   refused: 403 `replaces-not-allowed`, before any CA traffic.
    /// - provenance: this signer or its cluster issued exactly that certificate (its CertID and
    ///   key hash are in the ledger). A certificate the requester made itself is not, and
    ///   neither is one whose record is gone: then the request is a new certificate, counted
    ///   against the budgets like any other (nil).
    /// Names must match the CSR's; a certificate without an Authority Key Identifier is 400.
    func replacedCertificateID(_ certificate: Certificate?, proof: [UInt8]? = nil, request: SigningRequest, names: [String]) async throws(Problem) -> String? {
        guard let certificate else { return nil }
        guard let id = try? ARICertificateID(certificate: certificate).value else {
            throw Problem(.badRequest, detail: "the certificate in \(SignerAPI.replacesHeader) has no Authority Key Identifier, so it cannot be named to the CA")
        }
        let certified = certificate.dnsNames.map { $0.lowercased() }.sorted()
        guard certified == names.map({ $0.lowercased() }).sorted() else {
            throw Problem(.replacesNotAllowed, detail: "the certificate to replace is for \(certified.joined(separator: ", ")), not for the names of this CSR")
        }
        if let proof {
            guard ReplacementProof.isValid(proof, csrDER: request.derBytes, oldKey: certificate.publicKey) else {
                throw Problem(.replacesNotAllowed, detail: "\(SignerAPI.replacesProofHeader) is not a signature over this CSR by the key of the certificate to replace, so this request does not prove it is yours")
            }
        } else if certificate.publicKey != request.csr.publicKey {
            throw Problem(.replacesNotAllowed, detail: "the certificate to replace has another key than the CSR, so this request does not prove it is yours; renew with the installed key, sign the CSR with it in \(SignerAPI.replacesProofHeader), or send no \(SignerAPI.replacesHeader)")
        }
        let presented = try? Self.keyHash(certificate.publicKey)
        if let issued = await records.certificate(withID: id), issued.names == certified, presented != nil, issued.keySHA256 == presented {
            return id
        }
        logger.notice("a renewal named a certificate this signer did not issue: it counts as a new certificate", metadata: ["acme.replaces": "\(id)"])
        return nil
    }

    /// `id` when this request may be the one exempt renewal of that certificate: no other
    /// request is using it now (a claim on this node) and no renewal has replaced it before
    /// (the ledger, looked at after the claim so a renewal that just finished is seen). The
    /// caller releases the claim. Across nodes, the CA's `alreadyReplaced` is the last word,
    /// and `place` counts what it says.
    func claimExemption(_ id: String?) async -> String? {
        guard let id else { return nil }
        guard replacementClaims.claim(id) else {
            logger.notice("another request is renewing the same certificate: this one counts as a new certificate", metadata: ["acme.replaces": "\(id)"])
            return nil
        }
        guard await !records.hasReplaced(id) else {
            replacementClaims.release(id)
            logger.notice("the certificate was replaced before: this renewal counts as a new certificate", metadata: ["acme.replaces": "\(id)"])
            return nil
        }
        return id
    }

    /// SHA-256 of the DER SubjectPublicKeyInfo, in hex.
    static func keyHash(_ key: Certificate.PublicKey) throws -> String {
        SHA256.hash(data: try key.subjectPublicKeyInfoDER()).map { String(format: "%02x", $0) }.joined()
    }
}
