import Foundation
import Synchronization
import Testing
import TestSupport

/// Several signer nodes on one PostgreSQL (Debian's 15, initdb'd by the test), every node a
/// nameserver of the zone: a value published on any node is served by all of them.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ClusterTests {
    static let challenge = "_acme-challenge.\(SignerCluster.name)"

    static func soaSerial(port: Int) async throws -> String {
        let answer = try await Dig.query(port: port, SignerCluster.zone, "SOA")
        guard let soa = answer.answer.first(where: { $0.type == "SOA" }) else { throw TestFailure("no SOA: \(answer.raw)") }
        return String(soa.data.split(separator: " ").dropFirst(2).first ?? "")
    }

    /// Pebble asks node 1's DNS only, and every order goes to node 2 or 3: each issues, so each
    /// value reached node 1 through the database. Afterwards no node serves a value, and all
    /// show the same SOA serial.
    @Test func valuesPublishedOnAnyNodeAreServedByAll() async throws {
        let cluster = try await SignerCluster(nodes: 3)
        defer { cluster.stop() }
        let root = try await cluster.pebble.rootPEM()
        for round in 0..<6 {
            let response = try await cluster.requestCertificate(node: 1 + round % 2)
            try #require(response.status == 200, "round \(round): \(response.text)")
            #expect(try await TestCertificates.verify(chain: try TestCertificates.chain(fromPEM: response.text), rootPEM: root))
        }
        let deadline = ContinuousClock.now + .seconds(10)
        var serials: [String] = []
        var leftovers: [[DigRecord]] = []
        repeat {
            serials = []
            leftovers = []
            for port in cluster.dnsPorts {
                serials.append(try await Self.soaSerial(port: port))
                leftovers.append(try await Dig.query(port: port, Self.challenge, "TXT").answer.filter { $0.type == "TXT" })
            }
            if Set(serials).count == 1, leftovers.allSatisfy({ $0.isEmpty }) { break }
            try await Task.sleep(for: .milliseconds(100))
        } while ContinuousClock.now < deadline
        #expect(Set(serials).count == 1, "every node shows the same serial for the same data: \(serials)")
        let nothingLeft = leftovers.allSatisfy { $0.isEmpty }
        #expect(nothingLeft, "values left behind: \(leftovers)")
    }

    /// `signer_urls`: an agent whose first signer cannot be reached moves on to the next at once
    /// and installs from it; with that one killed too, a renewal reaches the third. Node 1, the
    /// one pebble asks, goes ahead although node 2's DNS no longer answers (resolvers skip a
    /// nameserver that does not answer, as the signer does).
    @Test func theAgentMovesOnToTheNextSigner() async throws {
        let cluster = try await SignerCluster(nodes: 2)
        defer { cluster.stop() }
        let closed = try freeTCPPort()
        let work = cluster.workDirectory
        let rootPath = work.appendingPathComponent("issuing-root.pem").path
        try await cluster.pebble.rootPEM().write(toFile: rootPath, atomically: true, encoding: .utf8)
        let configuration = work.appendingPathComponent("agent.toml").path
        let urls = ["http://127.0.0.1:\(closed)", cluster.baseURLs[1].absoluteString, cluster.baseURLs[0].absoluteString]
        try """
            signer_urls = [\(urls.map { "\"\($0)\"" }.joined(separator: ", "))]
            name = "\(SignerCluster.name)"
            directory = "\(work.path)/agent-tls"
            ca_bundle = "\(rootPath)"
            deadline_seconds = 30
            """.write(toFile: configuration, atomically: true, encoding: .utf8)
        let agent = try builtExecutable("csrproxy-agent")
        let issued = try await runCommand(agent, ["issue", "-c", configuration])
        #expect(issued.status == 0, "\(issued.standardOutput) \(issued.standardError)")
        #expect(issued.standardOutput.contains("trying \(urls[1])"), "\(issued.standardOutput)")

        // Node 2 gone too: a forced renewal reaches node 1 without waiting out a backoff.
        cluster.kill(1)
        let started = ContinuousClock.now
        let renewed = try await runCommand(agent, ["renew", "--force", "-c", configuration])
        #expect(renewed.status == 0, "\(renewed.standardOutput) \(renewed.standardError)")
        #expect(renewed.standardOutput.contains("trying \(urls[2])"), "\(renewed.standardOutput)")
        #expect(ContinuousClock.now - started < .seconds(15), "\(renewed.standardOutput)")
    }

    /// 20 concurrent installs of one name spread over three nodes: all issue, and sampling every
    /// node's DNS during the run never shows more values than the per-name cap (8) in `set`
    /// mode, or more than one (one order per zone at a time) in `lock` mode.
    @Test(arguments: [("set", 8), ("lock", 1)])
    func theGateHoldsAcrossNodes(concurrency: String, cap: Int) async throws {
        let cluster = try await SignerCluster(nodes: 3, concurrency: concurrency, deadlineSeconds: 120)
        defer { cluster.stop() }
        let most = Mutex(0)
        let sampler = Task {
            while !Task.isCancelled {
                if let served = try? await Self.served(cluster, nodes: [0, 1, 2]) {
                    most.withLock { $0 = max($0, served.map(\.count).max() ?? 0) }
                }
                try? await Task.sleep(for: .milliseconds(5))
            }
        }
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<20 { group.addTask { try await cluster.requestCertificate(node: index % 3).status } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        sampler.cancel()
        _ = await sampler.result
        #expect(statuses == Array(repeating: 200, count: 20), "\(statuses)")
        let seen = most.withLock { $0 }
        #expect(seen <= cap, "at most \(cap) values at once, saw \(seen)")
        if concurrency == "lock" {
            // One value lives a few milliseconds at a time, which the sampling may miss; pebble's
            // own log shows the one order at a time.
            #expect(cluster.pebble.peakOverlappingOrders == 1)
        } else {
            // That orders overlapped is read from pebble's log, not from what the sampling
            // happened to catch (a value lives a few milliseconds).
            #expect(cluster.pebble.peakOverlappingOrders > 1)
        }
    }

    /// The CA budget holds for the cluster, not per node: with a budget of 3 new certificates
    /// for the registered domain, 6 installs spread over three nodes get 3 certificates and 3
    /// `budget-exhausted` answers (each node alone would have let 3 through).
    @Test func theBudgetIsTheClustersNotEachNodes() async throws {
        let cluster = try await SignerCluster(nodes: 3, domainBudget: 3)
        defer { cluster.stop() }
        var statuses: [Int] = []
        var refusals: [String] = []
        for index in 0..<6 {
            let response = try await cluster.requestCertificate(node: index % 3)
            statuses.append(response.status)
            if response.status == 429 { refusals.append(response.text) }
        }
        #expect(statuses.filter { $0 == 200 }.count == 3 && statuses.filter { $0 == 429 }.count == 3, "\(statuses)")
        #expect(refusals.allSatisfy { $0.contains("budget-exhausted") && $0.contains("across the signer nodes") }, "\(refusals)")
    }

    /// The TXT values each node serves at the challenge name now.
    static func served(_ cluster: SignerCluster, nodes: [Int]) async throws -> [[String]] {
        var all: [[String]] = []
        for index in nodes {
            all.append(try await Dig.query(port: cluster.dnsPorts[index], Self.challenge, "TXT").answer.filter { $0.type == "TXT" }.map(\.data))
        }
        return all
    }

    /// `kill -9` of node 3 with 10 orders in flight on it and on node 2 (per-install names, so
    /// each value has a name of its own and no cap holds an order back): node 2's orders
    /// complete (node 3's DNS no longer answers, and is left out as resolvers leave it out);
    /// node 3's values are withdrawn by the others once their lease runs out; node 3 restarted
    /// rejoins by itself and issues again.
    @Test func aNodeKilledMidOrderIsCleanedUpAndRejoins() async throws {
        let cluster = try await SignerCluster(nodes: 3, naming: "per-install", deadlineSeconds: 25, leaseSeconds: 25, validationSleeps: true, front: true)
        defer { cluster.stop() }
        // No order may finish before node 3 is killed: pebble's random validation sleep is
        // sometimes 0 s, and an order of node 3 that completed first was once answered 200.
        // The front holds every certificate download until the kill.
        let front = try #require(cluster.front)
        front.holdDownloads()
        let installs = try (0..<10).map { index in (node: index % 2 == 0 ? 1 : 2, install: try SignerCluster.perInstallKey()) }
        let results = Task {
            try await withThrowingTaskGroup(of: (Int, Int).self) { group in
                for (node, install) in installs {
                    group.addTask { (node, (try? await cluster.requestCertificate(node: node, key: install.key, name: install.name))?.status ?? -1) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }
        // Wait until node 1's DNS serves some of node 3's values, then kill node 3 without a word.
        let node3Names = installs.filter { $0.node == 2 }.map { "_acme-challenge.\($0.install.name)" }
        func servedByNode1(_ names: [String]) async throws -> Int {
            var count = 0
            for name in names { count += try await Dig.query(port: cluster.dnsPorts[0], name, "TXT").answer.filter { $0.type == "TXT" }.count }
            return count
        }
        let published = ContinuousClock.now + .seconds(10)
        while try await servedByNode1(node3Names) < 2, ContinuousClock.now < published {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(try await servedByNode1(node3Names) >= 2, "node 3's values never reached node 1")
        cluster.kill(2)
        front.releaseDownloads()
        let killedAt = ContinuousClock.now
        let statuses = try await results.value
        #expect(statuses.filter { $0.0 == 1 }.map(\.1) == Array(repeating: 200, count: 5), "node 2's orders: \(statuses)")
        #expect(statuses.filter { $0.0 == 2 }.allSatisfy { $0.1 != 200 }, "node 3 died: \(statuses)")

        // Within the lease (25 s) and a reconciliation (5 s), neither node serves any value.
        let allNames = installs.map { "_acme-challenge.\($0.install.name)" }
        func left() async throws -> Int {
            var count = 0
            for port in cluster.dnsPorts.prefix(2) {
                for name in allNames { count += try await Dig.query(port: port, name, "TXT").answer.filter { $0.type == "TXT" }.count }
            }
            return count
        }
        var remaining = try await left()
        while remaining > 0, ContinuousClock.now - killedAt < .seconds(40) {
            try await Task.sleep(for: .milliseconds(500))
            remaining = try await left()
        }
        #expect(remaining == 0, "\(remaining) values still served \(ContinuousClock.now - killedAt) after the kill")

        try await cluster.start(2)
        try await cluster.waitUntilReady(2)
        let again = try SignerCluster.perInstallKey()
        let response = try await cluster.requestCertificate(node: 2, key: again.key, name: again.name)
        #expect(response.status == 200, "\(response.text)")
    }

    /// PostgreSQL stopped for 10 s: every node's /readyz fails and new requests get 503 with
    /// Retry-After, while DNS keeps answering the zone's static records; within 5 s of its
    /// return the nodes take orders again, and no value is left behind.
    @Test func aDatabaseOutageGives503AndServiceComesBack() async throws {
        let cluster = try await SignerCluster(nodes: 2)
        defer { cluster.stop() }
        #expect(try await cluster.requestCertificate(node: 1).status == 200)
        cluster.postgres.stop()
        let stoppedAt = ContinuousClock.now
        var sawNotReady = false
        var statuses: [Int] = []
        var challengeStatuses: [String] = []
        while ContinuousClock.now - stoppedAt < .seconds(10) {
            let ready = try await curl(cluster.baseURLs[0].appendingPathComponent("readyz"))
            if ready.status == 503 { sawNotReady = true }
            let response = try await cluster.requestCertificate(node: 1)
            statuses.append(response.status)
            if response.status == 503 {
                #expect(response.headers["retry-after"] != nil, "\(response.headers)")
                // The database's own error is for the log: the requester gets the kind and an id.
                #expect(!response.text.contains("PostgreSQL") && !response.text.contains("connection") && response.text.contains("request "), "\(response.text)")
            }
            let answer = try await Dig.query(port: cluster.dnsPorts[1], SignerCluster.name, "A")
            #expect(answer.status == "NOERROR" && answer.answer.contains { $0.data == "127.0.0.1" }, "\(answer.raw)")
            // The challenge values may be stale: TXT questions get SERVFAIL, so resolvers ask elsewhere.
            challengeStatuses.append(try await Dig.query(port: cluster.dnsPorts[1], Self.challenge, "TXT").status)
            try await Task.sleep(for: .milliseconds(500))
        }
        #expect(sawNotReady)
        #expect(challengeStatuses.dropFirst(2).allSatisfy { $0 == "SERVFAIL" }, "\(challengeStatuses)")
        #expect(statuses.dropFirst(2).allSatisfy { $0 == 503 }, "\(statuses)")

        try await cluster.postgres.start()
        let back = ContinuousClock.now
        var status = 0
        while ContinuousClock.now - back < .seconds(5) {
            status = (try? await cluster.requestCertificate(node: 1))?.status ?? 0
            if status == 200 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(status == 200, "no service within 5 s of the database's return")
        #expect(try await curl(cluster.baseURLs[1].appendingPathComponent("readyz")).status == 200)
        // Vouched for again: the name has no value now, so NXDOMAIN, not SERVFAIL.
        #expect(try await Dig.query(port: cluster.dnsPorts[1], Self.challenge, "TXT").status == "NXDOMAIN")
        let left = try await Self.served(cluster, nodes: [0, 1])
        #expect(left.joined().isEmpty, "\(left)")
    }
}
