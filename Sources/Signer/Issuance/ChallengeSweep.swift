import DNSCodec
import Logging
import ServiceLifecycle
import Synchronization

/// The challenge values live orders own, with when each was registered.
final class OwnedChallengeValues: Sendable {
    private struct Key: Hashable {
        let name: DNSName
        let value: String
    }

    private let values = Mutex<[Key: ContinuousClock.Instant]>([:])

    func register(_ value: String, at name: DNSName) {
        values.withLock { $0[Key(name: name, value: value)] = .now }
    }

    func release(_ value: String, at name: DNSName) {
        _ = values.withLock { $0.removeValue(forKey: Key(name: name, value: value)) }
    }

    /// When `value` was registered, or nil when no live order owns it.
    func registered(_ value: String, at name: DNSName) -> ContinuousClock.Instant? {
        values.withLock { $0[Key(name: name, value: value)] }
    }
}

/// Defence in depth behind the ACME flow's own withdrawal: every `interval`, withdraws any
/// published value that no live order owns, or that has been owned longer than an order may
/// live. It should never find one; when it does, that is a bug, logged as an error and counted.
struct ChallengeSweep: Service {
    let store: any ChallengeStore
    let owned: OwnedChallengeValues
    /// How long an order may hold a value: the issuance deadline and a margin.
    let maximumAge: Duration
    let interval: Duration
    let metrics: SignerMetrics
    let logger: Logger

    func run() async throws {
        // A graceful shutdown cancels the wait, so a stop never waits out an interval.
        try? await cancelWhenGracefulShutdown {
            while true {
                try await Task.sleep(for: interval)
                await sweep()
            }
        }
    }

    /// One pass; returns how many values it withdrew.
    @discardableResult
    func sweep(now: ContinuousClock.Instant = .now) async -> Int {
        var withdrawn = 0
        for (name, value) in await store.all() {
            if let since = owned.registered(value, at: name), now - since < maximumAge { continue }
            // False when the flow withdrew it since the listing: then there was nothing to do.
            guard await store.remove(value, at: name) else { continue }
            owned.release(value, at: name)
            withdrawn += 1
            logger.error("withdrew a challenge value no live order owns (a bug: the flow should have)", metadata: ["dns.query.name": "\(name)"])
        }
        if withdrawn > 0 { metrics.recordSweptValues(withdrawn) }
        return withdrawn
    }
}
