import CertificateSupport
import Crypto
import Foundation

/// Builds the flattened JWS JSON that every ACME POST carries (RFC 8555 §6.2).
enum JWS {
    /// How the request names its key: `jwk` for newAccount (and revocation by certificate key), `kid` otherwise.
    enum KeyReference {
        case jwk
        case kid(URL)
    }

    /// `payload` nil makes a POST-as-GET (empty payload, RFC 8555 §6.3).
    static func sign(payload: [UInt8]?, url: URL, nonce: String, key: ACMEAccountKey, keyReference: KeyReference) throws -> [UInt8] {
        var header = #"{"alg":"\#(key.algorithm)","#
        switch keyReference {
        case .jwk: header += #""jwk":\#(key.canonicalJWK),"#
        case .kid(let account): header += #""kid":\#(try jsonString(account.absoluteString)),"#
        }
        header += #""nonce":\#(try jsonString(nonce)),"url":\#(try jsonString(url.absoluteString))}"#
        let protected = Base64URL.encode(header)
        let encodedPayload = payload.map { Base64URL.encode($0) } ?? ""
        let signature = try key.sign(Array("\(protected).\(encodedPayload)".utf8))
        return Array(#"{"protected":"\#(protected)","payload":"\#(encodedPayload)","signature":"\#(Base64URL.encode(signature))"}"#.utf8)
    }

    /// A JSON string literal, escaped by JSONEncoder so no URL or nonce can break the header.
    static func jsonString(_ value: String) throws -> String {
        String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
    }
}

/// External Account Binding (RFC 8555 §7.3.4): the CA-issued key ID and MAC key that tie a new
/// ACME account to an account the publisher holds with the CA (ZeroSSL, Google, SSL.com, ...).
public struct ExternalAccountBinding: Sendable {
    public let keyID: String
    /// The MAC key, decoded from the base64url text the CA hands out.
    let macKey: SymmetricKey

    /// - Parameter macKey: base64url, as CAs print it.
    public init(keyID: String, macKey: String) throws {
        guard let bytes = Base64URL.decode(macKey), !bytes.isEmpty else {
            throw ACMEError(.invalidInput, "the EAB MAC key is not base64url")
        }
        self.keyID = keyID
        self.macKey = SymmetricKey(data: bytes)
    }

    /// The inner JWS: HS256 over the account's public JWK, addressed to newAccount.
    func jws(accountKey: ACMEAccountKey, newAccountURL: URL) throws -> String {
        let header = #"{"alg":"HS256","kid":\#(try JWS.jsonString(keyID)),"url":\#(try JWS.jsonString(newAccountURL.absoluteString))}"#
        let protected = Base64URL.encode(header)
        let payload = Base64URL.encode(accountKey.canonicalJWK)
        let mac = HMAC<SHA256>.authenticationCode(for: Array("\(protected).\(payload)".utf8), using: macKey)
        return #"{"protected":"\#(protected)","payload":"\#(payload)","signature":"\#(Base64URL.encode(mac))"}"#
    }
}
