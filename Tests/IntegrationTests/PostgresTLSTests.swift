import Foundation
import Testing
import TestSupport

/// A node's link to a PostgreSQL on another host: TLS, the server's certificate verified
/// (chain and name) against `sslrootcert`, a private database CA's root, when the URL names
/// one, and against the system's roots otherwise. Real PostgreSQL with `ssl = on` on
/// 127.0.0.1, its certificate from a throwaway CA.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct PostgresTLSTests {
    @Test func aNodeTrustsItsDatabaseOnlyThroughTheRootItIsGiven() async throws {
        let database = try TestCertificates.localhostServerIdentity()
        let cluster = try await SignerCluster(nodes: 1, databaseTLS: (database.certificatePEM, database.keyPEM))
        defer { cluster.stop() }
        let root = cluster.workDirectory.appendingPathComponent("database-ca.pem").path
        try database.caPEM.write(toFile: root, atomically: true, encoding: .utf8)
        let stranger = cluster.workDirectory.appendingPathComponent("another-ca.pem").path
        try TestCertificates.localhostServerIdentity().caPEM.write(toFile: stranger, atomically: true, encoding: .utf8)
        var current = "url = \"\(cluster.postgres.url)\""
        func over(_ query: String) -> String { "url = \"postgresql://csrproxy@127.0.0.1:\(cluster.postgres.port)/postgres?\(query)\"" }

        // The database CA's root: ready, issuing, and the node's sessions are TLS ones.
        try await cluster.restart(0, replacing: [(current, over("sslmode=verify-full&sslrootcert=\(root)"))])
        current = over("sslmode=verify-full&sslrootcert=\(root)")
        #expect(try await cluster.requestCertificate(node: 0).status == 200)
        let sessions = try await cluster.postgres.query(
            "SELECT count(*) FILTER (WHERE s.ssl) || '/' || count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.client_addr = '127.0.0.1'")
        print("the node's sessions over TCP, TLS/all: \(sessions ?? "?")")
        let counts = (sessions ?? "0/0").split(separator: "/").compactMap { Int($0) }
        #expect(counts.count == 2 && counts[0] > 0 && counts[0] == counts[1], "\(sessions ?? "no answer")")

        // Another CA's root, then the system's roots (`require` verifies too): the node never
        // becomes ready, and says why.
        for query in ["sslmode=verify-full&sslrootcert=\(stranger)", "sslmode=require"] {
            cluster.kill(0, signal: SIGTERM)
            let settings = try String(contentsOf: cluster.configurationURL(0), encoding: .utf8)
            #expect(settings.contains(current))
            try settings.replacingOccurrences(of: current, with: over(query)).write(to: cluster.configurationURL(0), atomically: true, encoding: .utf8)
            current = over(query)
            try await cluster.start(0)
            let node = try #require(cluster.nodes[0])
            _ = try await node.waitForOutput(matching: "cannot reach the shared state", in: .standardError, timeout: .seconds(20))
            let readyz = try await curl(cluster.baseURLs[0].appendingPathComponent("readyz"), timeout: .seconds(5))
            let said = node.standardError.split(separator: "\n").first { $0.contains("cannot reach the shared state") } ?? ""
            print("\(query): /readyz \(readyz.status); \(said.suffix(300))")
            #expect(readyz.status == 503)
            #expect(said.contains("CERTIFICATE_VERIFY_FAILED"), "\(node.standardError.suffix(2000))")
        }
    }
}
