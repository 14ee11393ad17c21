import Foundation

/// Debian's PostgreSQL 15 for one test: `initdb` into a scratch directory as an unprivileged
/// user (uid 65534, nobody, when the tests run as root; initdb refuses root), listening only on a Unix
/// socket in that directory. Stopped with a fast shutdown; started again on the same data.
public final class PostgresServer: @unchecked Sendable {
    public static let binaries = "/usr/lib/postgresql/15/bin"
    public let directory: URL
    public let port: Int
    private var process: ServerProcess?
    private let asUser: [String]
    /// With TLS: also on 127.0.0.1:`port`, presenting this certificate.
    private let tls: (certificatePEM: String, keyPEM: String)?

    /// - Parameter tls: a server certificate and key; the server then listens on 127.0.0.1
    ///   too (a port of the test's own) with `ssl = on`, besides its socket.
    public init(tls: (certificatePEM: String, keyPEM: String)? = nil) async throws {
        self.tls = tls
        port = tls == nil ? 5432 : try freeTCPPort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("postgres-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        if getuid() == 0 {
            guard chown(directory.path, 65534, 65534) == 0 else { throw TestFailure("cannot hand \(directory.path) to nobody") }
            // setpriv execs in place (runuser would stay the parent and keep signals from postgres).
            asUser = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--reset-env"]
        } else {
            asUser = []
        }
        let initdb = try await runCommand(asUser.first ?? "\(Self.binaries)/initdb", Array(asUser.dropFirst()) + (asUser.isEmpty ? [] : ["\(Self.binaries)/initdb"]) + [
            "-D", "\(directory.path)/data", "-A", "trust", "-U", "csrproxy", "-E", "UTF8", "--no-sync", "--no-instructions",
        ], timeout: .seconds(120))
        guard initdb.status == 0 else { throw TestFailure("initdb failed: \(initdb.standardOutput) \(initdb.standardError)") }
        if let tls {
            // PostgreSQL refuses a key others can read, and reads both as its own user.
            for (name, text, mode) in [("server.crt", tls.certificatePEM, 0o644), ("server.key", tls.keyPEM, 0o600)] {
                let path = "\(directory.path)/\(name)"
                try text.write(toFile: path, atomically: false, encoding: .utf8)
                chmod(path, mode_t(mode))
                if getuid() == 0 { chown(path, 65534, 65534) }
            }
        }
        try await start()
    }

    /// `postgresql://csrproxy@/postgres?host=DIR&port=5432`: the signer's `[state] url`.
    public var url: String { "postgresql://csrproxy@/postgres?host=\(directory.path)&port=\(port)" }

    /// The server's Unix socket, for a relay in front of it.
    public var socketPath: String { "\(directory.path)/.s.PGSQL.\(port)" }

    public func start() async throws {
        guard process == nil else { return }
        let server = [
            "\(Self.binaries)/postgres", "-D", "\(directory.path)/data", "-k", directory.path, "-p", String(port),
            "-c", "fsync=off", "-c", "max_connections=200",
        ] + (tls == nil ? ["-c", "listen_addresses="] : [
            "-c", "listen_addresses=127.0.0.1", "-c", "ssl=on",
            "-c", "ssl_cert_file=\(directory.path)/server.crt", "-c", "ssl_key_file=\(directory.path)/server.key",
        ])
        let command = asUser + server
        process = try ServerProcess(command[0], Array(command.dropFirst()))
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let ready = try await runCommand("/usr/bin/pg_isready", ["-h", directory.path, "-p", String(port), "-U", "csrproxy", "-d", "postgres"])
            if ready.status == 0 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("PostgreSQL did not start: \(process?.standardError ?? "")")
    }

    /// One SQL statement through `psql`, its rows unaligned (`-At`), or nil while the server
    /// does not answer.
    public func query(_ sql: String) async throws -> String? {
        let result = try await psql(sql)
        return result.status == 0 ? result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) : nil
    }

    /// `sql` through psql over the socket, as `user` in `database`, unaligned: what it printed
    /// and its exit status (a refused statement is an answer, not a throw).
    public func psql(_ sql: String, user: String = "csrproxy", database: String = "postgres") async throws -> CommandResult {
        try await runCommand("/usr/bin/psql", [
            "-h", directory.path, "-p", String(port), "-U", user, "-d", database, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql,
        ], timeout: .seconds(20))
    }

    /// A fast shutdown (SIGINT): open connections are cut, as when the database host goes away.
    public func stop() {
        guard let process else { return }
        process.send(SIGINT)
        if !process.waitForExit(within: .seconds(20)) { process.stop() }
        self.process = nil
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }
}
