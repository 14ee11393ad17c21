import Synchronization

/// Tells this node's gate that a permit was given back somewhere in the cluster, so a waiter
/// asks again at once instead of at its next poll: the node that releases permits notifies
/// `permit <key>` on the replication channel (`csrproxy_release_permits`), and
/// `ChallengeReplication` hands what it hears to `released`. Only keys someone waits for are
/// kept; a waiter also asks again after a fallback interval, for a notification that was lost.
final class PermitReleases: Sendable {
    /// What a waiter has seen of a key's releases: a release after it wakes the waiter.
    struct Ticket: Sendable {
        let key: String
        let seen: UInt64
    }

    private struct Entry {
        var listeners = 0
        var releases: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex<[String: Entry]>([:])
    private let nextID = Atomic<UInt64>(0)

    /// The notification payload for a released key.
    static func payload(_ key: String) -> String { "permit " + key }

    /// The key in a notification payload, if it is a release.
    static func key(inPayload payload: String) -> String? {
        payload.hasPrefix("permit ") ? String(payload.dropFirst("permit ".count)) : nil
    }

    /// Starts keeping `key`'s releases; pair with `stopListening`.
    func listen(_ key: String) -> Ticket {
        state.withLock { state in
            state[key, default: Entry()].listeners += 1
            return Ticket(key: key, seen: state[key]?.releases ?? 0)
        }
    }

    func stopListening(_ ticket: Ticket) {
        state.withLock { state in
            guard var entry = state[ticket.key] else { return }
            entry.listeners -= 1
            state[ticket.key] = entry.listeners > 0 ? entry : nil
        }
    }

    /// `key` was given back somewhere: wakes everyone waiting for it.
    func released(_ key: String) {
        let woken: [CheckedContinuation<Void, Never>] = state.withLock { state in
            guard var entry = state[key] else { return [] }
            entry.releases &+= 1
            defer {
                entry.waiters = [:]
                state[key] = entry
            }
            return Array(entry.waiters.values)
        }
        for waiter in woken { waiter.resume() }
    }

    /// Returns once `ticket`'s key was released after the ticket was taken (at once if it was
    /// already), after `timeout`, or on cancellation; the ticket to wait with next.
    func wait(_ ticket: Ticket, atMost timeout: Duration) async -> Ticket {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).newValue
        let timer = Task { [self] in
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            wake(ticket.key, id)
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    guard var entry = state[ticket.key], entry.releases == ticket.seen, !Task.isCancelled else { return true }
                    entry.waiters[id] = continuation
                    state[ticket.key] = entry
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            wake(ticket.key, id)
        }
        timer.cancel()
        return Ticket(key: ticket.key, seen: state.withLock { $0[ticket.key]?.releases ?? ticket.seen })
    }

    private func wake(_ key: String, _ id: UInt64) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state[key]?.waiters.removeValue(forKey: id)
        }
        waiter?.resume()
    }
}
