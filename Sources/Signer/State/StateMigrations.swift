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
        // 6: one round trip, not five or six, for the steps every order takes: a permit
        //    taken (lock, count, insert) or given back (and the waiters on every node told),
        //    and a challenge value published or withdrawn (the row, the
        //    zone's serial, the notification, and the zone as it now is, for this node's
        //    replica). PL/pgSQL takes a snapshot per statement, so the count after the lock
        //    sees every permit committed before it; the lock ends with the call's transaction.
        [
            """
            CREATE FUNCTION csrproxy_take_permit(p_key text, p_capacity bigint, p_node text, p_lease_seconds bigint)
            RETURNS bigint LANGUAGE plpgsql AS $$
            DECLARE
                taken bigint;
            BEGIN
                PERFORM pg_advisory_xact_lock(hashtext(p_key));
                IF (SELECT count(*) FROM csrproxy_permits WHERE key = p_key AND expires_at > now()) >= p_capacity THEN
                    RETURN NULL;
                END IF;
                INSERT INTO csrproxy_permits (key, node, expires_at)
                VALUES (p_key, p_node, now() + make_interval(secs => p_lease_seconds))
                RETURNING id INTO taken;
                RETURN taken;
            END
            $$
            """,
            """
            CREATE FUNCTION csrproxy_release_permits(p_ids bigint[])
            RETURNS integer LANGUAGE plpgsql AS $$
            DECLARE
                released text;
                given_back integer := 0;
            BEGIN
                FOR released IN DELETE FROM csrproxy_permits WHERE id = ANY(p_ids) RETURNING key LOOP
                    PERFORM pg_notify('csrproxy_challenges', 'permit ' || released);
                    given_back := given_back + 1;
                END LOOP;
                RETURN given_back;
            END
            $$
            """,
            """
            CREATE FUNCTION csrproxy_zone_now(p_zone text)
            RETURNS TABLE (serial bigint, name text, value text) LANGUAGE sql STABLE AS $$
                SELECT s.serial, v.name, v.value FROM csrproxy_zone_serials s
                LEFT JOIN csrproxy_challenge_values v ON v.zone = s.zone AND v.expires_at > now()
                WHERE s.zone = p_zone
            $$
            """,
            """
            CREATE FUNCTION csrproxy_publish_value(p_zone text, p_name text, p_value text, p_node text, p_lease_seconds bigint)
            RETURNS TABLE (id bigint, serial bigint, name text, value text) LANGUAGE plpgsql AS $$
            DECLARE
                inserted bigint;
            BEGIN
                INSERT INTO csrproxy_challenge_values (zone, name, value, node, expires_at)
                VALUES (p_zone, p_name, p_value, p_node, now() + make_interval(secs => p_lease_seconds))
                RETURNING csrproxy_challenge_values.id INTO inserted;
                UPDATE csrproxy_zone_serials SET serial = csrproxy_zone_serials.serial + 1 WHERE zone = p_zone;
                PERFORM pg_notify('csrproxy_challenges', p_zone);
                RETURN QUERY SELECT inserted, z.serial, z.name, z.value FROM csrproxy_zone_now(p_zone) z;
            END
            $$
            """,
            """
            CREATE FUNCTION csrproxy_withdraw_value(p_id bigint, p_zone text)
            RETURNS TABLE (serial bigint, name text, value text) LANGUAGE plpgsql AS $$
            BEGIN
                DELETE FROM csrproxy_challenge_values WHERE id = p_id;
                UPDATE csrproxy_zone_serials SET serial = csrproxy_zone_serials.serial + 1 WHERE zone = p_zone;
                PERFORM pg_notify('csrproxy_challenges', p_zone);
                RETURN QUERY SELECT z.serial, z.name, z.value FROM csrproxy_zone_now(p_zone) z;
            END
            $$
            """,
        ],
    ]

    static var latest: Int { versions.count }

    /// The schema's version: 0 before the first migration.
    static func version(_ client: PostgresClient, logger: Logger) async throws -> Int {
        var found = 0
        for try await exists in try await client.query("SELECT to_regclass('csrproxy_schema') IS NOT NULL", logger: logger).decode(Bool.self) where exists {
            for try await version in try await client.query("SELECT coalesce(max(version), 0) FROM csrproxy_schema", logger: logger).decode(Int.self) {
                found = version
            }
        }
        return found
    }

    /// Brings the schema to the latest version; returns the version found and the one left.
    /// A schema already at the latest version is only read, so nodes may run as a role that
    /// has no right to change it (`migrate --database-url` with the tables' owner does that);
    /// `role` is who the client logs in as, for the message when it may not.
    @discardableResult
    static func migrate(_ client: PostgresClient, role: String, logger: Logger) async throws -> (from: Int, to: Int) {
        let current = try await version(client, logger: logger)
        guard current <= latest else { throw newer(current) }
        if current == latest { return (current, latest) }
        do {
            return try await client.transaction(logger: logger) { connection in
                try await connection.query("CREATE TABLE IF NOT EXISTS csrproxy_schema (version integer NOT NULL)", logger: logger)
                try await connection.query("LOCK TABLE csrproxy_schema IN EXCLUSIVE MODE", logger: logger)
                var found = 0
                for try await version in try await connection.query("SELECT coalesce(max(version), 0) FROM csrproxy_schema", logger: logger).decode(Int.self) {
                    found = version
                }
                guard found <= latest else { throw newer(found) }
                for version in found..<latest {
                    for statement in versions[version] {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.query("INSERT INTO csrproxy_schema (version) VALUES (\(version + 1))", logger: logger)
                    logger.notice("applied a state schema migration", metadata: ["state.schema.version": "\(version + 1)"])
                }
                return (found, latest)
            }
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "42501" {
            throw SignerError(
                .configuration,
                "the shared state's schema is at version \(current) and this signer needs \(latest), but PostgreSQL role \(role) may not change it (\(error.serverInfo?[.message] ?? "insufficient privilege")); run csrproxy-signer migrate --database-url postgresql://OWNER@... as the role that owns the tables")
        }
    }

    private static func newer(_ found: Int) -> SignerError {
        SignerError(.configuration, "the database's schema is version \(found), newer than this signer knows (\(latest)); upgrade the signer")
    }

    /// What a node's role needs, given by the tables' owner: rows of every table (the schema's
    /// version only to read), the sequences behind the ids, and the schema itself. Nothing
    /// that changes the schema. Returns the objects named, for the operator.
    static func grant(to role: String, _ client: PostgresClient, logger: Logger) async throws -> [String] {
        let who = quoted(role)
        var statements: [String] = []
        var named: [String] = []
        for try await schema in try await client.query("SELECT current_schema()::text", logger: logger).decode(String.self) {
            statements.append("GRANT USAGE ON SCHEMA \(quoted(schema)) TO \(who)")
        }
        let objects = try await client.query(
            """
            SELECT c.relname::text, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = current_schema() AND c.relname LIKE 'csrproxy\\_%' AND c.relkind IN ('r', 'S') ORDER BY 1
            """, logger: logger)
        for try await (name, kind) in objects.decode((String, String).self) {
            switch (kind, name) {
            case ("S", _): statements.append("GRANT USAGE, SELECT ON SEQUENCE \(quoted(name)) TO \(who)")
            case (_, "csrproxy_schema"): statements.append("GRANT SELECT ON TABLE \(quoted(name)) TO \(who)")
            default: statements.append("GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE \(quoted(name)) TO \(who)")
            }
            named.append(name)
        }
        try await client.transaction(logger: logger) { connection in
            for statement in statements { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
        }
        return named
    }

    /// An SQL identifier, quoted: GRANT takes no parameters.
    static func quoted(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
