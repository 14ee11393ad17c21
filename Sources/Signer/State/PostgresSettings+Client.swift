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
        configuration.options.maximumConnections = 16
        return PostgresClient(configuration: configuration, backgroundLogger: logger)
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
