@testable import Agent
import CertificateSupport
import Crypto
import Foundation
import Logging
import SignerProtocol
import Testing
import X509

struct ProxySelectionTests {
    let signer = URL(string: "https://signer.eval.example.com:8443")!

    @Test func httpsProxyIsUsedUnlessNoProxyNamesTheHost() {
        let proxy = SignerClient.proxy(for: signer, environment: ["https_proxy": "http://user:secret@proxy.corp:3128"])
        #expect(proxy?.host == "proxy.corp" && proxy?.port == 3128)
        #expect(proxy?.authorization != nil)
        #expect(SignerClient.proxy(for: signer, environment: ["HTTPS_PROXY": "proxy.corp:8080"])?.port == 8080)
        #expect(SignerClient.proxy(for: signer, environment: ["https_proxy": "proxy.corp:8080", "no_proxy": "localhost,.example.com"]) == nil)
        #expect(SignerClient.proxy(for: signer, environment: ["https_proxy": "proxy.corp:8080", "no_proxy": "eval.example.com"]) == nil)
        #expect(SignerClient.proxy(for: signer, environment: ["https_proxy": "proxy.corp:8080", "no_proxy": "other.com"]) != nil)
        #expect(SignerClient.proxy(for: signer, environment: ["http_proxy": "proxy.corp:8080"]) == nil, "http_proxy is for http:// URLs")
        #expect(SignerClient.proxy(for: signer, environment: [:]) == nil)
    }

    @Test func httpDatesParse() {
        let date = SignerClient.parseHTTPDate("Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(date == Date(timeIntervalSince1970: 784_111_777))
        #expect(SignerClient.parseHTTPDate("yesterday") == nil)
    }
}

struct RenewalDecisionTests {
    static func leaf(days: Double, startedDaysAgo: Double) throws -> Certificate {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName { CommonName("go.eval.example.com") }
        let start = Date().addingTimeInterval(-startedDaysAgo * 86_400)
        return try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey), notValidBefore: start,
            notValidAfter: start.addingTimeInterval(days * 86_400), issuer: subject, subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256, extensions: .init(), issuerPrivateKey: .init(key))
    }

    static func cache(for leaf: Certificate, startIn: Double, fetchedHoursAgo: Double) throws -> RenewalCache {
        let formatter = ISO8601DateFormatter()
        let start = Date().addingTimeInterval(startIn * 86_400)
        let window = RenewalWindowResponse(suggestedWindow: .init(start: formatter.string(from: start), end: formatter.string(from: start.addingTimeInterval(86_400))), source: "ca")
        return try RenewalCache(serial: leaf.serialNumber.description, window: window, fetchedAt: Date().addingTimeInterval(-fetchedHoursAgo * 3600))
    }

    @Test func aFreshCacheDecidesWithoutTheNetwork() throws {
        let leaf = try Self.leaf(days: 90, startedDaysAgo: 10)
        let later = try Self.cache(for: leaf, startIn: 20, fetchedHoursAgo: 1)
        guard case .notDue = RenewalCache.decide(leaf: leaf, cache: later, isFallback: false, now: Date()) else { Issue.record("expected not due"); return }
        let now = try Self.cache(for: leaf, startIn: -2, fetchedHoursAgo: 1)
        guard case .due = RenewalCache.decide(leaf: leaf, cache: now, isFallback: false, now: Date()) else { Issue.record("expected due"); return }
    }

    @Test func aStaleOrForeignCacheMeansAskingTheSigner() throws {
        let leaf = try Self.leaf(days: 90, startedDaysAgo: 10)
        #expect(RenewalCache.decide(leaf: leaf, cache: try Self.cache(for: leaf, startIn: 20, fetchedHoursAgo: 13), isFallback: false, now: Date()) == .askSigner)
        let other = try Self.leaf(days: 90, startedDaysAgo: 10)
        #expect(RenewalCache.decide(leaf: leaf, cache: try Self.cache(for: other, startIn: 20, fetchedHoursAgo: 1), isFallback: false, now: Date()) == .askSigner)
        #expect(RenewalCache.decide(leaf: leaf, cache: nil, isFallback: false, now: Date()) == .askSigner)
    }

    @Test func theLifetimeRuleAndTheFallbackOverrideTheCache() throws {
        let old = try Self.leaf(days: 90, startedDaysAgo: 80)  // past 75 days: the end of the lifetime window
        guard case .due = RenewalCache.decide(leaf: old, cache: try Self.cache(for: old, startIn: 30, fetchedHoursAgo: 1), isFallback: false, now: Date()) else { Issue.record("expected due"); return }
        let young = try Self.leaf(days: 90, startedDaysAgo: 1)
        guard case .due = RenewalCache.decide(leaf: young, cache: try Self.cache(for: young, startIn: 30, fetchedHoursAgo: 1), isFallback: true, now: Date()) else { Issue.record("expected due"); return }
    }
}

struct AgentConfigurationTests {
    @Test func minimalFileGetsDefaults() throws {
        let configuration = try AgentConfiguration(toml: "signer_url = \"https://s.example.com\"\nname = \"go.eval.example.com\"\n")
        #expect(configuration.keyType == .p256 && configuration.naming == .shared && configuration.directory == "/var/lib/csrproxy/tls")
        #expect(configuration.deadline == .seconds(120) && configuration.reloads.isEmpty)
    }

    @Test func reloadMethodsParse() throws {
        let configuration = try AgentConfiguration(toml: """
            signer_url = "https://s.example.com"
            name = "go.eval.example.com"
            [[reload]]
            method = "signal"
            pidfile = "/run/p.pid"
            signal = "USR1"
            [[reload]]
            method = "systemd"
            unit = "p.service"
            [[reload]]
            method = "exec"
            command = ["/bin/true"]
            """)
        #expect(configuration.reloads == [.signal(pidFile: "/run/p.pid", pid: nil, signal: SIGUSR1), .systemd(unit: "p.service"), .exec(command: ["/bin/true"])])
    }

    @Test("errors name the key", arguments: [
        ("name = \"go.eval.example.com\"", "signer_url"),
        ("signer_url = \"https://s.example.com\"", "name"),
        ("signer_url = \"https://s.example.com\"\nname = \"go.eval.example.com\"\nkey_type = \"ed25519\"", "key_type"),
        ("signer_url = \"https://s.example.com\"\nname = \"go.eval.example.com\"\nport = 0", "port"),
        ("signer_url = \"https://s.example.com\"\nname = \"go.eval.example.com\"\nlabels = [\"Bad Label\"]", "labels"),
        ("signer_url = \"https://s.example.com\"\nname = \"go.eval.example.com\"\n[[reload]]\nmethod = \"signal\"", "reload[0]"),
        ("signer_url = \"https://s.example.com\"\nname = \"go.eval.example.com\"\ncolour = \"blue\"", "colour"),
    ])
    func errorsNameTheKey(text: String, key: String) {
        #expect { try AgentConfiguration(toml: text) } throws: { error in
            (error as? AgentError)?.code == .configuration && "\(error)".contains(key)
        }
    }
}

/// A product that is not running has nothing to reload: that is not a failure (a first install
/// runs `issue` before the product starts). A pidfile that says nothing useful is one.
struct ReloaderTests {
    let files = CertificateFiles(directory: "/nonexistent")

    func failures(_ method: AgentConfiguration.ReloadMethod) -> [String] {
        Reloader(methods: [method], files: files, logger: Logger(label: "test")).reload()
    }

    @Test func aProductThatIsNotRunningIsNotAFailure() throws {
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("missing-\(UUID().uuidString).pid").path
        #expect(failures(.signal(pidFile: missing, pid: nil, signal: SIGHUP)).isEmpty)
        // A pid that no process has: the highest pid Linux hands out, plus one.
        #expect(failures(.signal(pidFile: nil, pid: 4_194_305, signal: SIGHUP)).isEmpty)
    }

    @Test func aPidfileWithoutAPidAndAFailingCommandAreFailures() throws {
        let garbage = FileManager.default.temporaryDirectory.appendingPathComponent("garbage-\(UUID().uuidString).pid").path
        try "not a pid\n".write(toFile: garbage, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: garbage) }
        #expect(failures(.signal(pidFile: garbage, pid: nil, signal: SIGHUP)).count == 1)
        #expect(failures(.exec(command: ["/bin/false"])).count == 1)
        #expect(failures(.exec(command: ["/bin/true"])).isEmpty)
    }
}

struct FinishIfNotDueTests {
    /// No certificate yet is not "not due": renew must go on and issue one (and say nothing here).
    @Test func nothingInstalledLeavesTheWorkToRenew() throws {
        var configuration = try AgentConfiguration(toml: "signer_url = \"https://s.example.com\"\nname = \"go.eval.example.com\"\n")
        configuration.directory = FileManager.default.temporaryDirectory.appendingPathComponent("empty-\(UUID().uuidString)").path
        let printed = Printed()
        let agent = Agent(configuration: configuration, environment: [:], logger: Logger(label: "test")) { printed.append($0) }
        #expect(!agent.finishIfNotDue())
        #expect(printed.lines.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: configuration.directory), "a check must not create the directory")
    }

    final class Printed: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: [String] = []
        var lines: [String] { lock.withLock { stored } }
        func append(_ line: String) { lock.withLock { stored.append(line) } }
    }
}
