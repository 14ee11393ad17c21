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
        let names = order.names.map { $0.lowercased() }.sorted()
        try ledger.record(.init(kind: .order, at: Date(), zone: order.zone, ca: authority.name, names: names, registeredDomain: order.registeredDomain, renewal: exempt))
        let issuance = IssuanceRequest(dnsNames: order.names, csrDER: order.request.derBytes, profile: authority.profile, replaces: exempt ? order.replaces : nil)
        let issued = try await client.issueCertificate(issuance, solver: publisher, deadline: order.deadline)
        let leaf = try? PEMDocument.parseMultiple(pemString: issued.pemChain).first.map { try Certificate(pemDocument: $0) }
        try ledger.record(.init(
            kind: .certificate, at: Date(), zone: order.zone, ca: authority.name, names: names, registeredDomain: order.registeredDomain,
            certificateID: leaf.flatMap { try? ARICertificateID(certificate: $0).value },
            keySHA256: leaf.flatMap { try? Self.keyHash($0.publicKey) }, notAfter: leaf?.notValidAfter,
            renewal: issued.replaced != nil))
        metrics.recordCertificate(zone: order.zone, ca: authority.name, renewal: issued.replaced != nil)
        return issued.pemChain
    }

    /// The ARI CertID to send as `replaces`, once the certificate is the requester's to replace:
    /// it is for the same names and either carries the CSR's key (a renewal keeps its key) or
    /// is one this signer issued (same CertID and key in the ledger). Anything else is refused,
    /// so no one can spend another install's replacement.
    func replacedCertificateID(_ certificate: Certificate?, request: SigningRequest, names: [String]) throws(Problem) -> String? {
        guard let certificate else { return nil }
        guard let id = try? ARICertificateID(certificate: certificate).value else {
            throw Problem(.badRequest, detail: "the certificate in \(SignerAPI.replacesHeader) has no Authority Key Identifier, so it cannot be named to the CA")
        }
        let certified = certificate.dnsNames.map { $0.lowercased() }.sorted()
        guard certified == names.map({ $0.lowercased() }).sorted() else {
            throw Problem(.replacesNotAllowed, detail: "the certificate to replace is for \(certified.joined(separator: ", ")), not for the names of this CSR")
        }
        if certificate.publicKey == request.csr.publicKey { return id }
        if let issued = ledger.certificate(withID: id), issued.names == certified,
           let presented = try? Self.keyHash(certificate.publicKey), issued.keySHA256 == presented {
            return id
        }
        throw Problem(.replacesNotAllowed, detail: "the certificate to replace has another key than the CSR and this signer did not issue it; renew with the installed key, or send no \(SignerAPI.replacesHeader)")
    }

    /// SHA-256 of the DER SubjectPublicKeyInfo, in hex.
    static func keyHash(_ key: Certificate.PublicKey) throws -> String {
        SHA256.hash(data: try key.subjectPublicKeyInfoDER()).map { String(format: "%02x", $0) }.joined()
    }
}
