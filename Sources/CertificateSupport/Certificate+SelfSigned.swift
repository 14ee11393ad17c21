#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import X509

extension Certificate {
    /// A self-signed certificate for `names` (the first is also the CN), for the minutes or
    /// days before a CA's certificate arrives: the agent's `--fallback self-signed` and the
    /// signer's API placeholder. It starts `backdate` before now, so a peer whose clock is a
    /// little behind still takes it, and lasts `lifetime`.
    package static func selfSigned(
        names: [String], key: Certificate.PrivateKey, lifetime: TimeInterval, backdate: TimeInterval = 300
    ) throws -> Certificate {
        guard let first = names.first else {
            throw CertificateSupportError(.unreadable, "a self-signed certificate needs at least one name")
        }
        let subject = try DistinguishedName { CommonName(first) }
        let now = Date()
        return try Certificate(
            version: .v3, serialNumber: .init(), publicKey: key.publicKey,
            notValidBefore: now.addingTimeInterval(-backdate), notValidAfter: now.addingTimeInterval(lifetime),
            issuer: subject, subject: subject,
            signatureAlgorithm: KeyKind(key.publicKey).signatureAlgorithm,
            extensions: try Certificate.Extensions { SubjectAlternativeNames(names.map { .dnsName($0) }) },
            issuerPrivateKey: key)
    }
}
