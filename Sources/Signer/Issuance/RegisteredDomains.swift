import Foundation
import Synchronization

/// The registered domain a CA counts a request's names under, by the zone's rule.
struct RegisteredDomains: Sendable {
    /// Loaded only when a zone asks the list.
    let list: PublicSuffixList?

    /// Reads the public suffix list when some zone needs it; a missing list is a configuration
    /// error then, with the two ways out.
    init(zones: [SignerConfiguration.ZoneSettings], listPath: String = PublicSuffixList.debianPath) throws {
        list = zones.contains { $0.registeredDomain == .publicSuffixList } ? try PublicSuffixList(contentsOfFile: listPath) : nil
    }

    func domain(of name: String, in zone: SignerConfiguration.ZoneSettings) -> String {
        let name = name.lowercased()
        switch zone.registeredDomain {
        case .fixed(let domain):
            return domain
        case .zoneIsPublicSuffix:
            let labels = name.split(separator: ".")
            let zoneLabels = zone.name.split(separator: ".").count
            return labels.suffix(zoneLabels + 1).joined(separator: ".")
        case .publicSuffixList:
            return list?.registeredDomain(of: name) ?? name
        }
    }
}

/// CAs that answered `rateLimited`, per zone, and until when: no order goes to them for that
/// zone before then, so the signer does not make the CA's limit worse by asking again.
final class CAPauses: Sendable {
    private let until = Mutex<[String: Date]>([:])

    func pause(zone: String, ca: String, until date: Date) {
        until.withLock { $0[Self.key(zone, ca)] = max($0[Self.key(zone, ca)] ?? .distantPast, date) }
    }

    /// When the pause of `ca` for `zone` ends, if it has not yet.
    func pausedUntil(zone: String, ca: String, now: Date = Date()) -> Date? {
        until.withLock { pauses in
            guard let end = pauses[Self.key(zone, ca)] else { return nil }
            if end <= now { pauses[Self.key(zone, ca)] = nil; return nil }
            return end
        }
    }

    private static func key(_ zone: String, _ ca: String) -> String { "\(zone)\u{0}\(ca)" }
}
