import Logging
import PostgresNIO

/// The issuance gate for a cluster: `set` mode's per-name cap and `lock` mode's one order per
/// zone hold across every node. A permit is a row with its node and a lease, taken under a
/// transaction-scoped advisory lock on the key so two nodes never both take the last one; a
/// node that dies leaves its permits to run out with their lease. Within one node the
/// in-process gate queues first, so only the head of each node's queue asks the database.
struct SharedIssuanceGate: IssuanceGate {
    let client: PostgresClient
    let settings: SignerConfiguration.PostgresSettings
    let health: SharedStateHealth
    let local = InProcessIssuanceGate()
    let logger: Logger
    /// How often a waiter asks again while the permits are taken elsewhere.
    static let pollInterval = Duration.milliseconds(50)

    func withPermits<Result: Sendable>(for keys: [String], capacity: Int, _ body: () async throws -> Result) async throws -> Result {
        try await local.withPermits(for: keys, capacity: capacity) {
            var held: [Int64] = []
            do {
                for key in Array(Set(keys)).sorted() {
                    held.append(try await acquire(key, capacity: capacity))
                }
                let result = try await body()
                await release(held)
                return result
            } catch {
                await release(held)
                throw error
            }
        }
    }

    private func acquire(_ key: String, capacity: Int) async throws -> Int64 {
        while true {
            try Task.checkCancellation()
            let taken: Int64?
            do {
                taken = try await tryAcquire(key, capacity: capacity)
            } catch let error as PSQLError {
                throw SignerError(.stateUnavailable, "could not take an issuance permit in the shared state (PostgreSQL): \(error.serverInfo?[.message] ?? "\(error.code)")")
            }
            if let taken { return taken }
            // Jitter, so waiters on several nodes do not ask in step.
            try await Task.sleep(for: Self.pollInterval * Double.random(in: 0.5...1.5))
        }
    }

    /// One permit if fewer than `capacity` live ones exist for `key`, else nil.
    private func tryAcquire(_ key: String, capacity: Int) async throws -> Int64? {
        let node = settings.node
        let leaseSeconds = Int(settings.lease.components.seconds)
        return try await client.transaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\(key)))", logger: logger)
            var live = 0
            for try await count in try await connection.query(
                "SELECT count(*)::int FROM csrproxy_permits WHERE key = \(key) AND expires_at > now()", logger: logger
            ).decode(Int.self) { live = count }
            guard live < capacity else { return nil }
            var id: Int64?
            for try await inserted in try await connection.query("""
                INSERT INTO csrproxy_permits (key, node, expires_at)
                VALUES (\(key), \(node), now() + make_interval(secs => \(leaseSeconds)))
                RETURNING id
                """, logger: logger).decode(Int64.self) { id = inserted }
            return id
        }
    }

    /// A permit that cannot be deleted now (within a few seconds) is deleted when the database
    /// answers again, or runs out with its lease.
    private func release(_ ids: [Int64]) async {
        guard !ids.isEmpty else { return }
        await health.cleanUp("return issuance permits", logger: logger) { [client, logger] in
            try await client.query("DELETE FROM csrproxy_permits WHERE id = ANY(\(ids))", logger: logger)
        }
    }
}
