import Crypto
import X509

/// Names for per-install mode: `<label>.<well-known name>`, the label derived from the
/// install's own public key, so only the holder of that key can get a certificate for it.
///
/// The label is the first 26 characters of the lowercase base32 (RFC 4648, no padding) of the
/// SHA-256 of the DER SubjectPublicKeyInfo: 130 bits, far beyond guessing, and a valid DNS label.
public enum PerInstallName {
    public static let labelLength = 26

    public static func label(subjectPublicKeyInfoDER spki: [UInt8]) -> String {
        String(base32(Array(SHA256.hash(data: spki))).prefix(labelLength))
    }

    /// `<label>.<name>` for every name in `names`.
    public static func names(for names: [String], subjectPublicKeyInfoDER spki: [UInt8]) -> [String] {
        let label = label(subjectPublicKeyInfoDER: spki)
        return names.map { "\(label).\($0)" }
    }

    /// `<label>.<name>` for every name in `names`, for this key.
    public static func names(for names: [String], publicKey: Certificate.PublicKey) throws -> [String] {
        Self.names(for: names, subjectPublicKeyInfoDER: try publicKey.subjectPublicKeyInfoDER())
    }

    /// The encoder alone, for checking it against RFC 4648's test vectors.
    public static func base32ForTesting(_ bytes: [UInt8]) -> String { base32(bytes) }

    /// RFC 4648 §6, lowercase, without padding.
    static func base32(_ bytes: [UInt8]) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")
        var output = ""
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | UInt32(byte)
            bits += 8
            while bits >= 5 {
                output.append(alphabet[Int((buffer >> UInt32(bits - 5)) & 31)])
                bits -= 5
            }
        }
        if bits > 0 { output.append(alphabet[Int((buffer << UInt32(5 - bits)) & 31)]) }
        return output
    }
}
