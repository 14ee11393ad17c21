import Synchronization

/// A token bucket per client address: `burst` requests at once, then `perMinute` a minute.
/// Idle buckets are forgotten once full again, so memory follows the active clients only.
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private let capacity: Double
    private let refillPerSecond: Double
    private let buckets = Mutex<[String: Bucket]>([:])

    init(_ limit: SignerConfiguration.RateLimit) {
        capacity = Double(limit.burst)
        refillPerSecond = Double(limit.perMinute) / 60
    }

    /// Takes a token for `client`; nil when allowed, else the seconds until a token is back.
    func admit(_ client: String, now: ContinuousClock.Instant = .now) -> Int? {
        buckets.withLock { buckets in
            if buckets.count > 10_000 { prune(&buckets, now: now) }
            var bucket = buckets[client] ?? Bucket(tokens: capacity, updated: now)
            bucket.tokens = min(capacity, bucket.tokens + seconds(now - bucket.updated) * refillPerSecond)
            bucket.updated = now
            defer { buckets[client] = bucket }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return max(1, Int(((1 - bucket.tokens) / refillPerSecond).rounded(.up)))
        }
    }

    private func prune(_ buckets: inout [String: Bucket], now: ContinuousClock.Instant) {
        buckets = buckets.filter { $0.value.tokens + seconds(now - $0.value.updated) * refillPerSecond < capacity }
    }

    private func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
