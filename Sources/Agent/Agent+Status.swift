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
        let names = ((try? leaf.extensions.subjectAlternativeNames) ?? nil)?.compactMap { name -> String? in
            if case .dnsName(let dns) = name { return dns }
            return nil
        } ?? []
        let cache = (try? readFile(files.renewalCachePath)).flatMap { try? JSONDecoder.agent.decode(RenewalCache.self, from: Data($0)) }
        // Without a cached window, the earliest the lifetime rule allows (renew picks the moment in it).
        var renewal = cache.flatMap { $0.serial == leaf.serialNumber.description ? $0 : nil } ?? RenewalCache(computedFor: leaf, now: now)
        if cache?.serial != leaf.serialNumber.description { renewal.renewAt = renewal.windowStart }
        let key = try? files.installedKey()
        return AgentStatus(
            installed: true, names: names, issuer: leaf.issuer.description,
            notBefore: leaf.notValidBefore, notAfter: leaf.notValidAfter,
            daysLeft: Int(leaf.notValidAfter.timeIntervalSince(now) / 86_400),
            nextRenewal: state.isFallback ? now : renewal.renewAt, renewalSource: renewal.source,
            keyType: key.map { KeyKind($0.publicKey).description }, keyFingerprintSHA256: key?.publicKey.fingerprint,
            isFallback: state.isFallback, files: paths, lastSuccess: state.lastSuccess, lastError: state.lastError)
    }

    /// `--fallback self-signed`: when the signer cannot be reached at first install, a
    /// self-signed certificate valid for 7 days lets the product start; it is marked so the
    /// next `renew` replaces it as soon as the signer answers. Never replaces a real certificate.
    public func installFallback() throws -> Outcome {
        if let installed = try files.installedChain(), !installed.isEmpty, !AgentState.load(from: files).isFallback {
            throw AgentError(.configuration, "a certificate is already installed; the fallback is only for a first install")
        }
        let key = try files.installedKey() ?? files.pendingKey() ?? configuration.keyType.generate()
        let names = names(for: key)
        let subject = try DistinguishedName { CommonName(names[0]) }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: key.publicKey,
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(7 * 86_400),
            issuer: subject, subject: subject,
            signatureAlgorithm: key.publicKey.description.hasPrefix("RSA") ? .sha256WithRSAEncryption : .ecdsaWithSHA256,
            extensions: try Certificate.Extensions { SubjectAlternativeNames(names.map { .dnsName($0) }) },
            issuerPrivateKey: key)
        let owner = try configuration.owner == nil && configuration.group == nil ? nil : FileOwner(user: configuration.owner, group: configuration.group)
        progress("installing a temporary self-signed certificate for \(names.joined(separator: ", ")) (browsers will warn until renew replaces it)")
        try files.install(key: key, chain: [certificate], owner: owner)
        var state = AgentState.load(from: files)
        state.isFallback = true
        try state.save(to: files)
        return Outcome(names: names, notAfter: certificate.notValidAfter, reloadFailures: reload())
    }
}
