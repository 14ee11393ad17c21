import Logging
import PostgresNIO

/// The issuance gate for a cluster: `set` mode's per-name cap and `lock` mode's one order per
/// zone hold across every node. A permit is a row with its node and a lease, taken under a
/// transaction-scoped advisory lock on the key so two nodes never both take the last one; a
/// node that dies leaves its permits to run out with their lease. Within one node the
/// in-process gate queues first, so only the head of each node's queue asks the database.
struct PostgresIssuanceGate: IssuanceGate {
    let client: PostgresClient
    let settings: SignerConfiguration.PostgresSettings
    let health: PostgresHealth
    /// Releases on other nodes, heard on the replication channel.
    let releases: PermitReleases
    let local = InProcessIssuanceGate()
    let logger: Logger
    /// How long a waiter waits for a release it hears of before it asks again anyway (a
    /// notification lost while the LISTEN connection was down).
    static let pollInterval = Duration.milliseconds(200)

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

    /// Asks for a permit, and while the others hold them all, again each time one is released
    /// anywhere in the cluster (or after `pollInterval`, with jitter so that waiters on several
    /// nodes do not ask in step).
    private func acquire(_ key: String, capacity: Int) async throws -> Int64 {
        var ticket = releases.listen(key)
        defer { releases.stopListening(ticket) }
        while true {
            try Task.checkCancellation()
            let taken = try await postgresCall("take an issuance permit in the shared state") { try await tryAcquire(key, capacity: capacity) }
            if let taken { return taken }
            ticket = await releases.wait(ticket, atMost: Self.pollInterval * Double.random(in: 0.5...1.5))
        }
    }

    /// One permit if fewer than `capacity` live ones exist for `key`, else nil.
    private func tryAcquire(_ key: String, capacity: Int) async throws -> Int64? {
        let node = settings.node
        let leaseSeconds = Int(settings.lease.components.seconds)
        // One round trip: the lock, the count and the row (`csrproxy_take_permit`).
        var id: Int64?
        let rows = try await client.query("SELECT csrproxy_take_permit(\(key), \(capacity), \(node), \(leaseSeconds))", logger: logger)
        for try await taken in rows.decode(Int64?.self) { id = taken }
        return id
    }

    /// A permit that cannot be deleted now (within a few seconds) is deleted when the database
    /// answers again, or runs out with its lease.
    private func release(_ ids: [Int64]) async {
        guard !ids.isEmpty else { return }
        await health.cleanUp("return issuance permits", logger: logger) { [client, logger] in
            // Deleted, and a notification per key wakes the waiters on every node.
            try await client.query("SELECT csrproxy_release_permits(\(ids))", logger: logger)
        }
    }
}
