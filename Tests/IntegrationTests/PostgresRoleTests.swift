import Foundation
import Testing
import TestSupport

/// Nodes that run as a role without DDL rights: the tables' owner migrates
/// (`csrproxy-signer migrate --database-url`) and grants the nodes' role its rows; a node
/// that finds the schema behind waits, not ready, and says why. Real PostgreSQL 15, whose
/// `public` schema in a new database gives roles other than its owner no CREATE.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct PostgresRoleTests {
    @Test func nodesRunAsARoleThatCannotChangeTheSchema() async throws {
        let cluster = try await SignerCluster(nodes: 1)
        defer { cluster.stop() }
        let postgres = cluster.postgres
        for statement in ["CREATE ROLE csrproxy_owner LOGIN", "CREATE ROLE csrproxy_node LOGIN", "CREATE DATABASE fleet OWNER csrproxy_owner"] {
            let created = try await postgres.psql(statement)
            #expect(created.status == 0, "\(statement): \(created.standardError)")
        }
        func url(_ role: String) -> String { "postgresql://\(role)@/fleet?host=\(postgres.directory.path)&port=\(postgres.port)" }
        let configuration = cluster.configurationURL(0)

        // The node, as its own role, on an empty database: it may not create the tables.
        cluster.kill(0, signal: SIGTERM)
        let settings = try String(contentsOf: configuration, encoding: .utf8)
        #expect(settings.contains("url = \"\(postgres.url)\""))
        try settings.replacingOccurrences(of: "url = \"\(postgres.url)\"", with: "url = \"\(url("csrproxy_node"))\"")
            .write(to: configuration, atomically: true, encoding: .utf8)
        try await cluster.start(0)
        let node = try #require(cluster.nodes[0])
        let waiting = try await node.waitForOutput(matching: "may not change it[^\n]*", in: .standardError, timeout: .seconds(20))
        print("the node before migrate: \(waiting)")
        #expect(try await curl(cluster.baseURLs[0].appendingPathComponent("readyz"), timeout: .seconds(5)).status == 503)
        let signer = try builtExecutable("csrproxy-signer")
        let refused = try await runCommand(signer, ["migrate", "-c", configuration.path], timeout: .seconds(60))
        print("migrate as the node's role: exit \(refused.status), \(refused.standardError.suffix(400))")
        #expect(refused.status == 78 && refused.standardError.contains("may not change it"))

        // The owner migrates and grants; the node goes on by itself and issues.
        let migrated = try await runCommand(signer, ["migrate", "-c", configuration.path, "--database-url", url("csrproxy_owner")], timeout: .seconds(60))
        print("migrate as the owner: exit \(migrated.status), \(migrated.standardOutput)")
        #expect(migrated.status == 0, "\(migrated.standardError)")
        #expect(migrated.standardOutput.contains("schema version 0 -> ") && migrated.standardOutput.contains("granted role csrproxy_node rows of csrproxy_"))
        try await cluster.waitUntilReady(0, timeout: .seconds(20))
        #expect(try await cluster.requestCertificate(node: 0).status == 200)

        // The node's role reads and writes rows, and changes nothing else.
        let owners = try await postgres.psql("SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables WHERE tablename LIKE 'csrproxy%'", database: "fleet")
        #expect(owners.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == "csrproxy_owner")
        let rows = try await postgres.psql("SELECT count(*) FROM csrproxy_ledger WHERE kind = 'certificate'", user: "csrproxy_node", database: "fleet")
        #expect(rows.status == 0 && (Int(rows.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) >= 1, "\(rows.standardOutput) \(rows.standardError)")
        for statement in ["CREATE TABLE intruder (x int)", "ALTER TABLE csrproxy_ledger ADD COLUMN x int", "DROP TABLE csrproxy_permits", "DELETE FROM csrproxy_schema"] {
            let denied = try await postgres.psql(statement, user: "csrproxy_node", database: "fleet")
            print("as the node's role, \(statement): \(denied.standardError.trimmingCharacters(in: .whitespacesAndNewlines))")
            #expect(denied.status != 0 && (denied.standardError.contains("permission denied") || denied.standardError.contains("must be owner")))
        }
        let again = try await runCommand(signer, ["migrate", "-c", configuration.path], timeout: .seconds(60))
        #expect(again.status == 0 && again.standardOutput.contains("already at schema version"), "\(again.standardError)")
    }
}
