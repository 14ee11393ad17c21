import Crypto
import CertificateSupport
import Foundation
import SwiftASN1
import X509

/// Certificates and CSRs made in tests with swift-certificates.
public enum TestCertificates {
    /// A throwaway CA and a server certificate for `localhost` and 127.0.0.1 it signed: what
    /// pebble's TLS listener needs. Returns PEM texts.
    public static func localhostServerIdentity() throws -> (caPEM: String, certificatePEM: String, keyPEM: String) {
        let caKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName { CommonName("CSRProxy test TLS CA") }
        let now = Date()
        let ca = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey),
            notValidBefore: now - 3600, notValidAfter: now + 86400, issuer: caName, subject: caName,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true))
            },
            issuerPrivateKey: .init(caKey))
        let serverKey = P256.Signing.PrivateKey()
        let server = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(serverKey.publicKey),
            notValidBefore: now - 3600, notValidAfter: now + 86400, issuer: caName,
            subject: try DistinguishedName { CommonName("localhost") },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                SubjectAlternativeNames([.dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))])
                try ExtendedKeyUsage([.serverAuth])
            },
            issuerPrivateKey: .init(caKey))
        return (try ca.serializeAsPEM().pemString, try server.serializeAsPEM().pemString, serverKey.pemRepresentation)
    }

    /// A CSR for `names` (CN is the first), signed by `key`, in DER.
    public static func csr(for names: [String], key: Certificate.PrivateKey) throws -> [UInt8] {
        try SigningRequest.build(dnsNames: names, key: key)
    }

    /// A CSR with any subject, SAN entries (nil: no SAN extension at all) and further extensions,
    /// for policy tests; signed by `key`, in DER.
    public static func csr(
        subject: DistinguishedName, subjectAlternativeNames: [GeneralName]?, extraExtensions: [Certificate.Extension] = [],
        key: Certificate.PrivateKey
    ) throws -> [UInt8] {
        var extensions = Certificate.Extensions()
        if let subjectAlternativeNames { try extensions.append(Certificate.Extension(SubjectAlternativeNames(subjectAlternativeNames), critical: false)) }
        for item in extraExtensions { try extensions.append(item) }
        let attributes = extensions.isEmpty ? CertificateSigningRequest.Attributes() : CertificateSigningRequest.Attributes([try .init(ExtensionRequest(extensions: extensions))])
        let csr = try CertificateSigningRequest(
            version: .v1, subject: subject, privateKey: key, attributes: attributes,
            signatureAlgorithm: key.publicKey.description.hasPrefix("RSA") ? .sha256WithRSAEncryption : .ecdsaWithSHA256)
        var serializer = DER.Serializer()
        try serializer.serialize(csr)
        return serializer.serializedBytes
    }

    /// DER to PEM with the given label.
    public static func pem(_ der: [UInt8], label: String = "CERTIFICATE REQUEST") -> String {
        PEMDocument(type: label, derBytes: der).pemString + "\n"
    }

    /// The certificates in a PEM chain, leaf first.
    public static func chain(fromPEM pem: String) throws -> [Certificate] {
        try PEMDocument.parseMultiple(pemString: pem).map { try Certificate(pemDocument: $0) }
    }

    /// Verifies `chain` (leaf first) up to `rootPEM` with RFC 5280 rules, now.
    public static func verify(chain: [Certificate], rootPEM: String) async throws -> Bool {
        let roots = try PEMDocument.parseMultiple(pemString: rootPEM).map { try Certificate(pemDocument: $0) }
        var verifier = Verifier(rootCertificates: CertificateStore(roots)) { RFC5280Policy() }
        let result = await verifier.validate(leaf: chain[0], intermediates: CertificateStore(chain.dropFirst()))
        if case .validCertificate = result { return true }
        return false
    }
}
