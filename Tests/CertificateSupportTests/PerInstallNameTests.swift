import _CryptoExtras
import CertificateSupport
import Crypto
import Foundation
import SwiftASN1
import Testing
import TestSupport
import X509

struct PerInstallNameTests {
    @Test("base32 follows RFC 4648 §10, lowercase and unpadded", arguments: [
        ("", ""), ("f", "my"), ("fo", "mzxq"), ("foo", "mzxw6"), ("foob", "mzxw6yq"), ("fooba", "mzxw6ytb"), ("foobar", "mzxw6ytboi"),
    ])
    func base32Vectors(input: String, expected: String) {
        #expect(PerInstallName.base32ForTesting(Array(input.utf8)) == expected)
    }

    @Test func labelIsStableLongAndDNSSafe() throws {
        let key = P256.Signing.PrivateKey()
        let spki = try Certificate.PublicKey(key.publicKey).subjectPublicKeyInfoDER()
        let label = PerInstallName.label(subjectPublicKeyInfoDER: spki)
        #expect(label.count == 26)
        #expect(label.allSatisfy { ("a"..."z").contains($0) || ("2"..."7").contains($0) })
        #expect(PerInstallName.label(subjectPublicKeyInfoDER: spki) == label)
        let other = Array(Certificate.PublicKey(P256.Signing.PrivateKey().publicKey).subjectPublicKeyInfoBytes)
        #expect(PerInstallName.label(subjectPublicKeyInfoDER: other) != label)
        #expect(PerInstallName.names(for: ["go.eval.example.com"], subjectPublicKeyInfoDER: spki) == ["\(label).go.eval.example.com"])
    }
}
