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
    let store: PostgresChallengeStore
    let health: PostgresHealth
    let registration: NodeRegistration
    /// Where the permits given back on any node are told, for this node's gate.
    let releases: PermitReleases
    let logger: Logger
    var reconcileInterval: Duration = .seconds(5)
    /// A heartbeat every second, and a LISTEN connection silent for three is taken for dead:
    /// a partitioned node steps aside (503, `/readyz`, SERVFAIL for challenge names) within
    /// about 3.5 s.
    var heartbeatInterval: Duration = .seconds(1)
    var heartbeatTimeout: Duration = .seconds(3)
    let reconciled = ReconciliationOutcome()

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
    /// A schema this node may not bring forward (its role has no DDL rights, or the schema is
    /// newer than this signer) is said once, at critical, and waited for: the node stays not
    /// ready until an operator runs `migrate`, then goes on by itself.
    private func prepareSchema() async {
        var backoff = Duration.milliseconds(250)
        var said: String?
        while !Task.isCancelled {
            do {
                let (from, to) = try await PostgresHealth.bounded("read the schema's version", within: heartbeatTimeout * 2) {
                    try await StateMigrations.migrate(store.client, role: store.settings.username, logger: logger)
                }
                logger.info("shared state ready", metadata: ["state.schema.version": "\(to)", "state.schema.was": "\(from)", "state.node": "\(store.settings.node)"])
                return
            } catch let error as SignerError where error.code == .configuration {
                if said != error.message { logger.critical("\(error.message); not ready until then, checking again every 5 s") }
                said = error.message
                backoff = .seconds(5)
            } catch {
                let problem = await store.settings.connectionProblem(logger: logger)
                health.connected(false, logger: logger, error: problem.map { SignerError(.stateUnavailable, $0) } ?? error)
            }
            try? await Task.sleep(for: backoff)
            if said == nil { backoff = min(backoff * 2, .seconds(2)) }
        }
    }

    /// One LISTEN connection at a time, opened again after any failure. A heartbeat proves it
    /// alive: every `heartbeatInterval` the node notifies itself on it, and a connection that
    /// has not carried one back within `heartbeatTimeout` is closed and the state marked
    /// away (a partition leaves TCP silent, not closed, and PostgresNIO would wait for hours).
    private func listen() async {
        var backoff = Duration.milliseconds(250)
        while !Task.isCancelled {
            do {
                try await store.client.withConnection { connection in
                    try await connection.listen(on: PostgresChallengeStore.channel) { notifications in
                        // Caught up after (re)connecting, then one zone per notification.
                        try await PostgresHealth.bounded("catch up with the shared values", within: heartbeatTimeout) { try await store.prepare() }
                        let heard = HeartbeatClock()
                        reconciled.failed(false)
                        health.connected(true, logger: logger)
                        backoff = .milliseconds(250)
                        await health.runDeferred(logger: logger)
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            group.addTask {
                                for try await notification in notifications {
                                    if notification.payload == heartbeatPayload {
                                        heard.now()
                                        health.connected(!reconciled.hasFailed, logger: logger)
                                        continue
                                    }
                                    if let key = PermitReleases.key(inPayload: notification.payload) {
                                        releases.released(key)
                                        continue
                                    }
                                    logger.debug("another node changed the shared values", metadata: ["dns.zone": "\(notification.payload)"])
                                    guard let origin = store.origins.first(where: { PostgresChallengeStore.key($0) == notification.payload }) else { continue }
                                    try await PostgresHealth.bounded("read a zone's shared values", within: heartbeatTimeout) { try await store.refresh(origin) }
                                }
                            }
                            group.addTask {
                                while true {
                                    try await connection.query("SELECT pg_notify(\(PostgresChallengeStore.channel), \(heartbeatPayload))", logger: logger)
                                    try await Task.sleep(for: heartbeatInterval)
                                }
                            }
                            group.addTask {
                                while heard.since < heartbeatTimeout { try await Task.sleep(for: heartbeatInterval / 4) }
                                // Closing the channel ends the query and the notifications
                                // waiting on it; neither ends on cancellation alone.
                                try? await connection.close()
                                throw SignerError(.stateUnavailable, "no heartbeat came back on the LISTEN connection within \(heartbeatTimeout)")
                            }
                            // Only a failure ends one of them; the others go with it.
                            defer { group.cancelAll() }
                            try await group.next()
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

    /// Each node's own heartbeat; the others' go past it like any payload that names no zone.
    private var heartbeatPayload: String { "heartbeat \(store.settings.node)" }

    /// Re-reads every zone and reaps expired leases; one that fails (or does not answer within
    /// the heartbeat timeout) marks the state away until one succeeds and a heartbeat follows.
    private func reconcile() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: reconcileInterval)
            guard health.isConnected || reconciled.hasFailed else { continue }
            do {
                let reaped = try await PostgresHealth.bounded("reconcile with the shared state", within: heartbeatTimeout) { [store] in
                    let reaped = try await store.reapExpired()
                    for origin in store.origins { try await store.refresh(origin) }
                    return reaped
                }
                if reaped > 0 { logger.notice("withdrew challenge values whose node's lease ran out", metadata: ["dns.txt.count": "\(reaped)"]) }
                // The next heartbeat says the state is back.
                reconciled.failed(false)
                if health.deferredCount > 0 { await health.runDeferred(logger: logger) }
            } catch {
                reconciled.failed(true)
                health.connected(false, logger: logger, error: error)
            }
        }
    }
}

/// When the LISTEN connection last carried this node's heartbeat back.
private final class HeartbeatClock: Sendable {
    private let last = Mutex(ContinuousClock.now)
    func now() { last.withLock { $0 = .now } }
    var since: Duration { ContinuousClock.now - last.withLock { $0 } }
}

/// Whether the last reconciliation failed: the state counts as away until one succeeds, even
/// while heartbeats come back.
final class ReconciliationOutcome: Sendable {
    private let state = Mutex(false)
    var hasFailed: Bool { state.withLock { $0 } }
    func failed(_ failed: Bool) { state.withLock { $0 = failed } }
}
