@testable import Agent
import CertificateSupport
import CommandLineSupport
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

    func failures(_ method: AgentConfiguration.ReloadMethod) throws -> [String] {
        Reloader(methods: [method], files: files, product: try ProductAccount(user: nil, group: nil), logger: Logger(label: "test")).reload()
    }

    @Test func aProductThatIsNotRunningIsNotAFailure() throws {
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("missing-\(UUID().uuidString).pid").path
        #expect(try failures(.signal(pidFile: missing, pid: nil, signal: SIGHUP)).isEmpty)
        // A pid that no process has any more: one that exited and was reaped just now.
        let exited = Process()
        exited.executableURL = URL(fileURLWithPath: "/bin/true")
        try exited.run()
        exited.waitUntilExit()
        #expect(try failures(.signal(pidFile: nil, pid: exited.processIdentifier, signal: SIGHUP)).isEmpty)
    }

    /// Out of range, the pid of init, or our own pid: refused, and reported as a failure.
    @Test func pidsNoProductCanHaveAreRefused() throws {
        for pid: Int32 in [1, 0, -1, Int32.max] {
            let result = try failures(.signal(pidFile: nil, pid: pid, signal: 0))
            #expect(result.count == 1 && result[0].contains("refused"), "\(pid): \(result)")
        }
    }

    @Test func aPidfileWithoutAPidAndAFailingCommandAreFailures() throws {
        let garbage = FileManager.default.temporaryDirectory.appendingPathComponent("garbage-\(UUID().uuidString).pid").path
        try "not a pid\n".write(toFile: garbage, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: garbage) }
        #expect(try failures(.signal(pidFile: garbage, pid: nil, signal: SIGHUP)).count == 1)
        #expect(try failures(.exec(command: ["/bin/false"])).count == 1)
        #expect(try failures(.exec(command: ["/bin/true"])).isEmpty)
    }

    /// An exec reload is stopped at its time limit, with everything it started.
    @Test func anExecReloadIsStoppedAtItsTimeLimit() throws {
        let started = ContinuousClock.now
        let result = try failures(.exec(command: ["/bin/sh", "-c", "sleep 30 & sleep 30"], timeLimit: .seconds(1)))
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(result.count == 1 && result[0].contains("did not finish within 1 s"), "\(result)")
    }

    /// The command sees PATH, LANG and the CSRPROXY_ variables, nothing else of the agent's.
    @Test func anExecReloadGetsOnlyAMinimalEnvironment() throws {
        setenv("CSRPROXY_TEST_SECRET", "hunter2", 1)
        defer { unsetenv("CSRPROXY_TEST_SECRET") }
        let output = try Spawn.capture(["/usr/bin/env"], environment: .minimal(["CSRPROXY_KEY": "/k"])).output
        let names = Set(output.split(separator: "\n").map { String($0.prefix { $0 != "=" }) })
        #expect(names.isSubset(of: ["PATH", "LANG", "CSRPROXY_KEY"]) && names.contains("CSRPROXY_KEY"), "\(names)")
        #expect(!output.contains("hunter2"))
    }
}

struct FinishIfNotDueTests {
    /// No certificate yet is not "not due": renew must go on and issue one (and say nothing here).
    @Test func nothingInstalledLeavesTheWorkToRenew() throws {
        var configuration = try AgentConfiguration(toml: "signer_url = \"https://s.example.com\"\nname = \"go.eval.example.com\"\n")
        configuration.directory = FileManager.default.temporaryDirectory.appendingPathComponent("empty-\(UUID().uuidString)").path
        let printed = Printed()
        let agent = try Agent(configuration: configuration, environment: [:], logger: Logger(label: "test")) { printed.append($0) }
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

struct HostileInputTests {
    static let base = "signer_url = \"https://s.example.com\"\nname = \"go.eval.example.com\"\n"

    /// A pid outside 2...pid_max is a configuration error (78), not a crash or kill(-1, ...).
    @Test(arguments: ["-1", "0", "1", "4294967296", "99999999999"])
    func pidsOutOfRangeAreConfigurationErrors(pid: String) {
        #expect(throws: AgentError.self) {
            try AgentConfiguration(toml: Self.base + "[[reload]]\nmethod = \"signal\"\npid = \(pid)\n")
        }
    }

    /// http:// reaches only a signer on this machine; anything else must be https://.
    @Test func plainHTTPIsForLoopbackOnly() throws {
        for url in ["http://127.0.0.1:8080", "http://[::1]:8080", "http://localhost:8080", "https://signer.example.com"] {
            #expect((try? AgentConfiguration.signerURL(url)) != nil, "\(url)")
        }
        for url in ["http://signer.example.com", "http://10.0.0.1", "http://127.0.0.1.example.com", "ftp://127.0.0.1", "file:///etc/passwd"] {
            #expect(throws: AgentError.self, "\(url)") { try AgentConfiguration.signerURL(url) }
        }
    }

    /// A journal line stays one line: a carriage return or newline from a peer starts no entry.
    @Test func journalLinesSplitOnNothing() {
        let line = JournalLine.oneLine("renewal failed: x\r<2>forged\nthird\u{1B}[31m")
        #expect(line == "renewal failed: x <2>forged third?[31m")
    }

    /// ANSI escapes, carriage returns, C1 controls and bidi overrides never reach the terminal.
    @Test func terminalTextDropsControlCharacters() {
        let cleaned = TerminalText.clean("ok\u{1B}[2J\rfake\u{9B}31m\u{202E}txt\n", limit: 100)
        #expect(!cleaned.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0.value == 0x202E })
        #expect(cleaned.hasPrefix("ok?[2J?fake"))
        #expect(TerminalText.clean(String(repeating: "a", count: 1000), limit: 10).count == 11)
    }
}
