import Foundation
import Testing
import TestSupport

/// The .debs `scripts/package` builds, installed with dpkg into a fresh
/// `debootstrap --variant=minbase bookworm` root that has no Swift in it, as a product's user
/// would install them. The postinst gets a real certificate from the test's signer and pebble on
/// the shared loopback; systemd is installed in the root but not running, the case every
/// postinst must handle. `scripts/test` builds the inputs and names them in CSRPROXY_DEBS and
/// CSRPROXY_TEST_ROOT; `swift test` alone skips this suite (the release build takes minutes).
@Suite(.serialized, .timeLimit(.minutes(15)), .enabled(if: PackageTestInputs.fromEnvironment != nil, "needs CSRPROXY_DEBS and CSRPROXY_TEST_ROOT, as scripts/test sets them"))
struct PackageInstallTests {
    static var inputs: PackageTestInputs? { PackageTestInputs.fromEnvironment }

    static let packages = ["csrproxy-signer", "csrproxy-agent", "csrproxy-demo"]
    static let pebbleRootInside = "/usr/local/share/csrproxy-test/pebble-root.pem"

    /// The .deb of `package` in CSRPROXY_DEBS.
    static func deb(_ package: String) throws -> String {
        let directory = try #require(inputs).debs
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("\(package)_") && $0.hasSuffix(".deb") }
        guard names.count == 1 else { throw TestFailure("expected one \(package)_*.deb in \(directory), found \(names): run scripts/package") }
        return "\(directory)/\(names[0])"
    }

    /// A fresh root holding the three .debs in /tmp/debs, pebble's root, and the product's agent
    /// settings pointed at `signerURL` (what the product's publisher would ship).
    static func preparedRoot(signerURL: String, pebbleRoot: String, deadlineSeconds: Int) async throws -> DebianRoot {
        let root = try await DebianRoot(tarball: try #require(inputs).rootTarball)
        try await prepare(root, signerURL: signerURL, pebbleRoot: pebbleRoot, deadlineSeconds: deadlineSeconds)
        return root
    }

    /// Puts the .debs, pebble's root and the product's agent settings into `root`.
    static func prepare(_ root: DebianRoot, signerURL: String, pebbleRoot: String, deadlineSeconds: Int) async throws {
        let debs = root.hostPath("/tmp/debs")
        try FileManager.default.createDirectory(atPath: debs, withIntermediateDirectories: true)
        for package in packages {
            let source = try deb(package)
            try FileManager.default.copyItem(atPath: source, toPath: "\(debs)/\(URL(fileURLWithPath: source).lastPathComponent)")
        }
        try FileManager.default.createDirectory(atPath: root.hostPath("/usr/local/share/csrproxy-test"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: pebbleRoot, toPath: root.hostPath(pebbleRootInside))
        try FileManager.default.createDirectory(atPath: root.hostPath("/etc/csrproxy"), withIntermediateDirectories: true)
        try """
            signer_url = "\(signerURL)"
            name = "\(SignerHarness.name)"
            directory = "/var/lib/csrproxy/tls"
            owner = "csrproxy-demo"
            group = "csrproxy-demo"
            ca_bundle = "\(pebbleRootInside)"
            labels = ["product=csrproxy-demo"]
            port = 8443
            deadline_seconds = \(deadlineSeconds)

            [[reload]]
            method = "systemd"
            unit = "csrproxy-demo.service"

            """.write(toFile: root.hostPath("/etc/csrproxy/agent.toml"), atomically: true, encoding: .utf8)
        #expect(try await root.run("command -v swift swiftc").standardOutput.isEmpty, "the root must have no Swift")
    }

    static func statusJSON(_ root: DebianRoot) async throws -> [String: Any] {
        let status = try await root.mustRun("csrproxy-agent status --json")
        return try #require(try JSONSerialization.jsonObject(with: Data(status.standardOutput.utf8)) as? [String: Any])
    }

    @Test func installGetsARealCertificateRunsThereAndPurgeLeavesNoKey() async throws {
        let harness = try await SignerHarness()
        defer { harness.stop() }
        let pebbleRoot = try await harness.issuingRootFile()
        let root = try await Self.preparedRoot(signerURL: "http://127.0.0.1:\(harness.baseURL.port!)", pebbleRoot: pebbleRoot, deadlineSeconds: 60)
        defer { root.remove() }

        // The product's install: the agent and the demo; the demo's postinst issues and opens.
        let install = try await root.mustRun("dpkg --force-confold -i /tmp/debs/csrproxy-agent_*.deb /tmp/debs/csrproxy-demo_*.deb 2>&1")
        #expect(install.standardOutput.contains("https://\(SignerHarness.name):8443/"), "`open` printed the URL with no desktop session:\n\(install.standardOutput)")
        #expect(install.standardOutput.contains("csrproxy-agent: done:") && !install.standardOutput.contains("no certificate yet"),
                "issue succeeded in the postinst, its systemd reload skipped without systemd:\n\(install.standardOutput)")
        #expect(!install.standardOutput.contains("System has not been booted"), "no noise from loginctl or systemctl:\n\(install.standardOutput)")
        let status = try await Self.statusJSON(root)
        #expect(status["installed"] as? Bool == true)
        #expect(status["names"] as? [String] == [SignerHarness.name])
        #expect((status["issuer"] as? String)?.contains("Pebble") == true, "a real certificate from pebble, not the fallback: \(status)")
        let tls = root.hostPath("/var/lib/csrproxy/tls")
        let verified = try await runCommand("/usr/bin/openssl", ["verify", "-CAfile", pebbleRoot, "-untrusted", "\(tls)/chain.pem", "\(tls)/cert.pem"])
        #expect(verified.status == 0, "\(verified.standardOutput) \(verified.standardError)")

        // Root owns the key and its directory; the product reads through its group and writes nothing.
        let modes = try await root.mustRun("stat -L -c '%a %U %G' /var/lib/csrproxy/tls/key.pem /var/lib/csrproxy/tls")
        #expect(modes.standardOutput == "640 root csrproxy-demo\n750 root csrproxy-demo\n", "\(modes.standardOutput)")
        let asProduct = try await root.run("setpriv --reuid=csrproxy-demo --regid=csrproxy-demo --init-groups head -c 27 /var/lib/csrproxy/tls/key.pem; setpriv --reuid=csrproxy-demo --regid=csrproxy-demo --init-groups touch /var/lib/csrproxy/tls/x 2>/dev/null && echo WROTE")
        #expect(asProduct.standardOutput == "-----BEGIN PRIVATE KEY-----", "the demo's user reads its key and writes nothing: \(asProduct.standardOutput)")
        // Enabled for the next boot, not started: systemd is not running in a chroot.
        for link in ["/etc/systemd/system/timers.target.wants/csrproxy-agent-renew.timer", "/etc/systemd/system/multi-user.target.wants/csrproxy-demo.service"] {
            #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: root.hostPath(link))) != nil, "\(link) is not enabled")
        }

        // The publisher's package installs there too, and every unit verifies without a word.
        try await root.mustRun("dpkg -i /tmp/debs/csrproxy-signer_*.deb 2>&1")
        let stateModes = try await root.mustRun("stat -c '%a %U' /var/lib/csrproxy-signer")
        #expect(stateModes.standardOutput == "700 csrproxy-signer\n")
        let verify = try await root.run("systemd-analyze verify /lib/systemd/system/csrproxy-signer.service /lib/systemd/system/csrproxy-agent-renew.service /lib/systemd/system/csrproxy-agent-renew.timer /lib/systemd/system/csrproxy-demo.service")
        #expect(verify.status == 0 && verify.standardOutput.isEmpty && verify.standardError.isEmpty, "systemd-analyze verify said: \(verify.standardOutput)\(verify.standardError)")
        try await root.mustRun("csrproxy-signer --help >/dev/null && csrproxy-agent --help >/dev/null")

        // The packaged demo, run inside the root, serves the page on the issued certificate.
        let demo = try ServerProcess("/usr/sbin/chroot", [root.path, "/usr/bin/csrproxy-demo", "--certificate", "/var/lib/csrproxy/tls/fullchain.pem",
                                                          "--key", "/var/lib/csrproxy/tls/key.pem", "--listen", "127.0.0.1:0"])
        defer { demo.stop() }
        let port = Int(try await demo.waitForOutput(matching: #"https=127\.0\.0\.1:(\d+)"#))!
        let page = try await runCommand("/usr/bin/curl", ["-sS", "--cacert", pebbleRoot, "--resolve", "\(SignerHarness.name):\(port):127.0.0.1", "https://\(SignerHarness.name):\(port)/"])
        #expect(page.standardOutput.contains(BrowserTests.pageText), "\(page.standardOutput) \(page.standardError)")
        demo.stop()

        // Purge: no key, no certificate, no state left.
        try await root.mustRun("dpkg --purge csrproxy-demo csrproxy-agent csrproxy-signer 2>&1")
        let leftovers = try await root.run("grep -rl 'PRIVATE KEY' /etc /var/lib /root /tmp 2>/dev/null; ls -d /var/lib/csrproxy /var/lib/csrproxy-signer /etc/csrproxy/agent.toml 2>/dev/null")
        #expect(leftovers.standardOutput.isEmpty, "left behind after purge: \(leftovers.standardOutput)")
    }

    /// Install never fails because of the network: with no signer the product starts on a
    /// temporary self-signed certificate, which the next renewal replaces.
    @Test func installWithoutTheSignerSucceedsOnAFallbackCertificate() async throws {
        let closedPort = try freeTCPPort()
        let someRoot = FileManager.default.temporaryDirectory.appendingPathComponent("unused-root-\(UUID().uuidString).pem").path
        try TestCertificates.localhostServerIdentity().caPEM.write(toFile: someRoot, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: someRoot) }
        let root = try await Self.preparedRoot(signerURL: "http://127.0.0.1:\(closedPort)", pebbleRoot: someRoot, deadlineSeconds: 3)
        defer { root.remove() }
        let install = try await root.mustRun("dpkg --force-confold -i /tmp/debs/csrproxy-agent_*.deb /tmp/debs/csrproxy-demo_*.deb 2>&1")
        let status = try await Self.statusJSON(root)
        #expect(status["installed"] as? Bool == true, "\(install.standardOutput)")
        #expect((status["issuer"] as? String)?.contains("Pebble") == false, "\(status)")
        #expect(FileManager.default.fileExists(atPath: root.hostPath("/var/lib/csrproxy/tls/key.pem")))
    }

    /// lintian finds neither errors nor warnings in the three packages (what it would say and
    /// may not is explained in each package's lintian-overrides); its output is printed for the
    /// record. The manual pages it once missed come from each command's --help.
    @Test func lintianReportsNoErrorsOrWarnings() async throws {
        let debs = try Self.packages.map(Self.deb)
        let result = try await runCommand("/usr/bin/lintian", ["--fail-on", "error,warning", "--tag-display-limit", "0"] + debs, timeout: .seconds(600))
        print("lintian:\n\(result.standardOutput)")
        #expect(result.status == 0, "lintian: \(result.standardOutput) \(result.standardError)")
        #expect(!result.standardOutput.split(separator: "\n").contains { $0.hasPrefix("E:") })
        for package in Self.packages {
            let contents = try await runCommand("/usr/bin/dpkg-deb", ["--contents", try Self.deb(package)])
            #expect(contents.standardOutput.contains("./usr/share/man/man1/\(package).1.gz"), "\(package) has no manual page")
        }
    }
}

/// Where scripts/test put the .debs and the Debian root tarball.
struct PackageTestInputs {
    let debs: String
    let rootTarball: String
    /// `scripts/make-test-root --boot`'s root, for SystemdBootTests.
    let bootRootTarball: String?
    /// `scripts/make-test-root --desktop`'s root, for OpenDesktopTests.
    let desktopRootTarball: String?

    static let fromEnvironment: PackageTestInputs? = {
        let environment = ProcessInfo.processInfo.environment
        guard let debs = environment["CSRPROXY_DEBS"], let root = environment["CSRPROXY_TEST_ROOT"] else { return nil }
        return PackageTestInputs(debs: debs, rootTarball: root, bootRootTarball: environment["CSRPROXY_BOOT_ROOT"],
                                 desktopRootTarball: environment["CSRPROXY_DESKTOP_ROOT"])
    }()
}
