import ACME
import CertificateSupport
import Crypto
import Foundation
import SignerProtocol
import SwiftASN1
import X509

extension Issuer {
    /// One order at one CA, inside its budget: a renewal the CA can exempt (it has ARI, and the
    /// request names what it replaces) spends no budget; anything else reserves its place first
    /// (or throws `budget-exhausted`). The order and the certificate are in the ledger before
    /// the answer leaves.
    func place(_ order: Order, at authority: CertificateAuthority, with client: ACMEClient) async throws -> String {
        // Only a CA with ARI may be sent `replaces` (RFC 9773 §5), and only it exempts renewals.
        let hasARI = try await client.directory(deadline: order.deadline).renewalInfo != nil
        let exempt = order.replaces != nil && hasARI
        let budget = authority.budget
        let reservation = exempt ? nil : try budget.reserve(names: order.names, registeredDomain: order.registeredDomain)
        defer { if let reservation { budget.release(reservation) } }
        // A cluster's budget is checked across every node, in the shared ledger.
        let sharedReservation = exempt ? nil : try await sharedLedger?.reserve(
            ca: authority.name, limits: budget.limits, names: order.names, zone: order.zone, registeredDomain: order.registeredDomain)
        do {
            let chain = try await placeWithinBudget(order, at: authority, with: client, exempt: exempt)
            if let sharedReservation { await sharedLedger?.release(sharedReservation) }
            return chain
        } catch {
            if let sharedReservation { await sharedLedger?.release(sharedReservation) }
            throw error
        }
    }

    private func placeWithinBudget(_ order: Order, at authority: CertificateAuthority, with client: ACMEClient, exempt: Bool) async throws -> String {
        let names = order.names.map { $0.lowercased() }.sorted()
        let placed = IssuanceLedger.Entry(kind: .order, at: Date(), zone: order.zone, ca: authority.name, names: names, registeredDomain: order.registeredDomain, renewal: exempt)
        try ledger.record(placed)
        try await sharedLedger?.record(placed)
        let issuance = IssuanceRequest(dnsNames: order.names, csrDER: order.request.derBytes, profile: authority.profile, replaces: exempt ? order.replaces : nil)
        let issued = try await client.issueCertificate(issuance, solver: publisher, deadline: order.deadline)
        let leaf = try? PEMDocument.parseMultiple(pemString: issued.pemChain).first.map { try Certificate(pemDocument: $0) }
        let certificate = IssuanceLedger.Entry(
            kind: .certificate, at: Date(), zone: order.zone, ca: authority.name, names: names, registeredDomain: order.registeredDomain,
            certificateID: leaf.flatMap { try? ARICertificateID(certificate: $0).value },
            keySHA256: leaf.flatMap { try? Self.keyHash($0.publicKey) }, notAfter: leaf?.notValidAfter,
            renewal: issued.replaced != nil)
        try ledger.record(certificate)
        try await sharedLedger?.record(certificate)
        metrics.recordCertificate(zone: order.zone, ca: authority.name, renewal: issued.replaced != nil)
        return issued.pemChain
    }

    /// The ARI CertID to send as `replaces`, once the certificate is the requester's to replace:
    /// it is for the same names and either carries the CSR's key (a renewal keeps its key) or
    /// is one this signer issued (same CertID and key in the ledger). Anything else is refused,
    /// so no one can spend another install's replacement.
    func replacedCertificateID(_ certificate: Certificate?, request: SigningRequest, names: [String]) async throws(Problem) -> String? {
        guard let certificate else { return nil }
        guard let id = try? ARICertificateID(certificate: certificate).value else {
            throw Problem(.badRequest, detail: "the certificate in \(SignerAPI.replacesHeader) has no Authority Key Identifier, so it cannot be named to the CA")
        }
        let certified = certificate.dnsNames.map { $0.lowercased() }.sorted()
        guard certified == names.map({ $0.lowercased() }).sorted() else {
            throw Problem(.replacesNotAllowed, detail: "the certificate to replace is for \(certified.joined(separator: ", ")), not for the names of this CSR")
        }
        if certificate.publicKey == request.csr.publicKey { return id }
        let presented = try? Self.keyHash(certificate.publicKey)
        if let issued = ledger.certificate(withID: id), issued.names == certified, presented != nil, issued.keySHA256 == presented {
            return id
        }
        // Another node of the cluster may have issued it.
        if let issued = await sharedLedger?.certificate(withID: id), issued.names == certified, presented != nil, issued.keySHA256 == presented {
            return id
        }
        throw Problem(.replacesNotAllowed, detail: "the certificate to replace has another key than the CSR and this signer did not issue it; renew with the installed key, or send no \(SignerAPI.replacesHeader)")
    }

    /// SHA-256 of the DER SubjectPublicKeyInfo, in hex.
    static func keyHash(_ key: Certificate.PublicKey) throws -> String {
        SHA256.hash(data: try key.subjectPublicKeyInfoDER()).map { String(format: "%02x", $0) }.joined()
    }
}
