#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// When to renew a certificate that has no CA-supplied window (no ARI): from 2/3 of its lifetime,
/// or 1/2 for certificates of under 10 days, as Let's Encrypt advises for short-lived ones. The
/// window ends halfway between its start and the expiry, leaving the rest for retries.
public enum RenewalSchedule {
    public static func window(notBefore: Date, notAfter: Date) -> (start: Date, end: Date) {
        let lifetime = notAfter.timeIntervalSince(notBefore)
        let fraction = lifetime < 10 * 86_400 ? 1.0 / 2.0 : 2.0 / 3.0
        let start = notBefore.addingTimeInterval(lifetime * fraction)
        let end = start.addingTimeInterval(notAfter.timeIntervalSince(start) / 2)
        return (start, end)
    }
}
