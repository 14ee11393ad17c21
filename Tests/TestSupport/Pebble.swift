import ACME
import Foundation
import Logging

/// Debian's pebble (Let's Encrypt's RFC 8555 test CA) on 127.0.0.1, validating DNS-01 against
/// the DNS server at `dnsPort`. Started and stopped by the test that needs it.
public final class Pebble: @unchecked Sendable {
    public let directoryURL: URL
    public let managementURL: URL
    /// The test TLS CA that signed pebble's listener certificate; trust it to talk to pebble.
    public let tlsRootPEM: String
    private let server: ServerProcess
    private let workDirectory: URL

    public struct Options: Sendable {
        /// PEBBLE_WFE_NONCEREJECT: percent of valid nonces rejected (pebble's default is 5).
        public var nonceRejectPercent: Int?
        /// PEBBLE_AUTHZREUSE: percent of valid authorizations reused (pebble's default is 50).
        public var authorizationReusePercent: Int?
        /// Key ID to base64url MAC key; non-empty makes EAB required.
        public var externalAccountMACKeys: [String: String]
        /// Let pebble's validation wait its random 0-15 s before looking (PEBBLE_VA_NOSLEEP unset),
        /// which leaves an order in flight long enough to interrupt it.
        public var validationSleeps: Bool

        public init(nonceRejectPercent: Int? = nil, authorizationReusePercent: Int? = nil, externalAccountMACKeys: [String: String] = [:], validationSleeps: Bool = false) {
            self.nonceRejectPercent = nonceRejectPercent
            self.authorizationReusePercent = authorizationReusePercent
            self.externalAccountMACKeys = externalAccountMACKeys
            self.validationSleeps = validationSleeps
        }
    }

    private let identity: (caPEM: String, certificatePEM: String, keyPEM: String)
    private let ports: [Int]
    private let dnsPort: Int
    private let options: Options

    /// A fresh pebble: new ports, a new TLS identity, an empty database.
    public convenience init(dnsPort: Int, options: Options = Options()) async throws {
        try await self.init(dnsPort: dnsPort, options: options, identity: try TestCertificates.localhostServerIdentity(), ports: try freeTCPPorts(4))
    }

    /// A pebble on the same ports and TLS identity as a stopped one, but with an empty database
    /// (no accounts, new roots), as a CA that was reset looks to its clients.
    public func restarted() async throws -> Pebble {
        stop()
        return try await Pebble(dnsPort: dnsPort, options: options, identity: identity, ports: ports)
    }

    private init(dnsPort: Int, options: Options, identity: (caPEM: String, certificatePEM: String, keyPEM: String), ports: [Int]) async throws {
        self.identity = identity
        self.ports = ports
        self.dnsPort = dnsPort
        self.options = options
        workDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("pebble-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true)
        let certificatePath = workDirectory.appendingPathComponent("cert.pem").path
        let keyPath = workDirectory.appendingPathComponent("key.pem").path
        try identity.certificatePEM.write(toFile: certificatePath, atomically: true, encoding: .utf8)
        try identity.keyPEM.write(toFile: keyPath, atomically: true, encoding: .utf8)
        let config: [String: Any] = ["pebble": [
            "listenAddress": "127.0.0.1:\(ports[0])",
            "managementListenAddress": "127.0.0.1:\(ports[1])",
            "certificate": certificatePath,
            "privateKey": keyPath,
            "httpPort": ports[2],
            "tlsPort": ports[3],
            "ocspResponderURL": "",
            "externalAccountBindingRequired": !options.externalAccountMACKeys.isEmpty,
            "externalAccountMACKeys": options.externalAccountMACKeys,
        ]]
        let configPath = workDirectory.appendingPathComponent("pebble.json").path
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: configPath))

        var environment = ProcessInfo.processInfo.environment
        if !options.validationSleeps { environment["PEBBLE_VA_NOSLEEP"] = "1" }
        if let percent = options.nonceRejectPercent { environment["PEBBLE_WFE_NONCEREJECT"] = String(percent) }
        if let percent = options.authorizationReusePercent { environment["PEBBLE_AUTHZREUSE"] = String(percent) }
        server = try ServerProcess("/usr/bin/pebble", ["-config", configPath, "-dnsserver", "127.0.0.1:\(dnsPort)"], environment: environment)
        directoryURL = URL(string: "https://127.0.0.1:\(ports[0])/dir")!
        managementURL = URL(string: "https://127.0.0.1:\(ports[1])")!
        tlsRootPEM = identity.caPEM
        try await waitUntilServing()
    }

    /// An HTTP transport that trusts pebble's listener (and nothing else).
    public func makeTransport() throws -> AsyncHTTPClientTransport {
        try AsyncHTTPClientTransport(configuration: .init(additionalTrustRootsPEM: [tlsRootPEM], trustOnlyAdditionalRoots: true, userAgent: "CSRProxy-tests"))
    }

    /// Pebble's issuing root, from its management interface.
    public func rootPEM() async throws -> String {
        try await withTransport { transport in
            let response = try await transport.execute(ACMEHTTPRequest(method: .get, url: self.managementURL.appendingPathComponent("roots/0")), timeout: .seconds(10))
            guard response.status == 200 else { throw TestFailure("pebble's /roots/0 answered \(response.status)") }
            return String(decoding: response.body, as: UTF8.self)
        }
    }

    private func waitUntilServing() async throws {
        try await withTransport { transport in
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline {
                if let response = try? await transport.execute(ACMEHTTPRequest(method: .get, url: self.directoryURL), timeout: .seconds(2)), response.status == 200 {
                    return
                }
                guard self.server.isRunning else { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw TestFailure("pebble did not serve \(self.directoryURL): \(self.server.standardOutput) \(self.server.standardError)")
        }
    }

    /// Runs `body` with a transport trusting pebble, and shuts the transport down before returning.
    private func withTransport<Result>(_ body: (AsyncHTTPClientTransport) async throws -> Result) async throws -> Result {
        let transport = try makeTransport()
        do {
            let result = try await body(transport)
            try await transport.shutdown()
            return result
        } catch {
            try? await transport.shutdown()
            throw error
        }
    }

    public var isRunning: Bool { server.isRunning }

    /// Pebble's log so far (it logs every request it handles).
    public var log: String { server.standardOutput + server.standardError }

    /// How many orders pebble created, from its log (a newOrder retried after a bad nonce is one order).
    public var newOrderCount: Int { log.components(separatedBy: "Added order \"").count - 1 }

    /// The most orders that were between creation and issuance at once, as pebble's log shows
    /// them: 1 means strictly one after another.
    public var peakOverlappingOrders: Int {
        var open = 0
        var peak = 0
        for line in log.split(separator: "\n") {
            if line.contains("Added order \"") { open += 1 }
            if line.contains("Issued certificate serial") { open -= 1 }
            peak = max(peak, open)
        }
        return peak
    }

    public func stop() {
        server.stop()
        try? FileManager.default.removeItem(at: workDirectory)
    }

    deinit { stop() }
}

/// Distinct free TCP ports on 127.0.0.1 (free when asked; the OS may reuse them later).
public func freeTCPPorts(_ count: Int) throws -> [Int] {
    var ports: Set<Int> = []
    while ports.count < count {
        ports.insert(try freeTCPPort())
    }
    return Array(ports)
}
