import Foundation

/// Debian's PostgreSQL 15 for one test: `initdb` into a scratch directory as an unprivileged
/// user (uid 65534, nobody, when the tests run as root; initdb refuses root), listening only on a Unix
/// socket in that directory. Stopped with a fast shutdown; started again on the same data.
public final class PostgresServer: @unchecked Sendable {
    public static let binaries = "/usr/lib/postgresql/15/bin"
    public let directory: URL
    public let port = 5432
    private var process: ServerProcess?
    private let asUser: [String]

    public init() async throws {
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
            "-c", "listen_addresses=", "-c", "fsync=off", "-c", "max_connections=200",
        ]
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
        let result = try await runCommand("/usr/bin/psql", [
            "-h", directory.path, "-p", String(port), "-U", "csrproxy", "-d", "postgres", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql,
        ], timeout: .seconds(20))
        return result.status == 0 ? result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) : nil
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
