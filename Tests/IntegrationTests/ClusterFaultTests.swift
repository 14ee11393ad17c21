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
    /// second refuses to start (exit 78, saying who holds the name), and the first goes on
    /// issuing. A clean stop gives the name back at once; a killed node's lease frees it.
    @Test func aSecondNodeWithALiveNodesNameRefusesToStart() async throws {
        let cluster = try await SignerCluster(nodes: 2, nodeLeaseSeconds: 10)
        defer { cluster.stop() }
        let impostor = try Self.serve(try Self.settings(cluster, asNode: "node1"))
        defer { impostor.stop() }
        #expect(impostor.waitForExit(within: .seconds(30)), "a second node1 kept running")
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

        // Killed, it gives nothing back: the next one with its name starts once the lease ran out.
        successor.send(SIGKILL)
        _ = successor.waitForExit(within: .seconds(10))
        var attempts = 0, started = false
        let deadline = ContinuousClock.now + .seconds(40)
        while !started, ContinuousClock.now < deadline {
            attempts += 1
            let next = try Self.serve(try Self.settings(cluster, asNode: "node1"))
            started = try await Self.becomesReady(next, within: .seconds(5))
            if !started {
                _ = next.waitForExit(within: .seconds(10))
                try await Task.sleep(for: .milliseconds(500))
            }
            next.stop()
        }
        #expect(started, "node1's name stayed taken after its holder was killed")
        print("after a SIGKILL, node1's name was taken again at attempt \(attempts)")
    }
}
