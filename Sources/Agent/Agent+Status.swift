#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CertificateSupport
import X509

/// What `csrproxy-agent status` reports, as text or JSON.
public struct AgentStatus: Codable, Sendable {
    public var installed: Bool
    public var names: [String]
    public var issuer: String?
    public var notBefore: Date?
    public var notAfter: Date?
    public var daysLeft: Int?
    public var nextRenewal: Date?
    public var renewalSource: String?
    public var keyType: String?
    public var keyFingerprintSHA256: String?
    public var isFallback: Bool
    public var files: [String: String]
    public var lastSuccess: Date?
    public var lastError: String?
}

extension Agent {
    /// Reads the installed files and the cached state; no network.
    public func status(now: Date = Date()) throws -> AgentStatus {
        let state = AgentState.load(from: files)
        let paths = ["key": files.keyPath, "cert": files.certificatePath, "chain": files.chainPath, "fullchain": files.fullChainPath]
        guard let leaf = try files.installedChain()?.first else {
            return AgentStatus(installed: false, names: [], isFallback: false, files: paths, lastSuccess: state.lastSuccess, lastError: state.lastError)
        }
        let names = leaf.dnsNames
        // The moment `renew` acts, by the same decision it makes (the cached window's randomized
        // moment), or, when it must ask the signer first, no moment yet.
        let cache = readCache()
        let nextRenewal: Date?
        let source: String
        switch RenewalCache.decide(leaf: leaf, cache: cache, isFallback: state.isFallback, now: now) {
        case .notDue(let until):
            nextRenewal = until
            source = cache?.source ?? "computed"
        case .due(let reason):
            nextRenewal = now
            source = "due: \(reason)"
        case .askSigner:
            nextRenewal = nil
            source = "not known yet: the next renew asks the signer for the window"
        }
        let key = try? files.installedKey()
        return AgentStatus(
            installed: true, names: names, issuer: leaf.issuer.description,
            notBefore: leaf.notValidBefore, notAfter: leaf.notValidAfter,
            daysLeft: Int(leaf.notValidAfter.timeIntervalSince(now) / 86_400),
            nextRenewal: nextRenewal, renewalSource: source,
            keyType: key.map { KeyKind($0.publicKey).description }, keyFingerprintSHA256: key?.publicKey.fingerprint,
            isFallback: state.isFallback, files: paths, lastSuccess: state.lastSuccess, lastError: state.lastError)
    }
}
