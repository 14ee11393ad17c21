import SwiftASN1

extension SigningRequest {
    /// When a CSR fails to parse because swift-certificates refuses its key (RSA under 2048 bits,
    /// an unknown curve), names that key, so the installer hears "your key is too small" rather
    /// than "this is not a CSR". Walks the PKCS#10 structure with swift-asn1's generic parser;
    /// nil when the bytes are not a CSR at all.
    static func describeRefusedKey(csrDER: [UInt8]) -> String? {
        guard let root = try? DER.parse(csrDER),
              let info = children(of: root).first,
              let spki = children(of: info).dropFirst(2).first,
              let algorithm = children(of: spki).first,
              let algorithmOID = children(of: algorithm).first.flatMap({ try? ASN1ObjectIdentifier(derEncoded: $0) })
        else { return nil }
        switch algorithmOID {
        case [1, 2, 840, 113549, 1, 1, 1]:  // rsaEncryption
            guard let bits = children(of: spki).dropFirst().first.flatMap({ try? ASN1BitString(derEncoded: $0) }),
                  let key = try? DER.parse(Array(bits.bytes)),
                  let modulus = children(of: key).first, case .primitive(let bytes) = modulus.content
            else { return "an RSA key that cannot be read" }
            let significant = bytes.drop { $0 == 0 }
            let bitCount = significant.count * 8 - (significant.first.map { $0.leadingZeroBitCount } ?? 0)
            return "an RSA key of \(bitCount) bits"
        case [1, 2, 840, 10045, 2, 1]:  // id-ecPublicKey
            let curve = children(of: algorithm).dropFirst().first.flatMap { try? ASN1ObjectIdentifier(derEncoded: $0) }
            return "an EC key on curve \(curve.map { "\($0)" } ?? "unknown")"
        default:
            return "a key of algorithm \(algorithmOID)"
        }
    }

    /// The CSR's signature algorithm when it is one no public CA accepts (SHA-1 or MD5 with
    /// RSA or ECDSA), named; nil otherwise or when the bytes are not a CSR.
    static func describeWeakSignature(csrDER: [UInt8]) -> String? {
        guard let root = try? DER.parse(csrDER),
              let algorithm = children(of: root).dropFirst().first,
              let oid = children(of: algorithm).first.flatMap({ try? ASN1ObjectIdentifier(derEncoded: $0) })
        else { return nil }
        let weak: [ASN1ObjectIdentifier: String] = [
            [1, 2, 840, 113549, 1, 1, 5]: "sha1WithRSAEncryption", [1, 2, 840, 113549, 1, 1, 4]: "md5WithRSAEncryption",
            [1, 2, 840, 10045, 4, 1]: "ecdsa-with-SHA1",
        ]
        return weak[oid]
    }

    private static func children(of node: ASN1Node) -> [ASN1Node] {
        guard case .constructed(let nodes) = node.content else { return [] }
        return Array(nodes)
    }
}
