import CertificateSupport
import Crypto
import Foundation

/// Debian's pebble and a real `csrproxy-signer serve` process, wired together on loopback:
/// pebble validates DNS-01 against the signer's DNS port; the signer orders from pebble.
public final class SignerHarness: @unchecked Sendable {
    public private(set) var pebble: Pebble
    public private(set) var signer: ServerProcess
    public private(set) var baseURL: URL
    /// The HTTPS front the signer reaches pebble through, when `Options.front` asked for one.
    public private(set) var front: ACMEFront?
    /// A second CA (`Options.secondCA`): another pebble, which requires EAB, tried after the first.
    public private(set) var secondPebble: Pebble?
    public let dnsPort: Int
    public let workDirectory: URL
    public let configurationPath: String
    public static let zone = "eval.example.com"
    public static let name = "go.eval.example.com"
    public static let subject = "CN=go.eval.example.com"

    /// One `[[zones]]` entry.
    public struct Zone: Sendable {
        public var zone = SignerHarness.zone
        public var subject = SignerHarness.subject
        public var names = [SignerHarness.name]
        public var naming = "shared"
        public var concurrency = "set"
        public var requireSAN = true
        public var maxValuesPerName = 8
        public init(naming: String = "shared", concurrency: String = "set", requireSAN: Bool = true) {
            self.naming = naming
            self.concurrency = concurrency
            self.requireSAN = requireSAN
        }
    }

    public struct Options: Sendable {
        public var zones = [Zone()]
        public var pebble = Pebble.Options()
        public var deadlineSeconds = 30
        public var rateLimitPerMinute = 6000
        public var rateLimitBurst = 1000
        public var bodyLimitBytes = 16384
        public var extraHTTP = ""
        public var extraDNS = ""
        /// Lines added to `[acme]`.
        public var extraACME = ""
        /// The signer's budgets (new certificates per name set and per registered domain, orders):
        /// unlimited by default, since pebble has no limits and most tests are about something else.
        public var budgets = (nameSet: 1_000_000, domain: 1_000_000, orders: 1_000_000)
        /// Put an `ACMEFront` between the signer and pebble; `true` makes it advertise ARI.
        public var front: Bool?
        /// A second `[[acme]]` CA: another pebble requiring external account binding, with
        /// no budget limit. `budgets` then apply to the first CA only.
        public var secondCA = false
        /// `caa_identity` for the CAs (`pebble-one.test`, `pebble-two.test`), so the signer
        /// serves CAA pinned to its accounts.
        public var caaIdentities = false
        /// The signer's DNS port, chosen before the harness starts (secondaries need it first).
        public var dnsPort: Int?
        /// Where pebble validates, when not at the signer's own DNS (a secondary, a primary).
        public var pebbleDNSPort: Int?
        /// Tables appended after the zones (`[[tsig_keys]]`).
        public var extraTables = ""
        public init() {}
    }

    public init(_ options: Options = Options()) async throws {
        workDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("signer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true)
        dnsPort = try options.dnsPort ?? freeDNSPort()
        pebble = try await Pebble(dnsPort: options.pebbleDNSPort ?? dnsPort, options: options.pebble)
        let rootPath = workDirectory.appendingPathComponent("pebble-tls-root.pem").path
        var directoryURL = pebble.directoryURL
        if let advertisesARI = options.front {
            let front = try await ACMEFront(pebble: pebble, advertisesARI: advertisesARI)
            self.front = front
            directoryURL = front.directoryURL
            try front.tlsRootPEM.write(toFile: rootPath, atomically: true, encoding: .utf8)
        } else {
            try pebble.tlsRootPEM.write(toFile: rootPath, atomically: true, encoding: .utf8)
        }
        let (secondTable, second) = try await Self.secondCATable(options, dnsPort: dnsPort, workDirectory: workDirectory)
        secondPebble = second
        var text = """
            \(options.secondCA ? "[[acme]]\nname = \"first\"" : "[acme]")
            \(options.caaIdentities ? "caa_identity = \"pebble-one.test\"" : "")
            directory_url = "\(directoryURL.absoluteString)"
            account_key_path = "\(workDirectory.path)/state/account-key.pem"
            trust_roots = ["\(rootPath)"]
            trust_only_listed_roots = true
            budget_certificates_per_name_set = \(options.budgets.nameSet)
            budget_certificates_per_domain = \(options.budgets.domain)
            budget_orders = \(options.budgets.orders)
            \(options.extraACME)
            \(secondTable)

            [dns]
            listen = ["127.0.0.1:\(dnsPort)"]
            udp_sockets = 1
            \(options.extraDNS)

            [http]
            listen = "127.0.0.1:0"
            rate_limit_per_minute = \(options.rateLimitPerMinute)
            rate_limit_burst = \(options.rateLimitBurst)
            body_limit_bytes = \(options.bodyLimitBytes)
            \(options.extraHTTP)

            [issuance]
            deadline_seconds = \(options.deadlineSeconds)

            """
        for zone in options.zones {
            text += """

                [[zones]]
                zone = "\(zone.zone)"
                nameservers = ["ns1.\(zone.zone)=127.0.0.1"]
                subject = "\(zone.subject)"
                names = [\(zone.names.map { "\"\($0)\"" }.joined(separator: ", "))]
                naming = "\(zone.naming)"
                concurrency = "\(zone.concurrency)"
                require_san = \(zone.requireSAN)
                max_values_per_name = \(zone.maxValuesPerName)

                """
        }
        text += options.extraTables
        configurationPath = workDirectory.appendingPathComponent("signer.toml").path
        try text.write(toFile: configurationPath, atomically: true, encoding: .utf8)
        (signer, baseURL) = try await Self.startSigner(configurationPath)
    }

    /// `[[acme]]` for the second pebble, with its EAB key in a 0600 file, or nothing.
    private static func secondCATable(_ options: Options, dnsPort: Int, workDirectory: URL) async throws -> (String, Pebble?) {
        guard options.secondCA else { return ("", nil) }
        let macKey = Base64URL.encode((0..<32).map { _ in UInt8.random(in: 0...255) })
        let second = try await Pebble(dnsPort: dnsPort, options: .init(externalAccountMACKeys: ["kid-1": macKey]))
        let rootPath = workDirectory.appendingPathComponent("second-pebble-tls-root.pem").path
        try second.tlsRootPEM.write(toFile: rootPath, atomically: true, encoding: .utf8)
        let macPath = workDirectory.appendingPathComponent("second-eab-mac-key").path
        try SecureFile.write(Array(macKey.utf8), to: macPath)
        return ("""

            [[acme]]
            name = "second"
            directory_url = "\(second.directoryURL.absoluteString)"
            account_key_path = "\(workDirectory.path)/state/second-account-key.pem"
            trust_roots = ["\(rootPath)"]
            trust_only_listed_roots = true
            \(options.caaIdentities ? "caa_identity = \"pebble-two.test\"" : "")
            eab_key_id = "kid-1"
            eab_mac_key_file = "\(macPath)"
            budget_certificates_per_name_set = 1000000
            budget_certificates_per_domain = 1000000
            budget_orders = 1000000
            """, second)
    }

    private static func startSigner(_ configurationPath: String) async throws -> (ServerProcess, URL) {
        let process = try ServerProcess(try builtExecutable("csrproxy-signer"), ["serve", "-c", configurationPath, "--log-level", "info"])
        let http = try await process.waitForOutput(matching: #"listening: http=(\S+)"#)
        return (process, URL(string: "http://\(http)")!)
    }

    /// Kills the signer with `signal` and starts it again on the same configuration.
    public func restartSigner(signal: Int32 = SIGTERM) async throws {
        signer.send(signal)
        guard signer.waitForExit(within: .seconds(15)) else { throw TestFailure("the signer did not exit on signal \(signal)") }
        (signer, baseURL) = try await Self.startSigner(configurationPath)
    }

    /// Restarts pebble on the same ports with an empty database: our account is gone.
    public func restartPebble() async throws {
        pebble = try await pebble.restarted()
    }

    public var signURL: URL { baseURL.appendingPathComponent("v1/sign") }

    /// Posts a CSR for `names` from a fresh P-256 key and returns the signer's answer.
    public func requestCertificate(for names: [String] = [SignerHarness.name]) async throws -> CurlResponse {
        let path = workDirectory.appendingPathComponent("request-\(UUID().uuidString).der").path
        try Data(try TestCertificates.csr(for: names, key: .init(P256.Signing.PrivateKey()))).write(to: URL(fileURLWithPath: path))
        return try await curl(signURL, bodyFile: path, headers: ["Content-Type: application/pkcs10"])
    }

    /// Pebble's issuing root, written to a file for `openssl verify`.
    public func issuingRootFile() async throws -> String {
        let path = workDirectory.appendingPathComponent("pebble-issuing-root.pem").path
        try await pebble.rootPEM().write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    public func stop() {
        signer.stop()
        front?.stop()
        secondPebble?.stop()
        pebble.stop()
        try? FileManager.default.removeItem(at: workDirectory)
    }

    deinit { stop() }
}
