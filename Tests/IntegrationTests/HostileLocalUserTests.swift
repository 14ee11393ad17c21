import CertificateSupport
import Foundation
import Glibc
import Testing
import TestSupport
import X509

/// The real `csrproxy-agent`, run as root, beside a product user (`nobody`) who is hostile: every
/// attack is set up by that user (through `setpriv`) where it can write, and by root only where
/// it stands for what a weaker system would let that user do (a hard link to a root file). Each
/// test checks that no root-only byte became readable by that user, that a decoy tree of root's
/// is unchanged, that `renew` ends in time with a documented code, and that the product's
/// files are still a matching pair.
@Suite(.serialized, .timeLimit(.minutes(10)), .enabled(if: getuid() == 0, "the agent must run as root and the attacker as nobody"))
struct HostileLocalUserTests {
    /// Root's files the attacker aims at: a key only root may read, and names the agent uses.
    struct Decoy {
        let directory: String
        let secret: String

        init(in work: URL) throws {
            directory = work.appendingPathComponent("decoy").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            secret = try KeyType.p256.generate().serializeAsPEM().pemString
            for name in ["privkey.pem", "key.pem", "cert.pem"] {
                try secret.write(toFile: "\(directory)/\(name)", atomically: false, encoding: .utf8)
                chmod("\(directory)/\(name)", 0o600)
            }
        }

        /// Contents, owner and mode of every file, to compare before and after.
        func snapshot() throws -> [String: String] {
            var result: [String: String] = [:]
            for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
                var info = stat()
                lstat("\(directory)/\(name)", &info)
                let bytes = (try? Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(name)"))) ?? Data()
                result[name] = "\(info.st_uid):\(info.st_gid):\(String(info.st_mode, radix: 8)):\(bytes.base64EncodedString())"
            }
            return result
        }

        /// The secret's base64 body, as it would appear in any copy.
        var secretBody: String { secret.split(separator: "\n").dropFirst().first.map(String.init) ?? secret }
    }

    static var nobody: (uid: uid_t, gid: gid_t) {
        get throws {
            guard let entry = getpwnam("nobody") else { throw TestFailure("this machine has no user nobody") }
            return (entry.pointee.pw_uid, entry.pointee.pw_gid)
        }
    }

    /// Runs a shell script as the hostile product user.
    static func asProduct(_ script: String, timeout: Duration = .seconds(60)) async throws -> CommandResult {
        let user = try nobody
        return try await runCommand("/usr/bin/setpriv", ["--reuid=\(user.uid)", "--regid=\(user.gid)", "--clear-groups", "/bin/sh", "-c", script], timeout: timeout)
    }

    /// Everything the product user can read under `directory`, concatenated.
    static func readableByProduct(_ directory: String) async throws -> String {
        try await asProduct("find \(directory) -type f -readable -exec cat {} + 2>/dev/null; find \(directory) -type l -readable -exec cat {} + 2>/dev/null; true").standardOutput
    }

    /// An agent of the earlier layout: everything under its directory owned by the product's
    /// user, made from a real issued pair so that the key can be followed through migration.
    static func earlierLayout(_ harness: SignerHarness, extra: String = "") async throws -> (AgentRunner, keyPEM: String) {
        let (plain, _) = try await AgentRunner.issued(by: harness)
        let key = try String(contentsOfFile: plain.path("key.pem"), encoding: .utf8)
        let agent = try AgentRunner(workDirectory: harness.workDirectory, signerPort: harness.baseURL.port!, caBundle: try await harness.issuingRootFile(),
                                    extra: "owner = \"nobody\"\n" + extra)
        let version = try FileManager.default.destinationOfSymbolicLink(atPath: plain.path("live"))
        // Flatten it by hand into what the earlier agent left: links, archive, side files at the top.
        try await runCommand("/bin/sh", ["-c", """
            set -e; rm -rf \(plain.path("state")); chown -R nobody \(plain.directory); chmod 700 \(plain.directory)
            """]).mustSucceed()
        #expect(version.hasPrefix("archive/"))
        return (agent, key)
    }

    static func matchingPair(_ agent: AgentRunner) throws -> Bool {
        let key = try Certificate.PrivateKey(pemEncoded: String(contentsOfFile: agent.path("key.pem"), encoding: .utf8))
        let leaf = try Certificate(pemEncoded: String(contentsOfFile: agent.path("cert.pem"), encoding: .utf8))
        return key.publicKey == leaf.publicKey
    }

    /// The issue's first two attacks on an install of the earlier layout: `key.pem` swapped for a
    /// link to a root-only key with a state claiming a fallback, and `archive/0` a link to root's
    /// directory. The next renew takes the directory over, keeps the real key, follows nothing,
    /// deletes nothing of root's, and leaves nothing of root's readable by the product.
    @Test func anEarlierLayoutWithPlantedLinksIsTakenOverSafely() async throws {
        let harness = try await SignerHarness()
        defer { harness.stop() }
        let decoy = try Decoy(in: harness.workDirectory)
        let (agent, keyPEM) = try await Self.earlierLayout(harness)
        let before = try decoy.snapshot()
        let planted = try await Self.asProduct("""
            cd \(agent.directory) && ln -s \(decoy.directory)/privkey.pem pending-key.pem && \
            printf '{"isFallback": true}' > state.json && mkfifo renewal-info.json && ln -s \(decoy.directory) archive/0 && \
            mkdir archive/1 && ln -s \(decoy.directory)/key.pem archive/1/key.pem && echo planted
            """)
        #expect(planted.standardOutput.contains("planted"), "\(planted.standardError)")

        for round in 0..<4 {
            let renewed = try await agent.run(["renew", "--force", "--quiet"], timeout: .seconds(60))
            #expect(renewed.status == 0, "round \(round): \(renewed.status) \(renewed.standardError)")
        }
        #expect(try decoy.snapshot() == before, "root's decoy files changed")
        #expect(try Self.matchingPair(agent))
        #expect(try String(contentsOfFile: agent.path("key.pem"), encoding: .utf8) == keyPEM, "the installed key was lost in the migration")
        let readable = try await Self.readableByProduct(agent.directory)
        #expect(!readable.contains(decoy.secretBody), "a root-only key became readable by the product's user")
        var info = stat()
        lstat(agent.directory, &info)
        #expect(info.st_uid == 0 && info.st_mode & 0o7777 == 0o750, "not taken over: \(info.st_uid) \(String(info.st_mode & 0o7777, radix: 8))")
        let write = try await Self.asProduct("touch \(agent.directory)/planted && echo WROTE; true")
        #expect(!write.standardOutput.contains("WROTE"))
    }

    /// A FIFO as the key, a 10 GB sparse certificate, a hard link to root's key: each refused with
    /// a documented code in seconds, nothing blocked on, nothing read, the decoy unchanged.
    @Test func fifosSparseFilesAndHardLinksAreRefusedAtOnce() async throws {
        let harness = try await SignerHarness()
        defer { harness.stop() }
        let decoy = try Decoy(in: harness.workDirectory)
        let (agent, _) = try await AgentRunner.issued(by: harness)
        let version = agent.directory + "/" + (try FileManager.default.destinationOfSymbolicLink(atPath: agent.path("live")))
        let before = try decoy.snapshot()
        let attacks = [
            ("a FIFO as key.pem", "mv \(version)/key.pem \(version)/key.saved && mkfifo -m 600 \(version)/key.pem", "mv \(version)/key.saved \(version)/key.pem"),
            ("a 10 GB sparse fullchain.pem", "mv \(version)/fullchain.pem \(version)/fc.saved && truncate -s 10G \(version)/fullchain.pem", "mv \(version)/fc.saved \(version)/fullchain.pem"),
            ("a hard link to root's key", "mv \(version)/key.pem \(version)/key.saved && ln \(decoy.directory)/privkey.pem \(version)/key.pem", "mv \(version)/key.saved \(version)/key.pem"),
            ("a FIFO as state", "rm -f \(agent.directory)/state/state.json && mkfifo -m 600 \(agent.directory)/state/state.json", "rm -f \(agent.directory)/state/state.json"),
        ]
        for (name, plant, restore) in attacks {
            try await runCommand("/bin/sh", ["-c", plant]).mustSucceed()
            let started = ContinuousClock.now
            let result = try await agent.run(["renew", "--force"], timeout: .seconds(60))
            #expect(ContinuousClock.now - started < .seconds(30), "\(name): renew took too long")
            #expect([0, 65, 78].contains(result.status), "\(name): \(result.status) \(result.standardError)")
            if name != "a FIFO as state" {
                #expect(result.status == 78 && result.standardError.contains("refused"), "\(name): \(result.status) \(result.standardError)")
            }
            try await runCommand("/bin/sh", ["-c", "rm -f \(version)/key.pem.x; \(restore)"]).mustSucceed()
            #expect(try decoy.snapshot() == before, "\(name): root's decoy changed")
            #expect(try Self.matchingPair(agent), "\(name)")
        }
    }

    /// A pidfile the product's user writes, holding the pid of one of root's processes: the
    /// decoy is not signalled (75, the files stay installed); the real product, which runs as
    /// that user, is.
    @Test func aPidfileOfTheProductCannotAimTheSignalElsewhere() async throws {
        let harness = try await SignerHarness()
        defer { harness.stop() }
        let user = try Self.nobody
        let run = harness.workDirectory.appendingPathComponent("run").path
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        chown(run, user.uid, user.gid)
        let rootDecoy = try ServerProcess("/bin/sleep", ["300"])
        // SIGKILL: the test runner's threads block SIGTERM, and its children inherit that.
        defer { rootDecoy.send(SIGKILL); _ = rootDecoy.waitForExit(within: .seconds(5)) }
        try await Self.asProduct("echo \(rootDecoy.pid) > \(run)/product.pid").mustSucceed()
        let (agent, _) = try await AgentRunner.issued(by: harness)
        let config = try String(contentsOfFile: agent.configurationPath, encoding: .utf8)
        try (config + "owner = \"nobody\"\n[[reload]]\nmethod = \"signal\"\npidfile = \"\(run)/product.pid\"\n").write(toFile: agent.configurationPath, atomically: true, encoding: .utf8)
        let before = try Data(contentsOf: URL(fileURLWithPath: agent.path("cert.pem")))
        let refused = try await agent.run(["renew", "--force"])
        #expect(refused.status == 75 && refused.standardError.contains("refused to signal pid \(rootDecoy.pid)"), "\(refused.status) \(refused.standardError)")
        #expect(rootDecoy.isRunning, "root's decoy process was killed")
        #expect(try Data(contentsOf: URL(fileURLWithPath: agent.path("cert.pem"))) != before, "the new certificate stays installed")
        #expect(try Self.matchingPair(agent))

        // The product itself, running as nobody, writes its pid there and is reloaded.
        let marker = "\(run)/reloaded"
        let product = try ServerProcess("/usr/bin/setpriv", ["--reuid=\(user.uid)", "--regid=\(user.gid)", "--clear-groups", "/bin/sh", "-c",
            "trap 'echo reloaded >> \(marker)' HUP; echo $$ > \(run)/product.pid; while :; do sleep 0.05; done"])
        defer { product.send(SIGKILL); _ = product.waitForExit(within: .seconds(5)) }
        let deadline = ContinuousClock.now + .seconds(10)
        while (try? String(contentsOfFile: "\(run)/product.pid", encoding: .utf8))?.contains("\(rootDecoy.pid)") != false, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let reloaded = try await agent.run(["renew", "--force"])
        #expect(reloaded.status == 0, "\(reloaded.standardError)")
        while !FileManager.default.fileExists(atPath: marker), ContinuousClock.now < deadline + .seconds(10) { try await Task.sleep(for: .milliseconds(20)) }
        #expect(FileManager.default.fileExists(atPath: marker), "the product running as its user was not signalled")
        #expect(rootDecoy.isRunning)
    }

    /// A configuration the product's user can change, or one under a directory it owns, steers
    /// nothing: refused with 78 before anything is read or written.
    @Test func aConfigurationOthersCanChangeIsRefused() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let agent = try AgentRunner(workDirectory: work, signerPort: 9, caBundle: "/etc/ssl/certs/ca-certificates.crt")
        chmod(agent.configurationPath, 0o666)
        let writable = try await agent.run(["status"])
        #expect(writable.status == 78 && writable.standardError.contains("writable by others"), "\(writable.standardError)")
        chmod(agent.configurationPath, 0o644)
        let user = try Self.nobody
        chown(work.path, user.uid, user.gid)
        let foreign = try await agent.run(["status"])
        #expect(foreign.status == 78 && foreign.standardError.contains("belongs to uid \(user.uid)"), "\(foreign.standardError)")
    }

    /// While renew takes an earlier layout over, the product's user keeps swapping `archive` for
    /// a link to root's directory: whatever instant the take-over lands, nothing of root's moves.
    @Test func aRacingProductUserRedirectsNothing() async throws {
        let harness = try await SignerHarness()
        defer { harness.stop() }
        let decoy = try Decoy(in: harness.workDirectory)
        let (agent, _) = try await Self.earlierLayout(harness)
        let before = try decoy.snapshot()
        let racer = try ServerProcess("/usr/bin/setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "/bin/sh", "-c", """
            cd \(agent.directory) || exit 1; end=$(($(date +%s) + 20))
            while [ $(date +%s) -lt $end ]; do mv archive a2 2>/dev/null; ln -sfn \(decoy.directory) archive 2>/dev/null; rm -f archive 2>/dev/null; mv a2 archive 2>/dev/null; done
            """])
        defer { _ = racer.stop() }
        try await Task.sleep(for: .milliseconds(200))
        let result = try await agent.run(["renew", "--force", "--quiet"], timeout: .seconds(60))
        #expect([0, 78].contains(result.status), "\(result.status) \(result.standardError)")
        _ = racer.stop()
        #expect(try decoy.snapshot() == before, "root's decoy changed")
        let readable = try await Self.readableByProduct(agent.directory)
        #expect(!readable.contains(decoy.secretBody))
    }

    /// An `exec` reload runs as the product's user, with PATH, LANG and the CSRPROXY_ variables
    /// only: none of root's environment, and nothing root could do.
    @Test func anExecReloadRunsAsTheProductWithAMinimalEnvironment() async throws {
        let harness = try await SignerHarness()
        defer { harness.stop() }
        let user = try Self.nobody
        let out = harness.workDirectory.appendingPathComponent("exec-out").path
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        chown(out, user.uid, user.gid)
        let (agent, _) = try await AgentRunner.issued(by: harness)
        let config = try String(contentsOfFile: agent.configurationPath, encoding: .utf8)
        try (config + """
            owner = "nobody"
            [[reload]]
            method = "exec"
            command = ["/bin/sh", "-c", "id -u > \(out)/uid; env > \(out)/env; touch /root/written-by-exec 2>/dev/null; true"]
            timeout_seconds = 10
            """).write(toFile: agent.configurationPath, atomically: true, encoding: .utf8)
        // The agent runs with a secret in its environment; the test's own stays untouched.
        var agentEnvironment = ProcessInfo.processInfo.environment
        agentEnvironment["CSRPROXY_TEST_ROOT_SECRET"] = "hunter2"
        let renewed = try await agent.run(["renew", "--force"], environment: agentEnvironment)
        #expect(renewed.status == 0, "\(renewed.standardError)")
        #expect(try String(contentsOfFile: "\(out)/uid", encoding: .utf8) == "\(user.uid)\n")
        let environment = try String(contentsOfFile: "\(out)/env", encoding: .utf8)
        let names = Set(environment.split(separator: "\n").map { String($0.prefix { $0 != "=" }) })
        #expect(names.isSubset(of: ["PATH", "LANG", "PWD", "SHLVL", "_", "CSRPROXY_KEY", "CSRPROXY_CERT", "CSRPROXY_CHAIN", "CSRPROXY_FULLCHAIN"]), "\(names)")
        #expect(!environment.contains("hunter2"))
        #expect(!FileManager.default.fileExists(atPath: "/root/written-by-exec"))
    }
}


extension CommandResult {
    /// Fails the test with what the command said when it did not exit 0.
    @discardableResult
    func mustSucceed() throws -> CommandResult {
        guard status == 0 else { throw TestFailure("command exited \(status): \(standardOutput) \(standardError)") }
        return self
    }
}
