import Crypto
import Foundation
import ReloadableTLS
import Testing
import TestSupport
import X509

struct TLSIdentityTests {
    static func selfSigned(_ name: String, key: P256.Signing.PrivateKey = .init()) throws -> (chain: String, key: String) {
        let subject = try DistinguishedName { CommonName(name) }
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: Date().addingTimeInterval(-60), notValidAfter: Date().addingTimeInterval(3600),
            issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions { SubjectAlternativeNames([.dnsName(name)]) },
            issuerPrivateKey: .init(key))
        return (try certificate.serializeAsPEM().pemString + "\n", key.pemRepresentation)
    }

    @Test func aMatchingPairLoads() throws {
        let pair = try Self.selfSigned("a.example")
        let identity = try TLSIdentity(certificateChainPEM: pair.chain, privateKeyPEM: pair.key)
        #expect(identity.chain.count == 1)
        #expect(identity.summary.contains("a.example"))
    }

    @Test func aMismatchedOrBrokenPairIsRefusedAndTheCurrentOneStays() throws {
        let a = try Self.selfSigned("a.example")
        let b = try Self.selfSigned("b.example")
        let store = TLSIdentityStore(try TLSIdentity(certificateChainPEM: a.chain, privateKeyPEM: a.key))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let chainPath = directory.appendingPathComponent("fullchain.pem").path
        let keyPath = directory.appendingPathComponent("key.pem").path

        try b.chain.write(toFile: chainPath, atomically: true, encoding: .utf8)
        try a.key.write(toFile: keyPath, atomically: true, encoding: .utf8)
        #expect { try store.reload(certificateChainPath: chainPath, privateKeyPath: keyPath) } throws: { ($0 as? ReloadableTLSError)?.code == .mismatch }
        #expect(store.current.leaf.subject.description.contains("a.example"))

        try "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n".write(toFile: chainPath, atomically: true, encoding: .utf8)
        #expect { try store.reload(certificateChainPath: chainPath, privateKeyPath: keyPath) } throws: { ($0 as? ReloadableTLSError)?.code == .unreadable }
        #expect { try store.reload(certificateChainPath: chainPath + ".missing", privateKeyPath: keyPath) } throws: { ($0 as? ReloadableTLSError)?.code == .unreadable }
        #expect(store.current.leaf.subject.description.contains("a.example"))

        try b.chain.write(toFile: chainPath, atomically: true, encoding: .utf8)
        try b.key.write(toFile: keyPath, atomically: true, encoding: .utf8)
        try store.reload(certificateChainPath: chainPath, privateKeyPath: keyPath)
        #expect(store.current.leaf.subject.description.contains("b.example"))
    }
}
