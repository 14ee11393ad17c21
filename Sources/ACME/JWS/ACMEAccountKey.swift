import CertificateSupport
import Crypto
import _CryptoExtras
import Foundation

/// The key that signs an ACME account's requests: ES256 (P-256, the default) or RS256.
public enum ACMEAccountKey: Sendable {
    case p256(P256.Signing.PrivateKey)
    case rsa(_RSA.Signing.PrivateKey)

    /// A new P-256 key.
    public static func generateP256() -> ACMEAccountKey { .p256(P256.Signing.PrivateKey()) }

    /// Reads a PKCS#8 or SEC1 PEM key of either kind.
    public init(pem: String) throws {
        if let key = try? P256.Signing.PrivateKey(pemRepresentation: pem) {
            self = .p256(key)
        } else if let key = try? _RSA.Signing.PrivateKey(pemRepresentation: pem) {
            self = .rsa(key)
        } else {
            throw ACMEError(.invalidInput, "the account key is neither a P-256 nor an RSA private key in PEM")
        }
    }

    /// PKCS#8 PEM, for storing the key (0600, by the caller).
    public var pemRepresentation: String {
        switch self {
        case .p256(let key): key.pemRepresentation
        case .rsa(let key): key.pemRepresentation
        }
    }

    /// The JWS `alg` value.
    public var algorithm: String {
        switch self {
        case .p256: "ES256"
        case .rsa: "RS256"
        }
    }

    /// The public key as a JWK with members in lexicographic order and no whitespace: the exact
    /// form RFC 7638 hashes for the thumbprint, and valid JSON for the `jwk` header too.
    public var canonicalJWK: String {
        switch self {
        case .p256(let key):
            let raw = Array(key.publicKey.x963Representation)  // 0x04 || X || Y
            let x = Base64URL.encode(raw[1...32])
            let y = Base64URL.encode(raw[33...64])
            return #"{"crv":"P-256","kty":"EC","x":"\#(x)","y":"\#(y)"}"#
        case .rsa(let key):
            // getKeyPrimitives only copies n and e out of a key BoringSSL already holds and
            // checked at load; it fails on allocation failure alone, where nothing would work.
            return Self.canonicalRSAJWK(try! key.publicKey.getKeyPrimitives())
        }
    }

    static func canonicalRSAJWK(_ primitives: _RSA.Signing.PublicKey.Primitives) -> String {
        let n = Base64URL.encode(Self.strippingLeadingZeros(Array(primitives.modulus)))
        let e = Base64URL.encode(Self.strippingLeadingZeros(Array(primitives.publicExponent)))
        return #"{"e":"\#(e)","kty":"RSA","n":"\#(n)"}"#
    }

    /// RFC 7518 §6.3.1: JWK integers are unsigned big-endian with no leading zero octets.
    static func strippingLeadingZeros(_ bytes: [UInt8]) -> [UInt8] {
        let trimmed = bytes.drop { $0 == 0 }
        return trimmed.isEmpty ? [0] : Array(trimmed)
    }

    /// RFC 7638 thumbprint: base64url(SHA-256(canonical JWK)).
    public var thumbprint: String {
        Base64URL.encode(SHA256.hash(data: Array(canonicalJWK.utf8)))
    }

    /// Signs the JWS signing input. ES256 signatures are raw r || s (RFC 7518 §3.4), not DER.
    public func sign(_ signingInput: [UInt8]) throws -> [UInt8] {
        switch self {
        case .p256(let key):
            return Array(try key.signature(for: signingInput).rawRepresentation)
        case .rsa(let key):
            return Array(try key.signature(for: signingInput, padding: .insecurePKCS1v1_5).rawRepresentation)
        }
    }
}
