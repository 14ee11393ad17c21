@testable import ACME
import CertificateSupport
import Crypto
import _CryptoExtras
import Foundation
import Testing

struct JWSTests {
    static let url = URL(string: "https://ca.test/acme/new-order")!

    static func parts(_ body: [UInt8]) throws -> (header: [String: Any], payload: [UInt8], signingInput: [UInt8], signature: [UInt8]) {
        let object = try JSONSerialization.jsonObject(with: Data(body)) as! [String: String]
        let header = try JSONSerialization.jsonObject(with: Data(Base64URL.decode(object["protected"]!)!)) as! [String: Any]
        return (header, Base64URL.decode(object["payload"]!)!, Array("\(object["protected"]!).\(object["payload"]!)".utf8), Base64URL.decode(object["signature"]!)!)
    }

    @Test func es256SignaturesVerifyWithTheAccountsPublicKey() throws {
        let key = P256.Signing.PrivateKey()
        let body = try JWS.sign(payload: Array(#"{"a":1}"#.utf8), url: Self.url, nonce: "nonce-1", key: .p256(key), keyReference: .jwk)
        let (header, payload, signingInput, signature) = try Self.parts(body)
        #expect(header["alg"] as? String == "ES256")
        #expect(header["nonce"] as? String == "nonce-1")
        #expect(header["url"] as? String == Self.url.absoluteString)
        #expect(header["kid"] == nil)
        let jwk = try #require(header["jwk"] as? [String: String])
        #expect(jwk["kty"] == "EC" && jwk["crv"] == "P-256")
        #expect(payload == Array(#"{"a":1}"#.utf8))
        #expect(signature.count == 64, "ES256 is raw r||s, not DER")
        #expect(key.publicKey.isValidSignature(try P256.Signing.ECDSASignature(rawRepresentation: signature), for: signingInput))
    }

    @Test func laterRequestsNameTheAccountByKidAndPostAsGetHasAnEmptyPayload() throws {
        let account = URL(string: "https://ca.test/acme/acct/42")!
        let body = try JWS.sign(payload: nil, url: Self.url, nonce: "n", key: .generateP256(), keyReference: .kid(account))
        let (header, payload, _, _) = try Self.parts(body)
        #expect(header["kid"] as? String == account.absoluteString)
        #expect(header["jwk"] == nil)
        #expect(payload.isEmpty)
    }

    @Test func rs256SignaturesVerify() throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let body = try JWS.sign(payload: Array("{}".utf8), url: Self.url, nonce: "n", key: .rsa(key), keyReference: .jwk)
        let (header, _, signingInput, signature) = try Self.parts(body)
        #expect(header["alg"] as? String == "RS256")
        #expect(key.publicKey.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: signingInput, padding: .insecurePKCS1v1_5))
    }

    @Test func rfc7638ThumbprintExample() throws {
        // RFC 7638 §3.1: this RSA key's thumbprint is NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        let publicKey = try _RSA.Signing.PublicKey(n: Base64URL.decode(n)!, e: Base64URL.decode("AQAB")!)
        let jwk = ACMEAccountKey.canonicalRSAJWK(try publicKey.getKeyPrimitives())
        #expect(jwk == #"{"e":"AQAB","kty":"RSA","n":"\#(n)"}"#)
        #expect(Base64URL.encode(SHA256.hash(data: Array(jwk.utf8))) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
    }

    @Test func dns01ValueIsTheDigestOfTheKeyAuthorization() {
        // Computed independently: base64url(sha256("<token>.<thumbprint>")) with Python's hashlib.
        let value = ACMEClient.dns01Value(token: "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA", thumbprint: "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        #expect(value == "ZTRx1Ckl1-tM05o5zaizTTA0yUy5AGereMgSNWC6Ll8")
    }

    @Test func externalAccountBindingIsAnHS256JWSOverTheAccountKey() throws {
        let macKey = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
        let binding = try ExternalAccountBinding(keyID: "kid-1", macKey: macKey)
        let accountKey = ACMEAccountKey.generateP256()
        let newAccount = URL(string: "https://ca.test/acme/new-acct")!
        let (header, payload, signingInput, signature) = try Self.parts(Array(try binding.jws(accountKey: accountKey, newAccountURL: newAccount).utf8))
        #expect(header["alg"] as? String == "HS256")
        #expect(header["kid"] as? String == "kid-1")
        #expect(header["url"] as? String == newAccount.absoluteString)
        #expect(header["nonce"] == nil, "RFC 8555 §7.3.4: the inner JWS has no nonce")
        #expect(String(decoding: payload, as: UTF8.self) == accountKey.canonicalJWK)
        let mac = HMAC<SHA256>.authenticationCode(for: signingInput, using: SymmetricKey(data: Base64URL.decode(macKey)!))
        #expect(signature == Array(mac))
        #expect(throws: ACMEError.self) { try ExternalAccountBinding(keyID: "k", macKey: "not base64url!") }
    }

    @Test func base64URLRoundTripsWithoutPadding() {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(($0 * 37 + 11) & 0xFF) }
            let text = Base64URL.encode(bytes)
            #expect(!text.contains("=") && !text.contains("+") && !text.contains("/"))
            #expect(Base64URL.decode(text) == bytes)
        }
    }
}
