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
    /// The extensions requested through the PKCS#9 extensionRequest attribute. Read when the CSR
    /// is: one that cannot be read refuses the CSR, so it can hide nothing (a SAN, `CA:TRUE`)
    /// from the policy.
    public let requestedExtensions: [Certificate.Extension]
    private let subjectAlternativeNames: [GeneralName]

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
        if let algorithm = Self.describeWeakSignature(csrDER: der) {
            throw CertificateSupportError(.unsupportedSignature, "the CSR is signed with \(algorithm); sign it with SHA-256 or stronger (openssl req -sha256)")
        }
        let csr: CertificateSigningRequest
        do {
            csr = try CertificateSigningRequest(derEncoded: der)
        } catch {
            if let key = Self.describeRefusedKey(csrDER: der) {
                throw CertificateSupportError(.unsupportedKey, "the CSR carries \(key); use ECDSA P-256 or P-384, or RSA of 2048 to 4096 bits")
            }
            throw CertificateSupportError(.unreadable, "the CSR does not parse as PKCS#10 (\(Self.reason(error)))")
        }
        self.csr = csr
        derBytes = der
        guard csr.publicKey.isValidSignature(csr.signature, for: csr) else {
            throw CertificateSupportError(.badSignature, "the CSR's signature does not verify with its own public key")
        }
        do {
            let request = try csr.attributes.extensionRequest
            requestedExtensions = request.map { Array($0.extensions) } ?? []
            subjectAlternativeNames = try request.flatMap { try $0.extensions.subjectAlternativeNames }.map(Array.init) ?? []
        } catch {
            throw CertificateSupportError(.unreadable, "the CSR's extension request cannot be read (\(Self.reason(error))); request at most a subjectAltName and the usual server extensions, each once")
        }
    }

    /// An error of the ASN.1 or X.509 library, for a person: its reason without the source
    /// file and line the library records.
    static func reason(_ error: any Error) -> String {
        // swift-asn1 and swift-certificates end their descriptions with " File.swift:LINE".
        var words = "\(error)".split(separator: " ", omittingEmptySubsequences: false)
        if let last = words.last, last.contains(".swift:") { words.removeLast() }
        return words.joined(separator: " ")
    }

    /// Reads PEM when the bytes look like PEM, DER otherwise.
    public init(bytes: [UInt8]) throws {
        if bytes.first == 0x30 {
            try self.init(der: bytes)
        } else {
            try self.init(pem: String(decoding: bytes, as: UTF8.self))
        }
    }

    /// The subjectAltName dNSName entries exactly as written; `DNSNameSyntax` says whether
    /// each is in the canonical form the CA will accept.
    public var dnsNames: [String] {
        subjectAlternativeNames.compactMap {
            guard case .dnsName(let name) = $0 else { return nil }
            return name
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

    /// The subject's CN values, exactly as written.
    public var commonNames: [String] {
        csr.subject.flatMap { rdn in
            rdn.filter { $0.type == .RDNAttributeType.commonName }.compactMap { String($0.value) }
        }
    }

    /// The whole DER SubjectPublicKeyInfo: the key's identity, for per-install names and fingerprints.
    public func subjectPublicKeyInfoDER() throws -> [UInt8] {
        try csr.publicKey.subjectPublicKeyInfoDER()
    }

    public var keyKind: KeyKind { KeyKind(csr.publicKey) }

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

    public var isRSA: Bool {
        if case .rsa = self { true } else { false }
    }

    /// What a key of this kind signs our CSRs and self-signed certificates with.
    public var signatureAlgorithm: Certificate.SignatureAlgorithm {
        isRSA ? .sha256WithRSAEncryption : .ecdsaWithSHA256
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

