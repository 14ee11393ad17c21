import ACME
import DNSCodec
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Keeps this node's replica of the shared challenge values current: it LISTENs for the
/// changes other nodes announce and re-reads the zone named, re-reads every zone on a timer
/// (a NOTIFY missed while the connection was down changes nothing for long), and withdraws
/// the values whose lease ran out (their node died). While the database is away it says so
/// (`/readyz`, and new requests get 503) and keeps trying; DNS serves the last copy meanwhile.
struct ChallengeReplication: Service {
    let store: SharedChallengeStore
    let health: SharedStateHealth
    let registration: NodeRegistration
    let logger: Logger
    var reconcileInterval: Duration = .seconds(5)

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            await prepareSchema()
            // The name before anything done under it: a second node with a live node's name
            // stops here, before it withdraws that node's values.
            guard try await claimName() else { return }
            let withdrawn = await store.removeAll()
            if withdrawn > 0 { logger.notice("withdrew challenge values this node left in the shared state", metadata: ["dns.txt.count": "\(withdrawn)"]) }
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await listen() }
                group.addTask { await reconcile() }
                group.addTask { try await registration.keepAlive() }
            }
        }
        // Outside the cancelled task: PostgresNIO gives a cancelled task no connection.
        await Task { _ = try? await withDeadline(.now + .seconds(2), orThrow: { SignerError(.stateUnavailable, "timeout") }) { await registration.release() } }.value
    }

    /// Registers the node's name; retried while the database is away, false once cancelled.
    private func claimName() async throws -> Bool {
        var backoff = Duration.milliseconds(250)
        while !Task.isCancelled {
            do {
                try await registration.claim()
                return true
            } catch let error as SignerError where error.code == .configuration {
                logger.critical("\(error.message)")
                throw error
            } catch {
                health.connected(false, logger: logger, error: error)
            }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(2))
        }
        return false
    }

    /// The schema at the latest version before anything else; retried while the database is away.
    private func prepareSchema() async {
        var backoff = Duration.milliseconds(250)
        while !Task.isCancelled {
            do {
                let (from, to) = try await StateMigrations.migrate(store.client, logger: logger)
                logger.info("shared state ready", metadata: ["state.schema.version": "\(to)", "state.schema.was": "\(from)", "state.node": "\(store.settings.node)"])
                return
            } catch {
                health.connected(false, logger: logger, error: error)
            }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(2))
        }
    }

    /// One LISTEN connection at a time, opened again after any failure.
    private func listen() async {
        var backoff = Duration.milliseconds(250)
        while !Task.isCancelled {
            do {
                try await store.client.withConnection { connection in
                    try await connection.listen(on: SharedChallengeStore.channel) { notifications in
                        // Caught up after (re)connecting, then one zone per notification.
                        try await store.prepare()
                        health.connected(true, logger: logger)
                        backoff = .milliseconds(250)
                        for try await notification in notifications {
                            logger.debug("another node changed the shared values", metadata: ["dns.zone": "\(notification.payload)"])
                            guard let origin = store.origins.first(where: { SharedChallengeStore.key($0) == notification.payload }) else { continue }
                            try await store.refresh(origin)
                        }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                health.connected(false, logger: logger, error: error)
            }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(2))
        }
    }

    private func reconcile() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: reconcileInterval)
            guard health.isConnected else { continue }
            do {
                let reaped = try await store.reapExpired()
                if reaped > 0 { logger.notice("withdrew challenge values whose node's lease ran out", metadata: ["dns.txt.count": "\(reaped)"]) }
                for origin in store.origins { try await store.refresh(origin) }
            } catch {
                logger.debug("reconciliation with the shared state failed", metadata: ["error": "\(String(reflecting: error))"])
            }
        }
    }
}

/// Whether the shared state is reachable, for `/readyz` and for refusing new requests early.
final class SharedStateHealth: Sendable {
    private let state = Mutex(false)
    /// Told each change (the zone store, which stops vouching for its challenge values).
    private let onChange: @Sendable (Bool) -> Void

    init(onChange: @escaping @Sendable (Bool) -> Void = { _ in }) {
        self.onChange = onChange
        onChange(false)
    }

    var isConnected: Bool { state.withLock { $0 } }

    /// Runs `body` against the shared state for what can wait or be left to a lease (a
    /// withdrawal, a release, a record the outbox keeps): at once an error while the database
    /// is known to be away, and at most `bound` otherwise, so an outage never holds back an
    /// answer that is already won. It runs in a task of its own: these are an order's
    /// cleanups, and an order cancelled at its deadline must still give back what it holds
    /// (PostgresNIO gives a cancelled task no connection), not leave it to the lease.
    @discardableResult
    func attempt<T: Sendable>(_ what: String, within bound: Duration = .seconds(3), _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        guard isConnected else { throw SignerError(.stateUnavailable, "could not \(what): the shared state is unreachable") }
        return try await Task {
            try await withDeadline(.now + bound, orThrow: { SignerError(.stateUnavailable, "could not \(what): the shared state did not answer within \(bound)") }, body)
        }.value
    }

    func connected(_ up: Bool, logger: Logger, error: (any Error)? = nil) {
        let was = state.withLock { state in
            defer { state = up }
            return state
        }
        if up != was { onChange(up) }
        if up, !was {
            logger.info("connected to the shared state (PostgreSQL)")
        } else if !up, was {
            logger.warning("lost the shared state (PostgreSQL); new requests get 503 and challenge TXT questions SERVFAIL until it is back", metadata: ["error": "\(error.map { String(reflecting: $0) } ?? "-")"])
        } else if !up {
            logger.debug("the shared state (PostgreSQL) is still unreachable", metadata: ["error": "\(error.map { String(reflecting: $0) } ?? "-")"])
        }
    }
}
