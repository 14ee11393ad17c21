import Crypto
import X509

/// How a renewal with a new key (`--rotate-key`) proves that the certificate it replaces is its
/// own. With the same key the CSR is the proof (only the key's holder can sign it); with a new
/// key the CSR proves nothing of the old one, so the agent signs the new CSR with the old key
/// and sends that signature beside the certificate, in `X-CSRProxy-Replaces-Proof`.
///
/// - What is signed: the bytes of `context` followed by the new CSR's DER, exactly as the
///   signer receives it (a PEM body is decoded to DER first). The CSR names the new key and the
///   names, so a proof is good for that one request; the context keeps the signature from being
///   read as anything else (no CSR, certificate or JWS starts with these bytes).
/// - How: by the old key's kind, never by anything the requester says: ECDSA P-256 with
///   SHA-256, P-384 with SHA-384 (both DER-encoded ECDSA-Sig-Value), RSA with PKCS #1 v1.5 and
///   SHA-256. Other kinds of key cannot prove anything and are refused.
/// - Sent as base64url without padding.
public enum ReplacementProof {
    public static let context: [UInt8] = Array("CSRProxy replaces-proof v1\u{0}".utf8)
    /// The longest proof read: an RSA-4096 signature is 512 bytes, 683 characters in base64url.
    public static let headerLimit = 1024

    /// The old key's signature over `csrDER`, the new CSR.
    public static func sign(csrDER: [UInt8], with oldKey: Certificate.PrivateKey) throws -> [UInt8] {
        guard let algorithm = algorithm(for: oldKey.publicKey) else {
            throw CertificateSupportError(.unsupportedKey, "a \(KeyKind(oldKey.publicKey)) key cannot sign a replacement proof")
        }
        return try oldKey.sign(bytes: context + csrDER, signatureAlgorithm: algorithm).rawRepresentation
    }

    /// Whether `proof` is `oldKey`'s signature over `csrDER`.
    public static func isValid(_ proof: [UInt8], csrDER: [UInt8], oldKey: Certificate.PublicKey) -> Bool {
        guard let algorithm = algorithm(for: oldKey) else { return false }
        return oldKey.isValidSignature(proof, for: context + csrDER, signatureAlgorithm: algorithm)
    }

    static func algorithm(for key: Certificate.PublicKey) -> Certificate.SignatureAlgorithm? {
        switch KeyKind(key) {
        case .p256: .ecdsaWithSHA256
        case .p384: .ecdsaWithSHA384
        case .rsa: .sha256WithRSAEncryption
        case .other: nil
        }
    }
}
