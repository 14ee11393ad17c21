import Logging
import PostgresNIO

/// The shared state's schema, created and moved forward by the signer itself: versioned
/// migrations applied in order, each once, in one transaction with the version row, under a
/// table lock so nodes that start together do not apply one twice. `csrproxy-signer migrate`
/// runs them by hand; `serve` runs them at start.
enum StateMigrations {
    /// Each version's statements. Append; never edit one that has shipped.
    static let versions: [[String]] = [
        // 1: challenge values with their owner node and lease; one serial per zone, which every
        //    node's SOA shows, so the same data has the same serial everywhere.
        [
            """
            CREATE TABLE csrproxy_challenge_values (
                id bigserial PRIMARY KEY,
                zone text NOT NULL,
                name text NOT NULL,
                value text NOT NULL,
                node text NOT NULL,
                expires_at timestamptz NOT NULL
            )
            """,
            "CREATE INDEX csrproxy_challenge_values_zone ON csrproxy_challenge_values (zone)",
            "CREATE INDEX csrproxy_challenge_values_node ON csrproxy_challenge_values (node)",
            "CREATE TABLE csrproxy_zone_serials (zone text PRIMARY KEY, serial bigint NOT NULL)",
        ],
        // 2: the issuance gate's permits, cluster-wide, each with its node and lease.
        [
            """
            CREATE TABLE csrproxy_permits (
                id bigserial PRIMARY KEY,
                key text NOT NULL,
                node text NOT NULL,
                expires_at timestamptz NOT NULL
            )
            """,
            "CREATE INDEX csrproxy_permits_key ON csrproxy_permits (key)",
        ],
        // 3: the issuance ledger, cluster-wide: orders and certificates per CA for the budgets,
        //    and reservations in progress (kind 'pending', with a lease).
        [
            """
            CREATE TABLE csrproxy_ledger (
                id bigserial PRIMARY KEY,
                kind text NOT NULL,
                at timestamptz NOT NULL DEFAULT now(),
                expires_at timestamptz,
                node text NOT NULL,
                zone text NOT NULL,
                ca text NOT NULL,
                names text NOT NULL,
                registered_domain text NOT NULL,
                renewal boolean NOT NULL,
                certificate_id text,
                key_sha256 text
            )
            """,
            "CREATE INDEX csrproxy_ledger_ca ON csrproxy_ledger (ca, kind, at)",
            "CREATE INDEX csrproxy_ledger_certificate ON csrproxy_ledger (certificate_id)",
        ],
        // 4: which certificate each exempt renewal replaced, so a CertID exempts one renewal
        //    only, on whichever node it is asked.
        [
            "ALTER TABLE csrproxy_ledger ADD COLUMN replaced text",
            "CREATE INDEX csrproxy_ledger_replaced ON csrproxy_ledger (replaced) WHERE replaced IS NOT NULL",
        ],
        // 5: which process holds each node name, with a lease: one live node per name.
        [
            """
            CREATE TABLE csrproxy_nodes (
                name text PRIMARY KEY,
                instance text NOT NULL,
                started_at timestamptz NOT NULL,
                expires_at timestamptz NOT NULL
            )
            """,
        ],
    ]

    static var latest: Int { versions.count }

    /// Brings the schema to the latest version; returns the version found and the one left.
    @discardableResult
    static func migrate(_ client: PostgresClient, logger: Logger) async throws -> (from: Int, to: Int) {
        try await client.transaction(logger: logger) { connection in
            try await connection.query("CREATE TABLE IF NOT EXISTS csrproxy_schema (version integer NOT NULL)", logger: logger)
            try await connection.query("LOCK TABLE csrproxy_schema IN EXCLUSIVE MODE", logger: logger)
            var found = 0
            for try await version in try await connection.query("SELECT coalesce(max(version), 0) FROM csrproxy_schema", logger: logger).decode(Int.self) {
                found = version
            }
            guard found <= latest else {
                throw SignerError(.stateUnavailable, "the database's schema is version \(found), newer than this signer knows (\(latest)); upgrade the signer")
            }
            for version in found..<latest {
                for statement in versions[version] {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query("INSERT INTO csrproxy_schema (version) VALUES (\(version + 1))", logger: logger)
                logger.notice("applied a state schema migration", metadata: ["state.schema.version": "\(version + 1)"])
            }
            return (found, latest)
        }
    }
}
