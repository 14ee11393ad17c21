import CertificateSupport
import Crypto
import Foundation
@testable import Signer
import Testing
import TestSupport
import X509

/// What the CA sends back is checked against the request before it is passed on.
struct IssuedChainCheckTests {
    static let name = "go.eval.example.com"

    static func leafPEM(for key: P256.Signing.PrivateKey, names: [String]) throws -> String {
        let issuerKey = P256.Signing.PrivateKey()
        let issuer = try DistinguishedName { CommonName("Test CA") }
        let leaf = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey), notValidBefore: Date(), notValidAfter: Date().addingTimeInterval(86_400),
            issuer: issuer, subject: try DistinguishedName { CommonName(names[0]) }, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions { SubjectAlternativeNames(names.map { .dnsName($0) }) }, issuerPrivateKey: .init(issuerKey))
        return try leaf.serializeAsPEM().pemString
    }

    @Test func theRightChainPassesAndAnythingElseIsNamed() throws {
        let key = P256.Signing.PrivateKey()
        let request = try SigningRequest(der: try TestCertificates.csr(for: [Self.name], key: .init(key)))
        #expect(IssuedChainCheck.mismatch(pem: try Self.leafPEM(for: key, names: [Self.name]), request: request, names: [Self.name]) == nil)
        let otherKey = IssuedChainCheck.mismatch(pem: try Self.leafPEM(for: P256.Signing.PrivateKey(), names: [Self.name]), request: request, names: [Self.name])
        #expect(otherKey?.contains("another key") == true)
        let extraName = IssuedChainCheck.mismatch(pem: try Self.leafPEM(for: key, names: [Self.name, "evil.example.org"]), request: request, names: [Self.name])
        #expect(extraName?.contains("evil.example.org") == true)
        #expect(IssuedChainCheck.mismatch(pem: "not a chain", request: request, names: [Self.name]) != nil)
        #expect(IssuedChainCheck.mismatch(pem: "", request: request, names: [Self.name]) != nil)
    }
}
