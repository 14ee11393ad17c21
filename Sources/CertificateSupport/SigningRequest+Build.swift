import SwiftASN1
import X509

extension SigningRequest {
    /// Builds and signs a CSR for `dnsNames` (the first is also the CN, as browsers ignore the
    /// CN but some tools still show it), in DER. Only the CSR ever leaves the machine; `key` stays.
    public static func build(dnsNames: [String], key: Certificate.PrivateKey) throws -> [UInt8] {
        guard let first = dnsNames.first else {
            throw CertificateSupportError(.unreadable, "a CSR needs at least one DNS name")
        }
        let request = try CertificateSigningRequest(
            version: .v1, subject: try DistinguishedName { CommonName(first) }, privateKey: key,
            attributes: CertificateSigningRequest.Attributes([
                try .init(ExtensionRequest(extensions: Certificate.Extensions { SubjectAlternativeNames(dnsNames.map { .dnsName($0) }) })),
            ]),
            signatureAlgorithm: KeyKind(key.publicKey).signatureAlgorithm)
        var serializer = DER.Serializer()
        try serializer.serialize(request)
        return serializer.serializedBytes
    }
}
