#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CertificateSupport
import SignerProtocol
import X509

/// When to renew. The signer's `/v1/renewal-info` window (the CA's ARI, or the computed one) is
/// cached beside the certificate with the moment picked inside it, and asked again at most
/// twice a day; while the cache is fresh and the moment not reached, `renew` does nothing and
/// touches no network. Without any window, 2/3 of the lifetime (1/2 under 10 days) applies.
struct RenewalCache: Codable, Sendable, Equatable {
    /// The certificate this window is for (its serial), so a new certificate invalidates it.
    var serial: String
    var windowStart: Date
    var windowEnd: Date
    /// A point picked at random inside the window once, so installs spread out.
    var renewAt: Date
    var fetchedAt: Date
    var source: String

    static let fileName = "renewal-info.json"

    /// The cache is asked again after this long (twice a day).
    static let freshness: TimeInterval = 12 * 3600

    func isFresh(now: Date) -> Bool { now.timeIntervalSince(fetchedAt) < Self.freshness && now >= fetchedAt }

    init(serial: String, window: RenewalWindowResponse, fetchedAt: Date) throws {
        guard let start = try? Date(window.suggestedWindow.start, strategy: .iso8601),
              let end = try? Date(window.suggestedWindow.end, strategy: .iso8601), end >= start
        else { throw AgentError(.badAnswer, "the signer's renewal window \(window.suggestedWindow) is not valid RFC 3339") }
        self.serial = serial
        self.windowStart = start
        self.windowEnd = end
        self.renewAt = start.addingTimeInterval(Double.random(in: 0...max(0, end.timeIntervalSince(start))))
        self.fetchedAt = fetchedAt
        self.source = window.source
    }

    /// The window computed from the certificate alone, for when the signer cannot be asked.
    init(computedFor leaf: Certificate, now: Date) {
        let window = RenewalSchedule.window(notBefore: leaf.notValidBefore, notAfter: leaf.notValidAfter)
        serial = leaf.serialNumber.description
        windowStart = window.start
        windowEnd = window.end
        renewAt = window.start.addingTimeInterval(Double.random(in: 0...max(0, window.end.timeIntervalSince(window.start))))
        fetchedAt = now
        source = "computed"
    }
}

enum RenewalDecision: Equatable {
    /// Not due; nothing to do until then.
    case notDue(until: Date)
    case due(reason: String)
    /// The cached window is stale: ask the signer, then decide.
    case askSigner
}

extension RenewalCache {
    /// Decides from the certificate and the cache alone (no network).
    static func decide(leaf: Certificate, cache: RenewalCache?, isFallback: Bool, now: Date) -> RenewalDecision {
        if isFallback { return .due(reason: "the installed certificate is the self-signed fallback") }
        if now >= leaf.notValidAfter { return .due(reason: "the certificate expired at \(leaf.notValidAfter)") }
        let lifetime = RenewalSchedule.window(notBefore: leaf.notValidBefore, notAfter: leaf.notValidAfter)
        // The lifetime rule holds whatever the cache says: a signer that cannot answer must not keep us waiting.
        if now >= lifetime.end { return .due(reason: "past the renewal point of its lifetime (\(lifetime.end))") }
        guard let cache, cache.serial == leaf.serialNumber.description, cache.isFresh(now: now) else { return .askSigner }
        if now >= cache.renewAt { return .due(reason: "inside the renewal window (\(cache.source))") }
        return .notDue(until: min(cache.renewAt, lifetime.end))
    }
}
