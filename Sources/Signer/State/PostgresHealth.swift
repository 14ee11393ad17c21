import Logging
import Synchronization

/// Whether the shared state is reachable, for `/readyz`, for refusing new requests early and
/// for the zone store, which stops vouching for its challenge values while it is not; and the
/// cleanups that could not reach it, kept to run again when it is back.
final class PostgresHealth: Sendable {
    private struct State {
        var connected = false
        /// Whether the warning for this spell of absence was logged (a node that never gets
        /// through at start says why once, not only at debug level).
        var absenceReported = false
        /// Oldest first; each runs once more when the database answers again.
        var deferred: [(what: String, body: @Sendable () async throws -> Void)] = []
    }
    private let state = Mutex(State())
    /// Told each change (the zone store, which stops vouching for its challenge values).
    private let onChange: @Sendable (Bool) -> Void
    /// Cleanups kept at most; past it the oldest is dropped, and its lease frees what it held.
    static let maximumDeferred = 10_000

    init(onChange: @escaping @Sendable (Bool) -> Void = { _ in }) {
        self.onChange = onChange
        onChange(false)
    }

    var isConnected: Bool { state.withLock { $0.connected } }
    var deferredCount: Int { state.withLock { $0.deferred.count } }

    /// Runs `body` against the shared state for what can wait or be left to a lease (a
    /// withdrawal, a release, a record the outbox keeps): at once an error while the database
    /// is known to be away, and at most `bound` otherwise, so an outage never holds back an
    /// answer that is already won. It runs in a task of its own: these are an order's
    /// cleanups, and an order cancelled at its deadline must still give back what it holds
    /// (PostgresNIO gives a cancelled task no connection), not leave it to the lease.
    @discardableResult
    func attempt<T: Sendable>(_ what: String, within bound: Duration = .seconds(3), _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        guard isConnected else { throw SignerError(.stateUnavailable, "could not \(what): the shared state is unreachable") }
        return try await Self.bounded(what, within: bound, body)
    }

    /// A cleanup (delete a row this node owns, by its id): tried now as `attempt` does and,
    /// when it cannot reach the database, kept and run again as soon as it answers, so a node
    /// cut off for a while leaves nothing behind for the others to wait out. Never throws.
    func cleanUp(_ what: String, logger: Logger, _ body: @escaping @Sendable () async throws -> Void) async {
        do {
            try await attempt(what, body)
        } catch {
            let dropped = state.withLock { state -> Bool in
                state.deferred.append((what, body))
                guard state.deferred.count > Self.maximumDeferred else { return false }
                state.deferred.removeFirst()
                return true
            }
            logger.warning("could not \(what) in the shared state; it is done when the database answers again (or by its lease)", metadata: [
                "error": "\(String(reflecting: error))", "state.deferred.count": "\(deferredCount)",
            ])
            if dropped { logger.error("too many cleanups wait for the shared state; the oldest is left to its lease") }
        }
    }

    /// Runs the cleanups kept while the database was away, oldest first, until one fails:
    /// it and the rest stay for the next call. Called once the database answers again.
    func runDeferred(logger: Logger) async {
        var waiting = state.withLock { state in
            defer { state.deferred = [] }
            return state.deferred
        }
        guard !waiting.isEmpty else { return }
        let count = waiting.count
        while let cleanup = waiting.first {
            do {
                try await Self.bounded(cleanup.what, within: .seconds(3), cleanup.body)
                waiting.removeFirst()
            } catch {
                logger.debug("a cleanup still does not reach the shared state", metadata: ["error": "\(String(reflecting: error))"])
                break
            }
        }
        let left = waiting
        state.withLock { $0.deferred = left + $0.deferred }
        logger.notice("did what waited for the shared state", metadata: [
            "state.deferred.done": "\(count - left.count)", "state.deferred.count": "\(deferredCount)",
        ])
    }

    func connected(_ up: Bool, logger: Logger, error: (any Error)? = nil) {
        let (was, reported) = state.withLock { state in
            defer {
                state.connected = up
                state.absenceReported = !up
            }
            return (state.connected, state.absenceReported)
        }
        if up != was { onChange(up) }
        if up, !was {
            logger.info("connected to the shared state (PostgreSQL)")
        } else if !up, was {
            logger.warning("lost the shared state (PostgreSQL); new requests get 503 and challenge TXT questions SERVFAIL until it is back", metadata: ["error": "\(error.map { String(reflecting: $0) } ?? "-")"])
        } else if !up, !reported {
            logger.warning("cannot reach the shared state (PostgreSQL); not ready until it answers, trying again", metadata: ["error": "\(error.map { String(reflecting: $0) } ?? "-")"])
        } else if !up {
            logger.debug("the shared state (PostgreSQL) is still unreachable", metadata: ["error": "\(error.map { String(reflecting: $0) } ?? "-")"])
        }
    }

    /// `body` in a task of its own, given up on after `bound` without waiting for it: a query
    /// on a connection whose peer went silent does not end when its task is cancelled
    /// (PostgresNIO has no cancellation for a query in flight), so waiting for it, as a task
    /// group does, would wait for TCP to give up, which takes hours. The abandoned task ends
    /// when its connection does.
    static func bounded<T: Sendable>(_ what: String, within bound: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        // Not ended by the caller's cancellation: these are also the cleanups of cancelled orders.
        try await abandoning(
            at: .now + bound, orThrow: { SignerError(.stateUnavailable, "could not \(what): the shared state did not answer within \(bound)") },
            followingCancellation: false, body)
    }
}

