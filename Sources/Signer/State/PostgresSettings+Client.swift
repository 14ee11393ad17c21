import Logging
import NIOSSL
import PostgresNIO

extension SignerConfiguration.PostgresSettings {
    /// A PostgresNIO client for these settings: a socket directory, or TCP with TLS required
    /// unless `sslmode=disable` (a database on another host carries the cluster's state).
    func makeClient(logger: Logger) -> PostgresClient {
        var configuration: PostgresClient.Configuration
        switch server {
        case .socket(let directory, let port):
            configuration = .init(unixSocketPath: "\(directory)/.s.PGSQL.\(port)", username: username, password: password, database: database)
        case .tcp(let host, let port, let requireTLS):
            let tls: PostgresClient.Configuration.TLS = requireTLS ? .require(.makeClientConfiguration()) : .disable
            configuration = .init(host: host, port: port, username: username, password: password, database: database, tls: tls)
        }
        configuration.options.connectTimeout = .seconds(3)
        // Per session, from the start: no transaction of this node can hold the others longer.
        configuration.options.additionalStartupParameters = [
            ("statement_timeout", Self.milliseconds(statementTimeout)),
            ("lock_timeout", Self.milliseconds(lockTimeout)),
            ("idle_in_transaction_session_timeout", Self.milliseconds(idleInTransactionTimeout)),
        ]
        configuration.options.maximumConnections = 16
        return PostgresClient(configuration: configuration, backgroundLogger: logger)
    }

    static func milliseconds(_ duration: Duration) -> String {
        String(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
    }
}

/// `csrproxy-signer migrate`: brings the shared state's schema up to date and says what it did.
public enum SharedStateSchema {
    public static func migrate(configuration: SignerConfiguration, logger: Logger) async throws -> (from: Int, to: Int) {
        guard case .postgres(let settings) = configuration.state.backend else {
            throw SignerError(.configuration, "state.backend is \"memory\": there is no shared state to migrate")
        }
        let client = settings.makeClient(logger: logger)
        return try await withThrowingTaskGroup(of: (Int, Int)?.self) { group in
            group.addTask { await client.run(); return nil }
            defer { group.cancelAll() }
            do {
                return try await StateMigrations.migrate(client, logger: logger)
            } catch let error as PSQLError {
                throw SignerError(.stateUnavailable, "cannot migrate the shared state: \(error.serverInfo?[.message] ?? "\(error.code)")")
            }
        }
    }
}

extension PostgresClient {
    /// BEGIN, `body`, COMMIT on one connection; ROLLBACK when `body` throws, unless the server
    /// has closed the connection already (it ends a session left idle in a transaction after
    /// idle_in_transaction_session_timeout): PostgresNIO's own `withTransaction` then waits for
    /// a ROLLBACK that never comes, and the order holding it outlives its deadline. What `body`
    /// throws is thrown as it is, not wrapped.
    func transaction<Result: Sendable>(logger: Logger, _ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        try await withConnection { connection in
            try await connection.query("BEGIN", logger: logger)
            do {
                let result = try await body(connection)
                try await connection.query("COMMIT", logger: logger)
                return result
            } catch {
                if !connection.isClosed { _ = try? await connection.query("ROLLBACK", logger: logger) }
                throw error
            }
        }
    }
}
