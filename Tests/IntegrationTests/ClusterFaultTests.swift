import Foundation
import Testing
import TestSupport

/// A cluster's nodes and database misbehaving, on real PostgreSQL, pebble and signer processes.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ClusterFaultTests {
    /// Node 2's settings under `name`, on a DNS port of its own (node 2 keeps its own), written
    /// beside the cluster's.
    static func settings(_ cluster: SignerCluster, asNode name: String) throws -> String {
        var text = try String(contentsOf: cluster.configurationURL(1), encoding: .utf8)
        for (from, to) in [("node = \"node2\"", "node = \"\(name)\""), ("listen = [\"127.0.0.1:\(cluster.dnsPorts[1])\"]", "listen = [\"127.0.0.1:\(try freeDNSPort())\"]")] {
            guard text.contains(from) else { throw TestFailure("node 2's settings no longer hold \(from)") }
            text = text.replacingOccurrences(of: from, with: to)
        }
        let path = cluster.workDirectory.appendingPathComponent("node2/as-\(name)-\(UUID().uuidString).toml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func serve(_ settings: String) throws -> ServerProcess {
        try ServerProcess(try builtExecutable("csrproxy-signer"), ["serve", "-c", settings, "--log-level", "info"])
    }

    /// Waits until `process` answers /readyz with 200; false if it exits or the time runs out.
    static func becomesReady(_ process: ServerProcess, within limit: Duration) async throws -> Bool {
        let http = try await process.waitForOutput(matching: #"listening: http=(\S+)"#)
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline, process.isRunning {
            if (try? await curl(URL(string: "http://\(http)/readyz")!, timeout: .seconds(2)))?.status == 200 { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    /// Two nodes with one name would withdraw each other's values and permits at start: the
    /// second waits out a lease, then refuses to start (exit 78, saying who holds the name),
    /// and the first goes on issuing. A clean stop gives the name back at once; a killed
    /// node's lease frees it for its restart.
    @Test func aSecondNodeWithALiveNodesNameRefusesToStart() async throws {
        let cluster = try await SignerCluster(nodes: 2, nodeLeaseSeconds: 10)
        defer { cluster.stop() }
        let impostor = try Self.serve(try Self.settings(cluster, asNode: "node1"))
        defer { impostor.stop() }
        #expect(impostor.waitForExit(within: .seconds(40)), "a second node1 kept running")
        #expect(impostor.exitStatus == 78, "\(impostor.standardError.suffix(1500))")
        #expect(impostor.standardError.contains("state.node \"node1\" is held by a running node (host ") && impostor.standardError.contains("every node needs its own name"),
                "\(impostor.standardError.suffix(1500))")
        print("a second node1: exit \(impostor.exitStatus ?? -1), \(impostor.standardError.split(separator: "\n").last ?? "")")
        #expect(try await cluster.requestCertificate(node: 0).status == 200, "node 1 stopped issuing")

        // Node 1 stops cleanly: its name is free at once.
        cluster.kill(0, signal: SIGTERM)
        let successor = try Self.serve(try Self.settings(cluster, asNode: "node1"))
        defer { successor.stop() }
        #expect(try await Self.becomesReady(successor, within: .seconds(20)), "node1's name was not given back: \(successor.standardError.suffix(1500))")

        // Killed, it gives nothing back: a restart with its name waits for the lease (10 s here)
        // instead of refusing, and then starts.
        successor.send(SIGKILL)
        _ = successor.waitForExit(within: .seconds(10))
        let restarted = try Self.serve(try Self.settings(cluster, asNode: "node1"))
        defer { restarted.stop() }
        let killedAt = ContinuousClock.now
        #expect(try await Self.becomesReady(restarted, within: .seconds(30)), "node1's name stayed taken after its holder was killed: \(restarted.standardError.suffix(1500))")
        #expect(restarted.standardError.contains("waiting for its lease before refusing to start"), "\(restarted.standardError.suffix(1500))")
        print("after a SIGKILL, a restart with node1's name was ready in \(ContinuousClock.now - killedAt)")
    }
}

extension ClusterFaultTests {
    static let otherName = "app.\(SignerCluster.zone)"

    /// What an order holds in the shared state: permits, values and budget reservations.
    static func held(_ cluster: SignerCluster) async throws -> String {
        try await cluster.postgres.query("""
            SELECT (SELECT count(*) FROM csrproxy_permits) || ' permits, ' || (SELECT count(*) FROM csrproxy_challenge_values) || ' values, ' ||
                   (SELECT count(*) FROM csrproxy_ledger WHERE kind = 'pending') || ' reservations'
            """) ?? "no answer"
    }

    /// Polls until the order's leftovers are gone: within `limit`, far less than the 120 s lease
    /// that would free them otherwise.
    static func nothingHeld(_ cluster: SignerCluster, within limit: Duration = .seconds(3)) async throws -> String {
        let deadline = ContinuousClock.now + limit
        var state = try await held(cluster)
        while state != "0 permits, 0 values, 0 reservations", ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            state = try await held(cluster)
        }
        return state
    }

    /// A CA that stops answering (the front holds every challenge response) runs an order past
    /// its deadline: at the 503 its permits, value and budget reservation are gone from the
    /// shared state, not left to their 120 s lease, and the other node takes an order for the
    /// same names at once. Then the cancelled path: an order that holds one name's permit
    /// while it waits for the other's (held by a node that died, a row with a long lease)
    /// until its outer bound cancels it gives the first back at once too.
    @Test func anOrderPastItsDeadlineFreesWhatItHeldAtOnce() async throws {
        let names = [SignerCluster.name, Self.otherName]
        let cluster = try await SignerCluster(nodes: 2, deadlineSeconds: 6, leaseSeconds: 120, names: names, maxValuesPerName: 1, front: true)
        defer { cluster.stop() }
        let front = try #require(cluster.front)
        #expect(try await cluster.requestCertificate(node: 1, names: names).status == 200)

        front.holdChallengeResponses()
        let late = try await cluster.requestCertificate(node: 1, names: names)
        #expect(late.status == 503, "\(late.status) \(late.text)")
        let afterDeadline = try await Self.nothingHeld(cluster)
        print("after node 2's order ran past its deadline: \(afterDeadline)")
        #expect(afterDeadline == "0 permits, 0 values, 0 reservations")
        front.releaseChallengeResponses()
        #expect(try await cluster.requestCertificate(node: 0, names: names).status == 200, "node 1 could not take the names node 2's late order had")

        // Permits are taken in name order: app.* first, then go.*, which a dead node holds.
        _ = try await cluster.postgres.query("INSERT INTO csrproxy_permits (key, node, expires_at) VALUES ('name:\(SignerCluster.name)', 'dead-node', now() + interval '10 minutes')")
        let cancelled = try await cluster.requestCertificate(node: 1, names: names)
        #expect(cancelled.status == 503, "\(cancelled.status) \(cancelled.text)")
        let query = "SELECT count(*) FROM csrproxy_permits WHERE key = 'name:\(Self.otherName)'"
        let deadline = ContinuousClock.now + .seconds(3)
        var left = try await cluster.postgres.query(query)
        while left != "0", ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            left = try await cluster.postgres.query(query)
        }
        print("after the cancelled order: \(left ?? "?") permits left for \(Self.otherName)")
        #expect(left == "0", "the cancelled order's permit for \(Self.otherName) was left to its lease")
        _ = try await cluster.postgres.query("DELETE FROM csrproxy_permits WHERE node = 'dead-node'")
        #expect(try await cluster.requestCertificate(node: 0, names: names).status == 200)
        #expect(try await Self.nothingHeld(cluster) == "0 permits, 0 values, 0 reservations")
    }
}

extension ClusterFaultTests {
    /// A node stops (SIGSTOP) in the middle of a budget transaction, holding the CA's budget
    /// lock (a test hook parks its first reservation there): PostgreSQL ends its session after
    /// `idle_in_transaction_timeout_seconds` (3 s here), the lock with it, so the other node's
    /// order goes through within its deadline. Continued, the stopped node answers its own
    /// order with a 503 at its deadline (PostgresNIO's `withTransaction` waited for ever for a
    /// ROLLBACK on the connection the server had closed) and takes the next.
    @Test func aNodeStoppedHoldingTheBudgetLockHoldsNobodyForLong() async throws {
        let cluster = try await SignerCluster(nodes: 2, deadlineSeconds: 20, extraState: "idle_in_transaction_timeout_seconds = 3")
        defer { cluster.stop() }
        // Node 2 stops; node 1, whose DNS pebble asks, goes on.
        try await cluster.restart(1, environment: ["CSRPROXY_TEST_HOLD_BUDGET_LOCK_SECONDS": "600"])
        let node2 = try #require(cluster.nodes[1])
        let stuck = Task { try await cluster.requestCertificate(node: 1) }
        _ = try await node2.waitForOutput(matching: "test hook: holding the budget lock", in: .standardError, timeout: .seconds(20))
        node2.send(SIGSTOP)
        defer { node2.send(SIGCONT) }

        let started = ContinuousClock.now
        let other = try await cluster.requestCertificate(node: 0)
        print("with node 2 stopped inside the budget lock, node 1's order answered \(other.status) in \(ContinuousClock.now - started)")
        #expect(other.status == 200, "\(other.text)")
        #expect(try await cluster.postgres.query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == "0", "an advisory lock is still held")

        node2.send(SIGCONT)
        let failed = try await stuck.value
        print("node 2, continued, answered its own order \(failed.status) \(failed.text.prefix(300))")
        #expect(failed.status == 503, "\(failed.status) \(failed.text)")
        #expect(try await cluster.requestCertificate(node: 1).status == 200, "node 2 did not take orders again: \(node2.standardError.suffix(3000))")
    }
}

extension ClusterFaultTests {
    /// A node whose link to PostgreSQL goes silent (the relay holds every byte, as a partition
    /// does) just before a request still answers it by its deadline: the query that never
    /// returns is abandoned, not waited for (a task group would wait for TCP to give up, which
    /// takes hours). Once the link is back, the permit the abandoned query took is given back.
    @Test func aRequestNeverOutlivesItsDeadlineBecauseOfTheDatabase() async throws {
        let cluster = try await SignerCluster(nodes: 1, deadlineSeconds: 5)
        defer { cluster.stop() }
        let relay = try PartitionRelay(forwardingTo: cluster.postgres.socketPath)
        defer { relay.stop() }
        try await cluster.restart(0, replacing: [
            ("url = \"\(cluster.postgres.url)\"", "url = \"postgresql://csrproxy@127.0.0.1:\(relay.port)/postgres?sslmode=disable\""),
        ])
        #expect(try await cluster.requestCertificate(node: 0).status == 200)

        // Cut before the node's heartbeat can tell (it needs 3 s): the order's first query hangs.
        relay.cut()
        let started = ContinuousClock.now
        let answer = try await cluster.requestCertificate(node: 0)
        let took = ContinuousClock.now - started
        print("a request to a node whose database went silent answered \(answer.status) in \(took) (deadline 5 s)")
        #expect(answer.status == 503, "\(answer.status) \(answer.text.prefix(400))")
        #expect(took < .seconds(9), "the request waited \(took) for the database, past its 5 s deadline")
        relay.restore()
        try await cluster.waitUntilReady(0, timeout: .seconds(20))
        let left = try await Self.nothingHeld(cluster, within: .seconds(20))
        #expect(left == "0 permits, 0 values, 0 reservations")
        #expect(try await cluster.requestCertificate(node: 0).status == 200)
    }
}

extension ClusterFaultTests {
    /// Node 2 reaches PostgreSQL through a relay the test cuts for 20 s, silently, as a
    /// partition does (no connection closes), while 10 orders spread over the three nodes are
    /// in flight: the front holds pebble's challenge answers, so each has published its value
    /// and waits at the CA. Within 5 s node 2 fails `/readyz` and answers SERVFAIL for the
    /// challenge name (its heartbeat no longer comes back); released, every order on nodes 1
    /// and 3 issues, their all-nameserver checks leaving node 2 out. Once the relay is back,
    /// node 2 is ready again, its own orders have answered, and nothing any order held (a
    /// value, a permit, a budget reservation) is left for a lease to free.
    @Test func aNodeCutOffFromTheDatabaseStepsAsideAndLeavesNothingBehind() async throws {
        // Per-install names: one TXT value per name, as pebble's DNS client takes no truncated
        // answer (ten values at one name pass 512 bytes).
        let cluster = try await SignerCluster(nodes: 3, naming: "per-install", front: true)
        defer { cluster.stop() }
        let front = try #require(cluster.front)
        let relay = try PartitionRelay(forwardingTo: cluster.postgres.socketPath)
        defer { relay.stop() }
        try await cluster.restart(1, replacing: [
            ("url = \"\(cluster.postgres.url)\"", "url = \"postgresql://csrproxy@127.0.0.1:\(relay.port)/postgres?sslmode=disable\""),
        ])
        let node2 = cluster.baseURLs[1]
        let order = { @Sendable (node: Int) async throws -> CurlResponse in
            let install = try SignerCluster.perInstallKey()
            return try await cluster.requestCertificate(node: node, key: install.key, name: install.name)
        }
        let probe = "_acme-challenge.\(try SignerCluster.perInstallKey().name)"
        #expect(try await order(1).status == 200, "node 2 does not issue through the relay")

        front.holdChallengeResponses()
        let orders = (0..<10).map { index in (node: index % 3, answer: Task { try await order(index % 3) }) }
        let published = ContinuousClock.now + .seconds(30)
        while try await cluster.postgres.query("SELECT count(*) FROM csrproxy_challenge_values") != "10", ContinuousClock.now < published {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(try await cluster.postgres.query("SELECT count(*) FROM csrproxy_challenge_values") == "10", "the orders did not all publish their values")

        relay.cut()
        let cutAt = ContinuousClock.now
        var readyz = 0, txt = ""
        while ContinuousClock.now - cutAt < .seconds(10) {
            readyz = (try? await curl(node2.appendingPathComponent("readyz"), timeout: .seconds(2)))?.status ?? 0
            txt = try await Dig.query(port: cluster.dnsPorts[1], probe, "TXT").status
            if readyz == 503, txt == "SERVFAIL" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let steppedAside = ContinuousClock.now - cutAt
        print("node 2 cut off from PostgreSQL: /readyz \(readyz), challenge TXT \(txt), \(steppedAside) after the cut")
        #expect(readyz == 503 && txt == "SERVFAIL", "node 2 did not step aside: /readyz \(readyz), TXT \(txt)")
        #expect(steppedAside < .seconds(5), "node 2 stepped aside only \(steppedAside) after the cut")
        #expect(try await Dig.query(port: cluster.dnsPorts[1], SignerCluster.name, "A").answer.map(\.data) == ["127.0.0.1"], "the static records must still be served")
        #expect(try await order(1).status == 503, "a cut-off node must refuse new orders")

        front.releaseChallengeResponses()
        for order in orders where order.node != 1 {
            let answer = try await order.answer.value
            #expect(answer.status == 200, "an order on node \(order.node + 1) failed while node 2 was cut off: \(answer.status) \(answer.text.prefix(400))")
        }
        print("orders on nodes 1 and 3 answered \(ContinuousClock.now - cutAt) after the cut")
        // New orders on nodes 1 and 3, while node 2 is still cut off: each one's check that
        // every nameserver serves its value leaves the SERVFAIL-answering node 2 out at once.
        for node in [0, 2] {
            let started = ContinuousClock.now
            let answer = try await order(node)
            print("a new order on node \(node + 1) during the cut answered \(answer.status) in \(ContinuousClock.now - started)")
            #expect(answer.status == 200, "\(answer.status) \(answer.text.prefix(400))")
        }
        #expect(ContinuousClock.now - cutAt < .seconds(19), "the orders took the whole cut; the relay would be back before the last check")
        try await Task.sleep(until: cutAt + .seconds(20))
        relay.restore()
        let restoredAt = ContinuousClock.now
        for order in orders where order.node == 1 {
            let answer = try await order.answer.value
            print("an order on node 2 across the cut answered \(answer.status)")
            #expect([200, 503].contains(answer.status), "\(answer.status) \(answer.text.prefix(400))")
        }
        try await cluster.waitUntilReady(1, timeout: .seconds(20))
        let left = try await Self.nothingHeld(cluster, within: .seconds(20))
        print("after the relay came back: node 2 ready, \(left), \(ContinuousClock.now - restoredAt) after the restore")
        #expect(left == "0 permits, 0 values, 0 reservations")
        // Node 2 gave back what its orders held as soon as the database answered, not by lease.
        let log = cluster.nodes[1]?.standardError ?? ""
        #expect(log.contains("is done when the database answers again") && log.contains("did what waited for the shared state"), "\(log.suffix(3000))")
        #expect(try await Dig.query(port: cluster.dnsPorts[1], probe, "TXT").status != "SERVFAIL", "node 2 still does not vouch for its values")
        #expect(try await order(1).status == 200, "node 2 did not issue again: \(cluster.nodes[1]?.standardError.suffix(2000) ?? "")")
    }
}
