import CertificateSupport
import Logging
import NIOSSL
import PostgresNIO

extension SignerConfiguration.PostgresSettings {
    /// A PostgresNIO client for these settings: a socket directory, or TCP with TLS required
    /// unless `sslmode=disable` (a database on another host carries the cluster's state).
    /// With TLS the server's certificate is always verified, chain and name (libpq's
    /// `verify-full`, whether the URL says `require` or `verify-full`): against
    /// `rootCertificatePath` when set, the system's roots otherwise.
    func makeClient(logger: Logger) throws -> PostgresClient {
        var configuration: PostgresClient.Configuration
        switch server {
        case .socket(let directory, let port):
            configuration = .init(unixSocketPath: "\(directory)/.s.PGSQL.\(port)", username: username, password: password, database: database)
        case .tcp(let host, let port, _):
            let tls: PostgresClient.Configuration.TLS = try tlsConfiguration().map { .require($0) } ?? .disable
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

    /// TLS for a TCP connection, nil without (`sslmode=disable`, or a socket directory).
    private func tlsConfiguration() throws -> TLSConfiguration? {
        guard case .tcp(_, _, true) = server else { return nil }
        var client = TLSConfiguration.makeClientConfiguration()
        client.certificateVerification = .fullVerification
        if let path = rootCertificatePath { client.trustRoots = .certificates(try Self.databaseRoots(path)) }
        return client
    }

    /// Why the database cannot be reached, found with one connection of its own (nil when it
    /// can): the client's pool retries for a minute before it fails a waiting query, and says
    /// why (a certificate it cannot verify, a refused password) only in its own debug log.
    func connectionProblem(logger: Logger) async -> String? {
        var configuration: PostgresConnection.Configuration
        do {
            switch server {
            case .socket(let directory, let port):
                configuration = .init(unixSocketPath: "\(directory)/.s.PGSQL.\(port)", username: username, password: password, database: database)
            case .tcp(let host, let port, _):
                let tls: PostgresConnection.Configuration.TLS = try tlsConfiguration().map { .require(try NIOSSLContext(configuration: $0)) } ?? .disable
                configuration = .init(host: host, port: port, username: username, password: password, database: database, tls: tls)
            }
            configuration.options.connectTimeout = .seconds(3)
            let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
            try? await connection.close()
            return nil
        } catch let error as PSQLError {
            return error.serverInfo?[.message] ?? error.underlying.map { String(describing: $0) } ?? "\(error.code)"
        } catch {
            return String(describing: error)
        }
    }

    /// The certificates in the `sslrootcert` file: a regular file, at most 1 MiB, holding at
    /// least one PEM certificate.
    static func databaseRoots(_ path: String) throws -> [NIOSSLCertificate] {
        let roots: [NIOSSLCertificate]
        do {
            roots = try NIOSSLCertificate.fromPEMBytes(Array(try SecureFile.read(path, maximumSize: 1 << 20)))
        } catch {
            throw SignerError(.configuration, "state.url sslrootcert \(path) cannot be read as PEM certificates: \(error)")
        }
        guard !roots.isEmpty else { throw SignerError(.configuration, "state.url sslrootcert \(path) holds no PEM certificate") }
        return roots
    }

    static func milliseconds(_ duration: Duration) -> String {
        String(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
    }
}

/// `csrproxy-signer migrate`: brings the shared state's schema up to date and says what it did.
public enum PostgresSchema {
    public struct Report: Sendable {
        public var from: Int
        public var to: Int
        /// The nodes' role (`[state] url`'s user), when another role migrated and granted it
        /// what a node needs.
        public var grantedRole: String?
        /// The tables and sequences it was granted.
        public var grantedObjects: [String] = []
    }

    /// - Parameters:
    ///   - administrator: a `postgresql://` URL for the role that owns (or is to own) the
    ///     tables; nil, the nodes' own `[state] url`.
    ///   - passwordFile: the administrator's password, in a file of mode 600.
    public static func migrate(
        configuration: SignerConfiguration, administrator: String? = nil, passwordFile: String? = nil, logger: Logger
    ) async throws -> Report {
        guard case .postgres(var settings) = configuration.state.backend else {
            throw SignerError(.configuration, "state.backend is \"memory\": there is no shared state to migrate")
        }
        let nodes = settings.username
        if let administrator {
            let url = try DatabaseURL(administrator, setting: "--database-url")
            if let root = url.rootCertificatePath { _ = try SignerConfiguration.PostgresSettings.databaseRoots(root) }
            settings.server = url.server
            settings.username = url.username
            settings.database = url.database
            settings.rootCertificatePath = url.rootCertificatePath
            settings.password = try passwordFile.map { try DatabaseURL.password(fromFile: $0, setting: "--password-file") }
        } else if passwordFile != nil {
            throw SignerError(.configuration, "--password-file goes with --database-url (the nodes' own password is state.password_file)")
        }
        let client = try settings.makeClient(logger: logger)
        let role = settings.username
        return try await withThrowingTaskGroup(of: Report?.self) { group in
            group.addTask { await client.run(); return nil }
            defer { group.cancelAll() }
            return try await postgresCall("migrate the shared state as \(role)") {
                let (from, to) = try await StateMigrations.migrate(client, role: role, logger: logger)
                var report = Report(from: from, to: to)
                if role != nodes {
                    report.grantedRole = nodes
                    report.grantedObjects = try await StateMigrations.grant(to: nodes, client, logger: logger)
                }
                return report
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
