import CertificateSupport
import Crypto
import Glibc
import Foundation
import Testing
import TestSupport
import X509

/// The agent binary against the real signer and pebble: what it installs, what it sends, when
/// it stays quiet, and that it never damages what is installed.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct AgentBinaryTests {
    static func modes(_ path: String) -> mode_t? { SecureFile.permissions(of: path) }

    /// Key and certificate match, the chain verifies against pebble's root, modes are right,
    /// and what went over the wire is a CSR for our key, with no key material.
    @Test func issueInstallsVerifiedFilesAndSendsOnlyTheCSR() async throws {
        let harness = try await SignerHarness()
        defer { harness.stop() }
        let relay = try RecordingRelay(forwardingTo: harness.baseURL.port!)
        let agent = try AgentRunner(workDirectory: harness.workDirectory, signerPort: relay.port, caBundle: try await harness.issuingRootFile())
        let result = try await agent.run(["issue"])
        #expect(result.status == 0, "\(result.standardOutput) \(result.standardError)")
        #expect(result.standardOutput.contains("generating the key (ECDSA P-256)") && result.standardOutput.contains("done:"), "\(result.standardOutput)")
        #expect(Self.modes(agent.directory) == 0o700)
        #expect(Self.modes(agent.path("key.pem")) == 0o600)
        #expect(Self.modes(agent.path("fullchain.pem")) == 0o644)

        let root = try await harness.issuingRootFile()
        let verify = try await runCommand("/bin/sh", ["-c", "openssl verify -CAfile \(root) -untrusted \(agent.path("chain.pem")) \(agent.path("cert.pem"))"])
        #expect(verify.standardOutput.contains(": OK"), "\(verify.standardOutput) \(verify.standardError)")
        let fromCertificate = try await runCommand("/bin/sh", ["-c", "openssl x509 -in \(agent.path("cert.pem")) -noout -pubkey"])
        let fromKey = try await runCommand("/bin/sh", ["-c", "openssl pkey -in \(agent.path("key.pem")) -pubout"])
        #expect(fromCertificate.standardOutput == fromKey.standardOutput && !fromKey.standardOutput.isEmpty)

        let wire = relay.bytesSent
        let text = String(decoding: wire, as: UTF8.self)
        #expect(text.contains("POST /v1/sign") && text.contains("application/pkcs10") && text.contains("X-CSRProxy-Label: product=tests"))
        let keyPEM = try String(contentsOfFile: agent.path("key.pem"), encoding: .utf8)
        let key = try Certificate.PrivateKey(pemEncoded: keyPEM)
        let scalar = try P256.Signing.PrivateKey(pemRepresentation: keyPEM).rawRepresentation
        #expect(!Self.contains(wire, try key.serializeAsPEM().derBytes), "the private key went over the wire")
        #expect(!Self.contains(wire, Array(scalar)), "the private scalar went over the wire")
        #expect(Self.contains(wire, Array(key.publicKey.subjectPublicKeyInfoBytes)), "the CSR with our public key was sent")
        #expect(!text.contains("PRIVATE KEY"))
    }

    /// Issued once: the harness, a relay in front of the signer, and an agent that went through it.
    static func issued(extra: String = "") async throws -> (SignerHarness, RecordingRelay, AgentRunner) {
        let harness = try await SignerHarness()
        let relay = try RecordingRelay(forwardingTo: harness.baseURL.port!)
        let agent = try AgentRunner(workDirectory: harness.workDirectory, signerPort: relay.port, caBundle: try await harness.issuingRootFile(), extra: extra)
        let result = try await agent.run(["issue", "--quiet"])
        guard result.status == 0 else { throw TestFailure("issue failed: \(result.standardError)") }
        return (harness, relay, agent)
    }

    static func snapshot(_ agent: AgentRunner) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for name in ["key.pem", "cert.pem", "chain.pem", "fullchain.pem"] {
            files[name] = try Data(contentsOf: URL(fileURLWithPath: agent.path(name)))
        }
        return files
    }

    /// With a fresh cached window and the time not reached, renew does nothing and connects to nothing.
    @Test func renewWhenNotDueTouchesNoNetwork() async throws {
        let (harness, relay, agent) = try await Self.issued()
        defer { harness.stop() }
        let first = try await agent.run(["renew"])  // asks the signer once, caches the window
        #expect(first.status == 0, "\(first.standardError)")
        #expect(first.standardOutput.contains("not due"), "\(first.standardOutput)")
        let before = try Self.snapshot(agent)
        let connections = relay.connections
        let second = try await agent.run(["renew", "--quiet"])
        #expect(second.status == 0)
        #expect(second.standardOutput.isEmpty)
        // Answered before any task starts (AgentMain), and still says so to a person.
        let third = try await agent.run(["renew"])
        #expect(third.status == 0, "\(third.standardError)")
        #expect(third.standardOutput.contains("not due; next renewal at"), "\(third.standardOutput)")
        #expect(relay.connections == connections, "renew connected to the signer although nothing was due")
        #expect(try Self.snapshot(agent) == before)
        // status shows the moment renew will act, the one it just printed (not the window's start).
        let printed = try #require(third.standardOutput.components(separatedBy: "next renewal at ").last?.trimmingCharacters(in: .whitespacesAndNewlines))
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss Z"
        let status = try JSONSerialization.jsonObject(with: Data(try await agent.run(["status", "--json"]).standardOutput.utf8)) as? [String: Any]
        let shown = (status?["nextRenewal"] as? String).flatMap(ISO8601DateFormatter().date(from:))
        #expect(shown != nil && shown == formatter.date(from: printed), "status says \(String(describing: status?["nextRenewal"])), renew said \(printed)")
    }

    /// renew --force replaces the certificate, keeps the key and signals the product;
    /// --rotate-key makes a new key.
    @Test func forcedRenewalKeepsTheKeyAndSignalsTheProduct() async throws {
        let marker = FileManager.default.temporaryDirectory.appendingPathComponent("hup-\(UUID().uuidString)").path
        let pidFile = marker + ".pid"
        let product = try ServerProcess("/bin/sh", ["-c", "trap 'echo reloaded >> \(marker)' HUP; echo $$ > \(pidFile); while :; do sleep 0.05; done"])
        defer {
            product.stop()
            try? FileManager.default.removeItem(atPath: marker)
            try? FileManager.default.removeItem(atPath: pidFile)
        }
        while !FileManager.default.fileExists(atPath: pidFile) { try await Task.sleep(for: .milliseconds(10)) }
        let (harness, _, agent) = try await Self.issued(extra: "[[reload]]\nmethod = \"signal\"\npidfile = \"\(pidFile)\"\n")
        defer { harness.stop() }
        try await Task.sleep(for: .milliseconds(200))
        let before = try Self.snapshot(agent)
        let renewed = try await agent.run(["renew", "--force"])
        #expect(renewed.status == 0, "\(renewed.standardError)")
        let after = try Self.snapshot(agent)
        #expect(after["key.pem"] == before["key.pem"])
        #expect(after["cert.pem"] != before["cert.pem"])
        // The product writes the line when its trap runs: wait for it rather than guess how long.
        let reloads = { ((try? String(contentsOfFile: marker, encoding: .utf8))?.components(separatedBy: "reloaded").count ?? 1) - 1 }
        let deadline = ContinuousClock.now + .seconds(10)
        while reloads() < 2, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(reloads() >= 2, "the product was not signalled on issue and renew")

        let rotated = try await agent.run(["renew", "--force", "--rotate-key"])
        #expect(rotated.status == 0, "\(rotated.standardError)")
        #expect(try Self.snapshot(agent)["key.pem"] != after["key.pem"])
    }

    /// Signer down: issue and renew give up at the deadline with 69 or 75, and change nothing.
    @Test func signerDownLeavesTheFilesByteIdentical() async throws {
        let (harness, _, agent) = try await Self.issued()
        defer { harness.stop() }
        let before = try Self.snapshot(agent)
        harness.signer.stop()
        for command in [["renew", "--force", "--deadline", "3"], ["issue", "--deadline", "3"]] {
            let started = ContinuousClock.now
            let result = try await agent.run(command)
            #expect([69, 75].contains(result.status), "\(command): \(result.status) \(result.standardError)")
            #expect(result.standardError.contains("csrproxy-agent: error:"))
            #expect(ContinuousClock.now - started < .seconds(30))
            #expect(try Self.snapshot(agent) == before)
        }
        let status = try await agent.run(["status", "--json"])
        #expect(status.standardOutput.contains("lastError"))
    }

    /// A key others can read is refused (78) and left alone; a bad configuration names its key (78).
    @Test func exposedKeyAndBadConfigurationAreRefused() async throws {
        let (harness, _, agent) = try await Self.issued()
        defer { harness.stop() }
        let keyTarget = try FileManager.default.destinationOfSymbolicLink(atPath: agent.path("key.pem"))
        let keyFile = agent.directory + "/" + keyTarget
        chmod(keyFile, 0o640)
        let refused = try await agent.run(["renew", "--force"])
        #expect(refused.status == 78)
        #expect(refused.standardError.contains("readable by others") && refused.standardError.contains("chmod 600"), "\(refused.standardError)")
        #expect(SecureFile.permissions(of: keyFile) == 0o640)
        chmod(keyFile, 0o600)

        let text = try String(contentsOfFile: agent.configurationPath, encoding: .utf8)
        for (change, word) in [("deadline_seconds = 20", "deadline_seconds = \"soon\""), ("labels = [\"product=tests\"]", "lables = []"), ("labels = [\"product=tests\"]", "key_type = \"dsa\"")] {
            try text.replacingOccurrences(of: change, with: word).write(toFile: agent.configurationPath, atomically: true, encoding: .utf8)
            let result = try await agent.run(["status"])
            #expect(result.status == 78, "\(word): \(result.standardError)")
            let key = String(word.prefix { $0 != " " })
            #expect(result.standardError.contains(key), "\(result.standardError) does not name \(key)")
        }
    }

    /// status --json parses and carries the installed certificate's facts.
    @Test func statusJSONReportsTheInstalledCertificate() async throws {
        let (harness, _, agent) = try await Self.issued()
        defer { harness.stop() }
        let result = try await agent.run(["status", "--json"])
        #expect(result.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        let leaf = try Certificate(pemEncoded: String(contentsOfFile: agent.path("cert.pem"), encoding: .utf8))
        let formatter = ISO8601DateFormatter()
        #expect((object["notAfter"] as? String).flatMap(formatter.date(from:)) == Date(timeIntervalSince1970: leaf.notValidAfter.timeIntervalSince1970.rounded(.down)))
        #expect(object["names"] as? [String] == [SignerHarness.name])
        #expect(object["keyType"] as? String == "ECDSA P-256")
        // The same hash openssl gives of the DER SubjectPublicKeyInfo, as per-install labels use.
        let openssl = try await runCommand("/bin/sh", ["-c", "openssl pkey -in \(agent.path("key.pem")) -pubout -outform DER | sha256sum | cut -c1-64"])
        #expect(object["keyFingerprintSHA256"] as? String == openssl.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(object["installed"] as? Bool == true)
    }

    /// SIGKILL at 50 instants during renew --force: after each, the stable paths hold a key and
    /// a certificate that belong together.
    @Test func killedAtAnyInstantLeavesAMatchingPair() async throws {
        let (harness, _, agent) = try await Self.issued()
        defer { harness.stop() }
        var random = SeededGenerator(seed: 0x5EED_2026)
        // The kill instants fall inside a window as long as one renewal takes on this machine
        // now; the window follows the load as it goes: it shrinks after a run that finished
        // before its kill and grows after one that was cut. However fast or slow the machine,
        // the runs are cut mid-way, and the attempts go on until 25 were (at most 150).
        let timed = ContinuousClock.now
        try await agent.run(["renew", "--force", "--quiet"]).mustSucceed()
        let measured = max(Int((ContinuousClock.now - timed) / .milliseconds(1)), 20)
        var window = measured
        var (attempts, interrupted, finished) = (0, 0, 0)
        while attempts < 50 || (interrupted < 25 && attempts < 150) {
            attempts += 1
            let process = try agent.start(["renew", "--force", "--quiet"])
            try await Task.sleep(for: .milliseconds(Int(random.next() % UInt64(max(window, 1)))))
            process.send(SIGKILL)
            guard process.waitForExit(within: .seconds(10)) else { throw TestFailure("the agent \(process.pid) outlived SIGKILL") }
            if process.child.terminatingSignal != nil {
                interrupted += 1
                window = min(window * 11 / 10 + 1, measured * 2)
            } else {
                finished += 1
                window = window * 3 / 4
            }
            let key = try Certificate.PrivateKey(pemEncoded: String(contentsOfFile: agent.path("key.pem"), encoding: .utf8))
            let leaf = try Certificate(pemEncoded: String(contentsOfFile: agent.path("cert.pem"), encoding: .utf8))
            let chain = try String(contentsOfFile: agent.path("fullchain.pem"), encoding: .utf8)
            #expect(key.publicKey == leaf.publicKey)
            #expect(chain.hasPrefix(try leaf.serializeAsPEM().pemString))
        }
        print("killed mid-way \(interrupted) of \(attempts) renewals (\(finished) finished first); first run \(measured) ms, last window \(window) ms")
        #expect(interrupted >= 25, "most runs should have been killed mid-way, not finished (\(interrupted) of \(attempts), last window \(window) ms)")
    }

    /// --fallback self-signed: with the signer unreachable at first install the product still
    /// gets a (self-signed) pair, and the next renew replaces it once the signer answers.
    @Test func fallbackAtFirstInstallIsReplacedByTheNextRenewal() async throws {
        let harness = try await SignerHarness()
        defer { harness.stop() }
        let deadPort = try freeTCPPort()
        let agent = try AgentRunner(workDirectory: harness.workDirectory, signerPort: deadPort, caBundle: try await harness.issuingRootFile())
        let fallback = try await agent.run(["issue", "--fallback", "self-signed", "--deadline", "2"])
        #expect(fallback.status == 0, "\(fallback.standardError)")
        let temporary = try Certificate(pemEncoded: String(contentsOfFile: agent.path("cert.pem"), encoding: .utf8))
        #expect(temporary.issuer == temporary.subject)
        let status = try await agent.run(["status", "--json"])
        #expect(status.standardOutput.contains("\"isFallback\" : true"), "\(status.standardOutput)")

        let text = try String(contentsOfFile: agent.configurationPath, encoding: .utf8)
        try text.replacingOccurrences(of: "127.0.0.1:\(deadPort)", with: "127.0.0.1:\(harness.baseURL.port!)").write(toFile: agent.configurationPath, atomically: true, encoding: .utf8)
        let renewed = try await agent.run(["renew"])
        #expect(renewed.status == 0, "\(renewed.standardError)")
        let real = try Certificate(pemEncoded: String(contentsOfFile: agent.path("cert.pem"), encoding: .utf8))
        #expect(real.issuer != real.subject)
        #expect(real.publicKey == temporary.publicKey, "the key made for the fallback is kept")
    }

    /// `owner` lets the product's user read the files through its group, and write none of
    /// them: root owns everything, directories 0750, the key 0640. `open` never fails.
    @Test func theProductReadsThroughItsGroupAndOpenNeverFails() async throws {
        guard let nobody = getpwnam("nobody") else { throw TestFailure("this machine has no user nobody") }
        let group = nobody.pointee.pw_gid
        let (harness, _, agent) = try await Self.issued(extra: "owner = \"nobody\"\nport = 8443")
        defer { harness.stop() }
        let keyFile = agent.directory + "/" + (try FileManager.default.destinationOfSymbolicLink(atPath: agent.directory + "/live")) + "/key.pem"
        for (path, mode) in [(agent.directory, 0o750), (agent.path("archive"), 0o750), (keyFile, 0o640), (agent.path("state"), 0o700)] as [(String, mode_t)] {
            var info = stat()
            #expect(lstat(path, &info) == 0)
            #expect(info.st_uid == 0 && info.st_mode & 0o7777 == mode, "\(path) is \(info.st_uid) \(String(info.st_mode & 0o7777, radix: 8))")
            if path != agent.path("state") { #expect(info.st_gid == group, "\(path) has group \(info.st_gid)") }
        }
        // As the product would: it reads the key through the stable path, and can change nothing.
        let asProduct = try await runCommand("/usr/bin/setpriv", ["--reuid=nobody", "--regid=\(group)", "--clear-groups", "/bin/sh", "-c",
            "head -c 27 \(agent.path("key.pem")); touch \(agent.directory)/x 2>/dev/null && echo WROTE; ls \(agent.path("state")) 2>/dev/null && echo LISTED; true"])
        #expect(asProduct.standardOutput == "-----BEGIN PRIVATE KEY-----", "\(asProduct.standardOutput) \(asProduct.standardError)")
        let opened = try await agent.run(["open", "--print-only"])
        #expect(opened.status == 0)
        #expect(opened.standardOutput == "https://go.eval.example.com:8443/\n")
        let tried = try await agent.run(["open"])
        #expect(tried.status == 0)
        #expect(tried.standardOutput.contains("https://go.eval.example.com:8443/"), "\(tried.standardOutput)")
    }

    /// Under the renew unit's umask (0077), directories the agent makes on the way to its own are
    /// still 0755, so the product (through its group) can reach its files.
    @Test func directoriesMadeOnTheWayStayPassable() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("umask-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let agent = try AgentRunner(workDirectory: work, signerPort: try freeTCPPort(), caBundle: "/etc/ssl/certs/ca-certificates.crt",
                                    extra: "owner = \"nobody\"\ndirectory = \"\(work.path)/new/parents/tls\"")
        let text = try String(contentsOfFile: agent.configurationPath, encoding: .utf8)
        try text.replacingOccurrences(of: "directory = \"\(agent.directory)\"\n", with: "").write(toFile: agent.configurationPath, atomically: true, encoding: .utf8)
        let result = try await runCommand("/bin/sh", ["-c", "umask 077; exec \(try builtExecutable("csrproxy-agent")) issue --fallback self-signed --deadline 1 -c \(agent.configurationPath)"])
        #expect(result.status == 0, "\(result.standardError)")
        for (path, mode) in [("new", 0o755), ("new/parents", 0o755), ("new/parents/tls", 0o750)] as [(String, mode_t)] {
            #expect(SecureFile.permissions(of: "\(work.path)/\(path)") == mode, "\(path) is \(String(SecureFile.permissions(of: "\(work.path)/\(path)") ?? 0, radix: 8))")
        }
        let asProduct = try await runCommand("/usr/bin/setpriv", ["--reuid=nobody", "--regid=\(getpwnam("nobody")!.pointee.pw_gid)", "--clear-groups", "/usr/bin/head", "-c", "27", "\(work.path)/new/parents/tls/key.pem"])
        #expect(asProduct.standardOutput == "-----BEGIN PRIVATE KEY-----", "\(asProduct.standardError)")
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        return (0...(haystack.count - needle.count)).contains { haystack[$0..<($0 + needle.count)].elementsEqual(needle) }
    }
}
