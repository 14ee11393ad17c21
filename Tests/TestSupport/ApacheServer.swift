import Foundation

/// Debian's Apache (apache2) serving one site the test gives it, as an instance of its own:
/// a configuration directory in scratch (`apachectl` finds it through APACHE_CONFDIR, as
/// Debian's multi-instance setup does), the parent in the foreground under `ServerProcess`,
/// children as www-data, a page in the document root that answers "ok".
public final class ApacheServer: @unchecked Sendable {
    public static let binary = "/usr/sbin/apache2"
    static let modules = "/usr/lib/apache2/modules"
    /// The instance's configuration directory: `APACHE_CONFDIR=<this> apachectl ...` addresses it.
    public let directory: URL
    public var documentRoot: String { directory.appendingPathComponent("www").path }
    public private(set) var process: ServerProcess?

    public init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("apache-\(UUID().uuidString)")
        let scratch = directory.path
        for sub in ["www", "run", "lock"] {
            try FileManager.default.createDirectory(at: directory.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        try "ok\n".write(toFile: "\(documentRoot)/index.html", atomically: true, encoding: .utf8)
        // apachectl reads these (for its run and lock directories); the server itself does not.
        try """
            export APACHE_RUN_USER=www-data
            export APACHE_RUN_GROUP=www-data
            export APACHE_RUN_DIR=\(scratch)/run
            export APACHE_LOCK_DIR=\(scratch)/lock
            export APACHE_PID_FILE=\(scratch)/apache2.pid
            export APACHE_LOG_DIR=\(scratch)
            export LANG=C

            """.write(toFile: "\(scratch)/envvars", atomically: true, encoding: .utf8)
        try """
            ServerRoot "\(scratch)"
            DefaultRuntimeDir \(scratch)/run
            PidFile \(scratch)/apache2.pid
            Mutex file:\(scratch)/lock default
            User www-data
            Group www-data
            ErrorLog \(scratch)/error.log
            LogLevel warn
            ServerName localhost
            LoadModule mpm_event_module \(Self.modules)/mod_mpm_event.so
            LoadModule authz_core_module \(Self.modules)/mod_authz_core.so
            LoadModule dir_module \(Self.modules)/mod_dir.so
            LoadModule socache_shmcb_module \(Self.modules)/mod_socache_shmcb.so
            LoadModule ssl_module \(Self.modules)/mod_ssl.so
            SSLSessionCache shmcb:\(scratch)/run/ssl_scache(512000)
            DirectoryIndex index.html
            <Directory />
                Require all granted
            </Directory>
            Include \(scratch)/site.conf

            """.write(toFile: "\(scratch)/apache2.conf", atomically: true, encoding: .utf8)
        try writeSite("")
    }

    public func writeSite(_ site: String) throws {
        try site.write(toFile: directory.appendingPathComponent("site.conf").path, atomically: true, encoding: .utf8)
    }

    public var errorLog: String {
        (try? String(contentsOfFile: directory.appendingPathComponent("error.log").path, encoding: .utf8)) ?? ""
    }

    /// Starts the parent in the foreground and waits until it answers on `port`.
    public func start(port: Int) async throws {
        let process = try ServerProcess(Self.binary, ["-d", directory.path, "-DFOREGROUND"], environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"])
        self.process = process
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if (try? await runCommand("/usr/bin/curl", ["-sk", "-o", "/dev/null", "https://127.0.0.1:\(port)/"]))?.status == 0 { return }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("apache2 did not start: \(process.standardError) \(errorLog)")
    }

    /// SIGTERM to the parent, which stops its children; then the directory goes.
    public func stop() {
        process?.stop()
        process = nil
        try? FileManager.default.removeItem(at: directory)
    }

    deinit { stop() }
}
