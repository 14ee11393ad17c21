import CertificateSupport
import SwiftASN1
import X509

/// What the CA sent back, checked before it is passed on: the leaf carries the CSR's key and
/// exactly the approved names, and the chain parses. A CA (or whatever answers at its URL) that
/// sends anything else gets nothing relayed.
enum IssuedChainCheck {
    /// Nil when the chain is what was asked for; otherwise what is wrong.
    static func mismatch(pem: String, request: SigningRequest, names: [String]) -> String? {
        let chain: [Certificate]
        do {
            chain = try PEMDocument.parseMultiple(pemString: pem).map { try Certificate(pemDocument: $0) }
        } catch {
            return "the chain does not parse"
        }
        guard let leaf = chain.first else { return "the chain is empty" }
        guard leaf.publicKey == request.csr.publicKey else { return "the leaf is for another key than the CSR's" }
        guard let certified = try? leaf.certifiedDNSNames() else { return "the leaf's names do not parse" }
        guard certified.count == Set(certified).count, Set(certified) == Set(names) else {
            return "the leaf is for \(certified.sorted().joined(separator: ", ")), not \(names.sorted().joined(separator: ", "))"
        }
        return nil
    }
}
