import SwiftASN1
import X509

extension SigningRequest {
    /// What is wrong with the key, the signature algorithm or the requested extensions for a
    /// publicly trusted TLS server certificate; empty when nothing is.
    ///
    /// Keys: RSA 2048–4096 or ECDSA P-256/P-384, what public CAs issue for. Signatures: SHA-2.
    /// Extensions: only those a server certificate may carry anyway (SAN, key usage, server or
    /// client auth, a non-CA basicConstraints, a subject key identifier); a CSR asking to be a
    /// CA, or for anything else, is asking for something the signer will not pass on.
    public var keyAndExtensionViolations: [String] {
        var violations: [String] = []
        switch keyKind {
        case .p256, .p384:
            break
        case .rsa(let bits) where (2048...4096).contains(bits):
            break
        case let other:
            violations.append("the key is \(other); use ECDSA P-256 or P-384, or RSA of 2048 to 4096 bits")
        }
        let algorithms: [Certificate.SignatureAlgorithm] = [
            .ecdsaWithSHA256, .ecdsaWithSHA384, .ecdsaWithSHA512,
            .sha256WithRSAEncryption, .sha384WithRSAEncryption, .sha512WithRSAEncryption,
        ]
        if !algorithms.contains(csr.signatureAlgorithm) {
            violations.append("the CSR is signed with \(csr.signatureAlgorithm); sign it with SHA-256 or stronger")
        }
        for requested in requestedExtensions {
            switch requested.oid {
            case .X509ExtensionID.subjectAlternativeName, .X509ExtensionID.keyUsage, .X509ExtensionID.subjectKeyIdentifier:
                continue
            case .X509ExtensionID.basicConstraints:
                if case .isCertificateAuthority = try? BasicConstraints(requested) {
                    violations.append("the CSR asks for a CA certificate (basicConstraints CA:TRUE)")
                }
            case .X509ExtensionID.extendedKeyUsage:
                let allowed: Set<ExtendedKeyUsage.Usage> = [.serverAuth, .clientAuth]
                if let usages = try? ExtendedKeyUsage(requested), usages.allSatisfy(allowed.contains) { continue }
                violations.append("the CSR asks for extended key usages beyond serverAuth and clientAuth")
            default:
                violations.append("the CSR asks for extension \(requested.oid), which a TLS server certificate does not need")
            }
        }
        return violations
    }
}
