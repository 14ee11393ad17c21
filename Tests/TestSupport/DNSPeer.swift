import Foundation

/// A TSIG key shared by the signer and a DNS peer: its secret is written, mode 600, where the
/// signer's `[[tsig_keys]]` reads it.
public struct SharedTSIGKey: Sendable {
    public let name: String
    public let secret: String

    public init(name: String, secret: String? = nil) {
        self.name = name
        self.secret = secret ?? Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
    }

    /// Writes the secret to `directory/<name>.secret` (0600) and returns the `[[tsig_keys]]` table.
    public func signerTable(in directory: URL) throws -> String {
        let path = directory.appendingPathComponent("\(name).secret").path
        FileManager.default.createFile(atPath: path, contents: Data(secret.utf8), attributes: [.posixPermissions: 0o600])
        return """

            [[tsig_keys]]
            name = "\(name)"
            algorithm = "hmac-sha256"
            secret_file = "\(path)"

            """
    }
}

/// Knot, BIND or NSD from Debian, started by a test on 127.0.0.1 as a secondary of the signer
/// or as the zone's primary for RFC 2136. The zone-specific part of each configuration is the
/// file under `examples/dns/` that the README shows, used as it is; the test adds the server
/// part (ports, scratch directories).
public final class DNSPeer: @unchecked Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case knot, bind, nsd
    }

    public let kind: Kind
    public let port: Int
    public let directory: URL
    private var process: ServerProcess?
    private let command: (String, [String])

    /// The configuration snippet `examples/dns/<file>` with its placeholders filled in.
    public static func example(_ file: String, _ values: [String: String]) throws -> String {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples/dns/\(file)")
        var text = try String(contentsOf: url, encoding: .utf8)
        for (placeholder, value) in values { text = text.replacingOccurrences(of: "@\(placeholder)@", with: value) }
        guard !text.contains(try Regex("@[A-Z_]+@")) else {
            throw TestFailure("examples/dns/\(file) has a placeholder left unfilled")
        }
        return text
    }

    /// Where the server keeps its configuration and data. BIND's goes under /var/cache/bind:
    /// Debian's AppArmor profile for named lets it read and write there and nowhere in /tmp.
    /// `scripts/test` makes one directory there for the run (`CSRPROXY_TEST_BIND_DIR`), which it
    /// removes with the run's other scratch directories.
    private static func scratchDirectory(for kind: Kind) throws -> URL {
        let name = "csrproxy-test-\(kind.rawValue)-\(UUID().uuidString)"
        let bindBase = ProcessInfo.processInfo.environment["CSRPROXY_TEST_BIND_DIR"] ?? "/var/cache/bind"
        let base = kind == .bind && FileManager.default.isWritableFile(atPath: bindBase)
            ? URL(fileURLWithPath: bindBase) : FileManager.default.temporaryDirectory
        let directory = base.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// A secondary of the signer's DNS on `signerPort`, for `zone`, signing with `key`, on
    /// `port` (a free one if nil).
    public static func secondary(_ kind: Kind, zone: String, signerPort: Int, key: SharedTSIGKey, port: Int? = nil) async throws -> DNSPeer {
        let directory = try scratchDirectory(for: kind)
        let port = try port ?? freeDNSPort()
        let values = [
            "ZONE": zone, "SIGNER_ADDRESS": "127.0.0.1", "SIGNER_PORT": String(signerPort),
            "SECRET": key.secret, "DIRECTORY": directory.path,
        ]
        let snippet = try example("\(kind.rawValue)-secondary.conf", values)
        return try DNSPeer(kind: kind, port: port, directory: directory, snippet: snippet)
    }

    /// The zone's primary, serving `zoneText` from a file and accepting the signer's updates.
    public static func primary(_ kind: Kind, zone: String, name: String, zoneText: String, key: SharedTSIGKey) async throws -> DNSPeer {
        let directory = try scratchDirectory(for: kind)
        let zoneFile = directory.appendingPathComponent("\(zone).zone").path
        try zoneText.write(toFile: zoneFile, atomically: true, encoding: .utf8)
        let port = try freeDNSPort()
        let values = ["ZONE": zone, "NAME": name, "SIGNER_ADDRESS": "127.0.0.1", "SECRET": key.secret, "ZONE_FILE": zoneFile]
        let snippet = try example("\(kind.rawValue)-rfc2136.conf", values)
        return try DNSPeer(kind: kind, port: port, directory: directory, snippet: snippet)
    }

    private init(kind: Kind, port: Int, directory: URL, snippet: String) throws {
        self.kind = kind
        self.port = port
        self.directory = directory
        let configuration = directory.appendingPathComponent("\(kind.rawValue).conf").path
        let text: String
        switch kind {
        case .knot:
            text = """
                server:
                    rundir: "\(directory.path)"
                    listen: 127.0.0.1@\(port)
                database:
                    storage: "\(directory.path)"
                log:
                  - target: stdout
                    any: info
                template:
                  - id: default
                    storage: "\(directory.path)"
                    # Every update kept (Knot merges all but the last 20 by default), so a
                    # test can replay them with kjournalprint.
                    journal-max-depth: 100000

                """ + snippet
            command = ("/usr/sbin/knotd", ["-c", configuration])
        case .bind:
            text = """
                options {
                    directory "\(directory.path)";
                    pid-file "\(directory.path)/named.pid";
                    listen-on port \(port) { 127.0.0.1; };
                    listen-on-v6 { none; };
                    recursion no;
                    notify no;
                    dnssec-validation no;
                    allow-query { 127.0.0.1; };
                    allow-transfer { 127.0.0.1; };
                };
                controls { };

                """ + snippet
            command = ("/usr/sbin/named", ["-g", "-c", configuration])
        case .nsd:
            text = """
                server:
                    port: \(port)
                    ip-address: 127.0.0.1
                    do-ip6: no
                    zonesdir: "\(directory.path)"
                    database: ""
                    pidfile: "\(directory.path)/nsd.pid"
                    xfrdfile: "\(directory.path)/xfrd.state"
                    zonelistfile: "\(directory.path)/zone.list"
                    xfrd-reload-timeout: 0
                    username: ""
                    chroot: ""
                    verbosity: 2
                remote-control:
                    control-enable: no

                """ + snippet
            command = ("/usr/sbin/nsd", ["-d", "-c", configuration])
        }
        try text.write(toFile: configuration, atomically: true, encoding: .utf8)
        process = try ServerProcess(command.0, command.1)
    }

    /// Stops the server, keeping its files (a restart serves what it had). NSD's transfer
    /// daemon can take its time over SIGTERM; nothing of it is needed afterwards.
    public func stop() {
        process?.stop(grace: .seconds(kind == .nsd ? 2 : 10))
        process = nil
    }

    /// Starts it again on the same port and files.
    public func start() throws {
        guard process == nil else { return }
        process = try ServerProcess(command.0, command.1)
    }

    public var log: String { (process?.standardOutput ?? "") + (process?.standardError ?? "") }

    /// Polls until the peer answers SOA for `zone` with NOERROR and at least `serial`.
    public func waitUntilServing(_ zone: String, serialAtLeast serial: UInt32 = 0, timeout: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let answer = try? await Dig.query(port: port, zone, "SOA"), answer.status == "NOERROR",
               let soa = answer.answer.first(where: { $0.type == "SOA" }),
               let current = soa.data.split(separator: " ").dropFirst(2).first.flatMap({ UInt32($0) }), current >= serial {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("\(kind.rawValue) on port \(port) did not serve \(zone) (serial ≥ \(serial)) within \(timeout): \(log.suffix(3000))")
    }

    /// Every record of `zone` as the server holds it, SOA left out (its serial moves), one
    /// normalised line each ("owner ttl type data", lowercased), sorted: for comparing the zone
    /// before and after. Knot's comes from its control socket, BIND's by AXFR.
    public func zoneRecords(_ zone: String) async throws -> [String] {
        let result: CommandResult
        switch kind {
        case .knot:
            result = try await runCommand("/usr/sbin/knotc", ["-s", directory.appendingPathComponent("knot.sock").path, "zone-read", zone])
        case .bind, .nsd:
            result = try await runCommand("dig", ["@127.0.0.1", "-p", String(port), "+nocmd", "+nostats", "+nocomments", "AXFR", zone])
        }
        guard result.status == 0 else { throw TestFailure("cannot read \(zone) from \(kind): \(result.standardOutput) \(result.standardError)") }
        let lines = result.standardOutput.split(separator: "\n").compactMap { line -> String? in
            var fields = line.split(whereSeparator: \.isWhitespace).map { $0.lowercased() }
            if fields.first?.hasPrefix("[") == true { fields.removeFirst() }
            fields.removeAll { $0 == "in" }
            guard fields.count >= 4, !fields[0].hasPrefix(";"), fields[2] != "soa" else { return nil }
            return fields.joined(separator: " ")
        }
        return Set(lines).sorted()
    }

    /// Adds a TXT record by a signed UPDATE of Debian's `nsupdate`, as another writer of the
    /// zone would (or a run of the signer that crashed with it published).
    public func addTXT(_ value: String, at name: String, zone: String, key: SharedTSIGKey) async throws {
        let script = directory.appendingPathComponent("nsupdate-\(UUID().uuidString)").path
        try "server 127.0.0.1 \(port)\nzone \(zone)\nupdate add \(name) 60 TXT \"\(value)\"\nsend\n".write(toFile: script, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: script) }
        let result = try await runCommand("/usr/bin/nsupdate", ["-y", "hmac-sha256:\(key.name):\(key.secret)", script], timeout: .seconds(20))
        guard result.status == 0 else { throw TestFailure("nsupdate failed: \(result.standardError)") }
    }

    /// The TXT values the peer serves at `name` now.
    public func txtValues(at name: String) async throws -> [String] {
        let answer = try await Dig.query(port: port, name, "TXT")
        return answer.answer.filter { $0.type == "TXT" }.map { $0.data.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }
}
