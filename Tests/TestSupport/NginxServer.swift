import Foundation

/// Debian's nginx serving one site the test gives it (a server block), in the foreground
/// under `ServerProcess`, with every file it writes (pidfile, logs, temporary files) in a
/// scratch directory of its own. The master runs as the test's user (root in CI) and reads the
/// certificate and key; its workers serve.
public final class NginxServer: @unchecked Sendable {
    public static let binary = "/usr/sbin/nginx"
    public let directory: URL
    public let configurationPath: String
    public var pidFile: String { directory.appendingPathComponent("nginx.pid").path }
    public private(set) var process: ServerProcess?

    /// Writes the main configuration around `site` (kept as `site.conf`, included as it is;
    /// `writeSite` replaces it).
    public init(site: String = "") throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("nginx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let sitePath = directory.appendingPathComponent("site.conf").path
        try site.write(toFile: sitePath, atomically: true, encoding: .utf8)
        configurationPath = directory.appendingPathComponent("nginx.conf").path
        let scratch = directory.path
        try """
            daemon off;
            master_process on;
            worker_processes 2;
            pid \(scratch)/nginx.pid;
            error_log \(scratch)/error.log notice;
            events { worker_connections 1024; }
            http {
                access_log off;
                client_body_temp_path \(scratch)/client-body;
                proxy_temp_path \(scratch)/proxy;
                fastcgi_temp_path \(scratch)/fastcgi;
                uwsgi_temp_path \(scratch)/uwsgi;
                scgi_temp_path \(scratch)/scgi;
                include \(sitePath);
            }

            """.write(toFile: configurationPath, atomically: true, encoding: .utf8)
    }

    public func writeSite(_ site: String) throws {
        try site.write(toFile: directory.appendingPathComponent("site.conf").path, atomically: true, encoding: .utf8)
    }

    /// `nginx -t` on the configuration as it stands.
    public func check() async throws -> CommandResult {
        try await runCommand(Self.binary, ["-t", "-q", "-c", configurationPath, "-p", directory.path])
    }

    /// Starts the master and waits until it has written its pidfile and answers on `port`.
    public func start(port: Int) async throws {
        let process = try ServerProcess(Self.binary, ["-c", configurationPath, "-p", directory.path])
        self.process = process
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if FileManager.default.fileExists(atPath: pidFile), (try? await runCommand("/usr/bin/curl", ["-sk", "-o", "/dev/null", "https://127.0.0.1:\(port)/"]))?.status == 0 {
                return
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("nginx did not start: \(process.standardError) \(errorLog)")
    }

    public var errorLog: String {
        (try? String(contentsOfFile: directory.appendingPathComponent("error.log").path, encoding: .utf8)) ?? ""
    }

    /// A fast shutdown (SIGTERM), then the directory goes.
    public func stop() {
        process?.stop()
        process = nil
        try? FileManager.default.removeItem(at: directory)
    }

    deinit { stop() }
}
