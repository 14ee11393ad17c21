import CertificateSupport
import Crypto
import Foundation
import X509

/// Several real `csrproxy-signer serve` processes sharing one PostgreSQL and one ACME account,
/// each with its own DNS port, plus pebble, all on loopback. Pebble asks node 1's DNS only, so
/// an order placed on another node issues only if its value reached node 1 through the database.
public final class SignerCluster: @unchecked Sendable {
    public let postgres: PostgresServer
    public let pebble: Pebble
    /// The HTTPS front (ARI advertised) the nodes reach pebble through, when asked for.
    public private(set) var front: ACMEFront?
    public let workDirectory: URL
    public let dnsPorts: [Int]
    public private(set) var nodes: [ServerProcess?]
    public private(set) var baseURLs: [URL]
    public static let zone = SignerHarness.zone
    public static let name = SignerHarness.name

    /// - Parameter validationSleeps: pebble waits its random 0-15 s before validating, so orders
    ///   stay in flight long enough to kill a node in the middle of them.
    public init(
        nodes count: Int = 3, concurrency: String = "set", naming: String = "shared", deadlineSeconds: Int = 60, leaseSeconds: Int? = nil,
        nodeLeaseSeconds: Int? = nil, names: [String] = [SignerHarness.name], maxValuesPerName: Int = 8, extraState: String = "",
        validationSleeps: Bool = false, domainBudget: Int = 1_000_000, front withFront: Bool = false,
        databaseTLS: (certificatePEM: String, keyPEM: String)? = nil
    ) async throws {
        workDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("cluster-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true)
        postgres = try await PostgresServer(tls: databaseTLS)
        dnsPorts = try (0..<count).map { _ in try freeDNSPort() }
        pebble = try await Pebble(dnsPort: dnsPorts[0], options: .init(authorizationReusePercent: 0, validationSleeps: validationSleeps))
        let rootPath = workDirectory.appendingPathComponent("pebble-tls-root.pem").path
        var directoryURL = pebble.directoryURL
        if withFront {
            let front = try await ACMEFront(pebble: pebble, advertisesARI: true)
            self.front = front
            directoryURL = front.directoryURL
            try front.tlsRootPEM.write(toFile: rootPath, atomically: true, encoding: .utf8)
        } else {
            try pebble.tlsRootPEM.write(toFile: rootPath, atomically: true, encoding: .utf8)
        }
        nodes = Array(repeating: nil, count: count)
        baseURLs = Array(repeating: URL(string: "http://127.0.0.1:1")!, count: count)
        for index in 0..<count {
            let others = dnsPorts.enumerated().filter { $0.offset != index }.map { "\"127.0.0.1:\($0.element)\"" }
            let text = """
                [acme]
                directory_url = "\(directoryURL.absoluteString)"
                account_key_path = "\(workDirectory.path)/node\(index + 1)/account-key.pem"
                trust_roots = ["\(rootPath)"]
                trust_only_listed_roots = true
                budget_certificates_per_name_set = 1000000
                budget_certificates_per_domain = \(domainBudget)
                budget_orders = 1000000

                [dns]
                listen = ["127.0.0.1:\(dnsPorts[index])"]
                udp_sockets = 1
                nameservers = [\(others.joined(separator: ", "))]

                [http]
                listen = "127.0.0.1:0"
                rate_limit_per_minute = 60000
                rate_limit_burst = 10000

                [issuance]
                deadline_seconds = \(deadlineSeconds)

                [state]
                backend = "postgres"
                url = "\(postgres.url)"
                node = "node\(index + 1)"
                \(leaseSeconds.map { "lease_seconds = \($0)" } ?? "")
                \(nodeLeaseSeconds.map { "node_lease_seconds = \($0)" } ?? "")
                \(extraState)

                [[zones]]
                zone = "\(Self.zone)"
                nameservers = ["ns1.\(Self.zone)=127.0.0.1"]
                subject = "CN=\(Self.name)"
                names = [\(names.map { "\"\($0)\"" }.joined(separator: ", "))]
                concurrency = "\(concurrency)"
                naming = "\(naming)"
                max_values_per_name = \(maxValuesPerName)

                """
            try FileManager.default.createDirectory(at: workDirectory.appendingPathComponent("node\(index + 1)"), withIntermediateDirectories: true)
            try text.write(to: configurationURL(index), atomically: true, encoding: .utf8)
            if index > 0 {
                // One ACME account for the cluster: every node holds the key node 1 created.
                let key = workDirectory.appendingPathComponent("node1/account-key.pem").path
                let copy = workDirectory.appendingPathComponent("node\(index + 1)/account-key.pem").path
                if !FileManager.default.fileExists(atPath: copy) {
                    try FileManager.default.copyItem(atPath: key, toPath: copy)
                    chmod(copy, 0o600)
                }
            }
            try await start(index)
        }
        for index in 0..<count { try await waitUntilReady(index) }
    }

    public func configurationURL(_ index: Int) -> URL {
        workDirectory.appendingPathComponent("node\(index + 1)/signer.toml")
    }

    /// Starts node `index` (0-based), with `environment` added to the test's, and waits until it listens.
    public func start(_ index: Int, environment: [String: String] = [:]) async throws {
        let process = try ServerProcess(try builtExecutable("csrproxy-signer"), ["serve", "-c", configurationURL(index).path, "--log-level", "info"],
                                        environment: environment.isEmpty ? nil : ProcessInfo.processInfo.environment.merging(environment) { $1 })
        let http = try await process.waitForOutput(matching: #"listening: http=(\S+)"#)
        nodes[index] = process
        baseURLs[index] = URL(string: "http://\(http)")!
    }

    /// Polls `/readyz` until the node is ready (database reached, account registered).
    public func waitUntilReady(_ index: Int, timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let response = try? await curl(baseURLs[index].appendingPathComponent("readyz")), response.status == 200 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("node \(index + 1) is not ready: \(nodes[index]?.standardError.suffix(2000) ?? "")")
    }

    /// Stops node `index`, changes its settings (each `from` must be there) and starts it again
    /// with `environment` added.
    public func restart(_ index: Int, replacing replacements: [(String, String)] = [], environment: [String: String] = [:]) async throws {
        kill(index, signal: SIGTERM)
        var text = try String(contentsOf: configurationURL(index), encoding: .utf8)
        for (from, to) in replacements {
            guard text.contains(from) else { throw TestFailure("node \(index + 1)'s settings hold no \(from)") }
            text = text.replacingOccurrences(of: from, with: to)
        }
        try text.write(to: configurationURL(index), atomically: true, encoding: .utf8)
        try await start(index, environment: environment)
        try await waitUntilReady(index)
    }

    /// Kills node `index` with `signal` (SIGKILL: it withdraws nothing).
    public func kill(_ index: Int, signal: Int32 = SIGKILL) {
        guard let process = nodes[index] else { return }
        process.send(signal)
        _ = process.waitForExit(within: .seconds(15))
        nodes[index] = nil
    }

    public func signURL(_ index: Int) -> URL { baseURLs[index].appendingPathComponent("v1/sign") }

    /// Posts a CSR for the well-known name, from a fresh key, to node `index`.
    public func requestCertificate(node index: Int) async throws -> CurlResponse {
        try await requestCertificate(node: index, key: P256.Signing.PrivateKey(), name: Self.name)
    }

    /// A fresh key and the per-install name it gets (`<label>.go.eval.example.com`).
    public static func perInstallKey() throws -> (key: P256.Signing.PrivateKey, name: String) {
        let key = P256.Signing.PrivateKey()
        let spki = try Certificate.PublicKey(key.publicKey).subjectPublicKeyInfoDER()
        return (key, PerInstallName.names(for: [Self.name], subjectPublicKeyInfoDER: spki)[0])
    }

    /// Posts a CSR for `name` from `key` to node `index`.
    public func requestCertificate(node index: Int, key: P256.Signing.PrivateKey, name: String) async throws -> CurlResponse {
        try await requestCertificate(node: index, key: key, names: [name])
    }

    /// Posts a CSR for `names` (the first is the subject) from `key` to node `index`.
    public func requestCertificate(node index: Int, key: P256.Signing.PrivateKey = .init(), names: [String]) async throws -> CurlResponse {
        let path = workDirectory.appendingPathComponent("request-\(UUID().uuidString).der").path
        try Data(try TestCertificates.csr(for: names, key: .init(key))).write(to: URL(fileURLWithPath: path))
        return try await curl(signURL(index), bodyFile: path, headers: ["Content-Type: application/pkcs10"])
    }

    public func stop() {
        for index in nodes.indices { nodes[index]?.stop() }
        front?.stop()
        pebble.stop()
        postgres.stop()
        try? FileManager.default.removeItem(at: workDirectory)
    }

    deinit { stop() }
}
