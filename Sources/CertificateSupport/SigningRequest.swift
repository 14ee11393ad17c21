import _CryptoExtras
import Crypto
import SwiftASN1
import X509

/// A CSR read from PEM or DER whose self-signature verified, with the facts a policy needs.
///
/// Parsing and signature checks are swift-certificates'; this type only gathers what they
/// found into plain values: names, key, signature algorithm, requested extensions.
public struct SigningRequest: Sendable {
    public let csr: CertificateSigningRequest
    /// The CSR exactly as received, in DER: this is what goes to the CA.
    public let derBytes: [UInt8]

    /// Reads a PEM CSR (`-----BEGIN CERTIFICATE REQUEST-----`, or the older `NEW CERTIFICATE REQUEST`).
    public init(pem: String) throws {
        let document: PEMDocument
        do {
            document = try PEMDocument(pemString: pem.replacing("NEW CERTIFICATE REQUEST", with: "CERTIFICATE REQUEST"))
        } catch {
            throw CertificateSupportError(.unreadable, "the body is not a PEM document (\(error))")
        }
        guard document.discriminator == "CERTIFICATE REQUEST" else {
            throw CertificateSupportError(.unreadable, "the PEM block is a \(document.discriminator), not a CERTIFICATE REQUEST")
        }
        try self.init(der: document.derBytes)
    }

    /// Reads a DER CSR (`application/pkcs10`).
    public init(der: [UInt8]) throws {
        do {
            csr = try CertificateSigningRequest(derEncoded: der)
        } catch {
            if let key = Self.describeRefusedKey(csrDER: der) {
                throw CertificateSupportError(.unsupportedKey, "the CSR carries \(key); use ECDSA P-256 or P-384, or RSA of 2048 to 4096 bits")
            }
            throw CertificateSupportError(.unreadable, "the CSR does not parse as PKCS#10 (\(error))")
        }
        derBytes = der
        guard csr.publicKey.isValidSignature(csr.signature, for: csr) else {
            throw CertificateSupportError(.badSignature, "the CSR's signature does not verify with its own public key")
        }
    }

    /// Reads PEM when the bytes look like PEM, DER otherwise.
    public init(bytes: [UInt8]) throws {
        if bytes.first == 0x30 {
            try self.init(der: bytes)
        } else {
            try self.init(pem: String(decoding: bytes, as: UTF8.self))
        }
    }

    /// The subjectAltName dNSName entries, lowercased, without a trailing dot.
    public var dnsNames: [String] {
        subjectAlternativeNames.compactMap {
            guard case .dnsName(let name) = $0 else { return nil }
            return Self.normalised(name)
        }
    }

    /// SAN entries of other kinds (IP addresses, e-mail, URIs...), described for an error message.
    public var otherSubjectAlternativeNames: [String] {
        subjectAlternativeNames.compactMap {
            if case .dnsName = $0 { return nil }
            return "\($0)"
        }
    }

    /// Whether the CSR requests a subjectAltName extension at all.
    public var hasSubjectAlternativeNameExtension: Bool {
        requestedExtensions.contains { $0.oid == .X509ExtensionID.subjectAlternativeName }
    }

    /// The subject's CN values, normalised like `dnsNames`.
    public var commonNames: [String] {
        csr.subject.flatMap { rdn in
            rdn.filter { $0.type == .RDNAttributeType.commonName }.compactMap { String($0.value).map(Self.normalised) }
        }
    }

    /// The DER SubjectPublicKeyInfo: the key's identity, for per-install names and fingerprints.
    public var subjectPublicKeyInfoDER: [UInt8] {
        Array(csr.publicKey.subjectPublicKeyInfoBytes)
    }

    public var keyKind: KeyKind { KeyKind(csr.publicKey) }

    /// The extensions requested through the PKCS#9 extensionRequest attribute.
    public var requestedExtensions: [Certificate.Extension] {
        guard let request = try? csr.attributes.extensionRequest else { return [] }
        return Array(request.extensions)
    }

    private var subjectAlternativeNames: [GeneralName] {
        guard let request = try? csr.attributes.extensionRequest,
              let names = try? request.extensions.subjectAlternativeNames
        else { return [] }
        return Array(names)
    }

    static func normalised(_ name: String) -> String {
        var name = name.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        return name
    }
}

/// The kind and size of a public key, as policies and status lines name it.
public enum KeyKind: Sendable, Hashable, CustomStringConvertible {
    case rsa(bits: Int)
    case p256
    case p384
    case other(String)

    public init(_ key: Certificate.PublicKey) {
        if P256.Signing.PublicKey(key) != nil {
            self = .p256
        } else if P384.Signing.PublicKey(key) != nil {
            self = .p384
        } else if let rsa = _RSA.Signing.PublicKey(key) {
            self = .rsa(bits: rsa.keySizeInBits)
        } else {
            self = .other("\(key)")
        }
    }

    public var description: String {
        switch self {
        case .rsa(let bits): "RSA-\(bits)"
        case .p256: "ECDSA P-256"
        case .p384: "ECDSA P-384"
        case .other(let text): text
        }
    }
}
