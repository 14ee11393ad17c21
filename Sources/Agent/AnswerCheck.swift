#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CertificateSupport
import SwiftASN1
import X509

/// Checks the signer's answer before anything touches disk: it parses, the leaf carries our
/// key and exactly our names, it is valid now, and the chain verifies up to a trusted root.
struct AnswerCheck: Sendable {
    /// Roots the chain must lead to: the system store plus the configured bundle.
    let roots: [Certificate]

    /// At most this many certificates in an answer: a leaf and its intermediates, never a store.
    static let chainLimit = 8

    /// Reads the system trust store (Debian's ca-certificates bundle) and the extra bundle, both
    /// through checked paths (root's files, no link followed past a root-owned one, bounded).
    static func loadRoots(extraBundle: String?) throws -> [Certificate] {
        var roots: [Certificate] = []
        for path in ["/etc/ssl/certs/ca-certificates.crt"] + (extraBundle.map { [$0] } ?? []) {
            guard let bytes = try? CheckedPath.read(path, limit: 8 << 20) else {
                if path == extraBundle { throw AgentError(.configuration, "cannot read the CA bundle \(path) (ca_bundle): it must be a file root owns, outside anything others can write") }
                continue
            }
            let documents = (try? PEMDocument.parseMultiple(pemString: String(decoding: bytes, as: UTF8.self))) ?? []
            roots += documents.compactMap { try? Certificate(pemDocument: $0) }
        }
        return roots
    }

    /// The verified chain, leaf first; throws `badAnswer` saying what is wrong.
    func check(pem: String, key: Certificate.PrivateKey, names: [String], now: Date = Date()) async throws -> [Certificate] {
        let chain: [Certificate]
        do {
            chain = try PEMDocument.parseMultiple(pemString: pem).map { try Certificate(pemDocument: $0) }
        } catch {
            throw AgentError(.badAnswer, "the signer's answer is not a PEM certificate chain: \(error)")
        }
        guard let leaf = chain.first else { throw AgentError(.badAnswer, "the signer's answer holds no certificate") }
        guard chain.count <= Self.chainLimit else { throw AgentError(.badAnswer, "the signer's answer holds \(chain.count) certificates, more than the \(Self.chainLimit) a chain may have") }
        guard leaf.publicKey == key.publicKey else {
            throw AgentError(.badAnswer, "the certificate the signer sent is for another key")
        }
        // Exactly the names asked for: one more would be a name this machine never asked to serve.
        let certified: [String]
        do {
            certified = try leaf.certifiedDNSNames().map { $0.lowercased() }
        } catch {
            throw AgentError(.badAnswer, "the certificate's names do not parse: \(error)")
        }
        guard certified.count == Set(certified).count, Set(certified) == Set(names.map { $0.lowercased() }) else {
            throw AgentError(.badAnswer, "the certificate is for \(TerminalText.clean(certified.sorted().joined(separator: ", "), limit: 200)), not \(names.joined(separator: ", "))")
        }
        guard leaf.notValidBefore <= now.addingTimeInterval(300), now < leaf.notValidAfter else {
            throw AgentError(.badAnswer, "the certificate is not valid now (\(leaf.notValidBefore) to \(leaf.notValidAfter)); check the clock")
        }
        var verifier = Verifier(rootCertificates: CertificateStore(roots)) { RFC5280Policy(validationTime: now) }
        let result = await verifier.validate(leaf: leaf, intermediates: CertificateStore(chain.dropFirst()))
        guard case .validCertificate = result else {
            throw AgentError(.badAnswer, "the certificate chain does not lead to a trusted root (system store\(roots.isEmpty ? ", which is empty" : "") or ca_bundle)")
        }
        return chain
    }
}
