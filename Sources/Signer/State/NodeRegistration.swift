import Logging
import PostgresNIO

#if canImport(Glibc)
import Glibc
#endif

/// This node's name in the shared tables, held with a lease. A node withdraws every value and
/// permit under its name when it starts, so two nodes with one name would wipe each other's
/// orders: a node takes its name only when no live node holds it (a killed node's lease runs
/// out, and its restart takes the name then), renews the lease while it runs, gives the name
/// back when it stops, and stops if another node has taken it meanwhile.
struct NodeRegistration: Sendable {
    let client: PostgresClient
    let name: String
    let lease: Duration
    /// Which process holds the name: host, pid and a random part, for the refusal's message.
    let instance: String
    let logger: Logger

    init(client: PostgresClient, name: String, lease: Duration, logger: Logger) {
        self.client = client
        self.name = name
        self.lease = lease
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count - 1)
        let hostName = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        instance = "host \(hostName), pid \(getpid()), \(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
        self.logger = logger
    }

    private var leaseSeconds: Int { Int(lease.components.seconds) }

    /// Takes the name. A holder whose lease runs out (a node that was killed: its restart
    /// lands here) is waited for; one that keeps renewing for longer than a lease is a live
    /// node, and this one refuses with a configuration error naming it. Database errors are
    /// the caller's to retry.
    func claim() async throws {
        var waitingFor: (instance: String, since: ContinuousClock.Instant)?
        while true {
            guard let holder = try await tryClaim() else { break }
            if waitingFor?.instance != holder.instance {
                waitingFor = (holder.instance, .now)
                logger.warning("this node's name is held by another process; waiting for its lease before refusing to start", metadata: [
                    "state.node": "\(name)", "state.node.holder": "\(holder.instance)", "state.node.lease_left_seconds": "\(holder.seconds)",
                ])
            } else if let since = waitingFor?.since, ContinuousClock.now - since > lease + .seconds(2) {
                throw SignerError(.configuration, """
                    state.node "\(name)" is held by a running node (\(holder.instance)), which kept renewing it \
                    for longer than its \(leaseSeconds) s lease; every node needs its own name
                    """)
            }
            try await Task.sleep(for: .seconds(1))
        }
        logger.info("registered this node's name in the shared state", metadata: ["state.node": "\(name)", "state.node.lease_seconds": "\(leaseSeconds)"])
    }

    /// One try: nil when the name is now ours, else who holds it and for how long yet.
    private func tryClaim() async throws -> (instance: String, seconds: Int)? {
        try await client.transaction(logger: logger) { connection in
            // Names of nodes gone for a day are forgotten: the table holds the live ones.
            try await connection.query("DELETE FROM csrproxy_nodes WHERE expires_at < now() - interval '1 day'", logger: logger)
            if try await take(connection) { return nil }
            var holder = ("another node", 0)
            for try await (instance, left) in try await connection.query("""
                SELECT instance, ceil(extract(epoch FROM expires_at - now()))::bigint FROM csrproxy_nodes WHERE name = \(name)
                """, logger: logger).decode((String, Int64).self) {
                holder = (instance, Int(max(0, left)))
            }
            return holder
        }
    }

    /// Inserts the name, or takes it over from a holder whose lease ran out (or from this very
    /// process after a partition). True when the name is ours.
    private func take(_ connection: PostgresConnection) async throws -> Bool {
        let rows = try await connection.query("""
            INSERT INTO csrproxy_nodes (name, instance, started_at, expires_at)
            VALUES (\(name), \(instance), now(), now() + make_interval(secs => \(leaseSeconds)))
            ON CONFLICT (name) DO UPDATE SET instance = EXCLUDED.instance, started_at = EXCLUDED.started_at, expires_at = EXCLUDED.expires_at
            WHERE csrproxy_nodes.expires_at <= now() OR csrproxy_nodes.instance = EXCLUDED.instance
            RETURNING 1
            """, logger: logger)
        var taken = false
        for try await _ in rows.decode(Int.self) { taken = true }
        return taken
    }

    /// Renews the lease every third of it until cancelled. A renewal the database does not
    /// answer is tried again at the next turn (while away, the node serves no new request
    /// anyway); finding the name held by another process ends the node with an error.
    func keepAlive() async throws {
        let interval = max(lease / 3, .seconds(1))
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            if Task.isCancelled { return }
            let ours: Bool
            do {
                ours = try await client.transaction(logger: logger) { connection in try await take(connection) }
            } catch {
                logger.debug("could not renew this node's name lease", metadata: ["error": "\(String(reflecting: error))"])
                continue
            }
            guard ours else {
                throw SignerError(.configuration, """
                    another node took state.node "\(name)" while this one could not renew it (for longer than the \
                    \(leaseSeconds) s lease); this node stops so that the two do not withdraw each other's values
                    """)
            }
        }
    }

    /// Gives the name back (a clean stop), so a replacement need not wait out the lease.
    func release() async {
        do {
            try await client.query("DELETE FROM csrproxy_nodes WHERE name = \(name) AND instance = \(instance)", logger: logger)
        } catch {
            logger.debug("could not give back this node's name; its lease frees it", metadata: ["error": "\(String(reflecting: error))"])
        }
    }
}
