import _CryptoExtras
import Crypto
import SwiftASN1
import X509

/// The kinds of private key an install may have: ECDSA P-256 (the default: small, fast, what
/// every browser takes) or RSA of 2048, 3072 or 4096 bits (`openssl req -newkey rsa:4096` is a common installer default).
public enum KeyType: String, Sendable, CaseIterable, CustomStringConvertible {
    case p256
    case rsa2048
    case rsa3072
    case rsa4096

    /// Generates a new key in process with swift-crypto; no external program sees it.
    public func generate() throws -> Certificate.PrivateKey {
        switch self {
        case .p256: Certificate.PrivateKey(P256.Signing.PrivateKey())
        case .rsa2048: Certificate.PrivateKey(try _RSA.Signing.PrivateKey(keySize: .bits2048))
        case .rsa3072: Certificate.PrivateKey(try _RSA.Signing.PrivateKey(keySize: .init(bitCount: 3072)))
        case .rsa4096: Certificate.PrivateKey(try _RSA.Signing.PrivateKey(keySize: .bits4096))
        }
    }

    public var description: String {
        switch self {
        case .p256: "ECDSA P-256"
        case .rsa2048: "RSA-2048"
        case .rsa3072: "RSA-3072"
        case .rsa4096: "RSA-4096"
        }
    }
}

extension Certificate.PublicKey {
    /// The whole DER SubjectPublicKeyInfo (algorithm and key), byte for byte what
    /// `openssl pkey -pubout -outform DER` writes: what per-install labels and fingerprints hash.
    /// (`subjectPublicKeyInfoBytes` is only the key's BIT STRING inside it.)
    public func subjectPublicKeyInfoDER() throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(self)
        return serializer.serializedBytes
    }

    /// The SHA-256 of the DER SubjectPublicKeyInfo, hex: how logs and `status` name a key, the
    /// same hash `openssl pkey -pubout -outform DER | sha256sum` prints.
    public var fingerprint: String {
        guard let spki = try? subjectPublicKeyInfoDER() else { return "unknown" }
        return SHA256.hash(data: spki).map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
