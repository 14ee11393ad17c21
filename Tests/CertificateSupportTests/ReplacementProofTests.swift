import _CryptoExtras
import CertificateSupport
import Foundation
import TestSupport
import Crypto
import Testing
import X509

/// The old key's signature over the new CSR, for every kind of key an install may have: it
/// verifies with that key over that CSR, and with nothing else.
struct ReplacementProofTests {
    static let keys: [Certificate.PrivateKey] = [
        .init(P256.Signing.PrivateKey()),
        .init(P384.Signing.PrivateKey()),
        .init(try! _RSA.Signing.PrivateKey(keySize: .bits2048)),
    ]

    @Test(arguments: 0..<3) func aProofVerifiesWithItsKeyOverItsCSROnly(index: Int) throws {
        let oldKey = Self.keys[index]
        let csr = try SigningRequest.build(dnsNames: ["app.example.com"], key: .init(P256.Signing.PrivateKey()))
        let proof = try ReplacementProof.sign(csrDER: csr, with: oldKey)
        #expect(ReplacementProof.isValid(proof, csrDER: csr, oldKey: oldKey.publicKey))
        #expect(Base64URL.encode(proof).utf8.count <= ReplacementProof.headerLimit)

        let otherCSR = try SigningRequest.build(dnsNames: ["app.example.com"], key: .init(P256.Signing.PrivateKey()))
        #expect(!ReplacementProof.isValid(proof, csrDER: otherCSR, oldKey: oldKey.publicKey), "a proof is for one CSR")
        let otherKey = Self.keys[(index + 1) % Self.keys.count]
        #expect(!ReplacementProof.isValid(proof, csrDER: csr, oldKey: otherKey.publicKey), "a proof is by one key")
        var flipped = proof
        flipped[flipped.count / 2] ^= 0x01
        #expect(!ReplacementProof.isValid(flipped, csrDER: csr, oldKey: oldKey.publicKey))
        #expect(!ReplacementProof.isValid([], csrDER: csr, oldKey: oldKey.publicKey))
    }

    /// Without the context the same key's signature over the same CSR is no proof: a signature
    /// made for anything else (a CSR's own self-signature, say) cannot be replayed as one.
    @Test func aSignatureWithoutTheContextIsNoProof() throws {
        let oldKey = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let csr = try SigningRequest.build(dnsNames: ["app.example.com"], key: oldKey)
        let bare = try oldKey.sign(bytes: csr, signatureAlgorithm: .ecdsaWithSHA256).rawRepresentation
        #expect(!ReplacementProof.isValid(bare, csrDER: csr, oldKey: oldKey.publicKey))
    }
}

/// The README's recipe for a proof made with `openssl` (an installer without the agent)
/// gives a proof the signer accepts, for an EC and an RSA key.
@Suite(.serialized) struct ReplacementProofOpenSSLTests {
    @Test(arguments: ["ec -pkeyopt ec_paramgen_curve:P-256", "rsa -pkeyopt rsa_keygen_bits:2048"])
    func theREADMERecipeMakesAValidProof(algorithm: String) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("proof-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let keyPath = directory.appendingPathComponent("old-key.pem").path
        let csrPath = directory.appendingPathComponent("new.der").path
        let generated = try await runCommand("/usr/bin/openssl", ["genpkey", "-algorithm"] + algorithm.split(separator: " ").map(String.init) + ["-out", keyPath])
        #expect(generated.status == 0, "\(generated.standardError)")
        let csr = try SigningRequest.build(dnsNames: ["app.example.com"], key: .init(P256.Signing.PrivateKey()))
        try Data(csr).write(to: URL(fileURLWithPath: csrPath))
        let recipe = "(printf 'CSRProxy replaces-proof v1\\0'; cat new.der) | openssl dgst -sha256 -sign old-key.pem | basenc --base64url | tr -d '=\\n'"
        let made = try await runCommand("/bin/sh", ["-c", "cd '\(directory.path)' && " + recipe])
        #expect(made.status == 0, "\(made.standardError)")
        let oldKey = try Certificate.PrivateKey(pemEncoded: try String(contentsOfFile: keyPath, encoding: .utf8))
        let proof = try #require(Base64URL.decode(made.standardOutput))
        #expect(ReplacementProof.isValid(proof, csrDER: csr, oldKey: oldKey.publicKey), "\(made.standardOutput)")
    }
}
