import Crypto
import Foundation
import Testing
import TestSupport
import X509

/// The packaged units under a real systemd as PID 1: a Debian root from
/// `scripts/make-test-root --boot`, the .debs installed with dpkg, booted in systemd-nspawn
/// (`BootedSystem`). It shares the host's loopback, where the test's pebble (and, for the
/// agent, its signer) listen. Each test boots its own container, which takes about a second.
@Suite(.serialized, .timeLimit(.minutes(10)), .enabled(if: PackageTestInputs.fromEnvironment?.bootRootTarball != nil, "needs CSRPROXY_BOOT_ROOT and CSRPROXY_DEBS, as scripts/test sets them as root"))
struct SystemdBootTests {
    static var inputs: PackageTestInputs { PackageTestInputs.fromEnvironment! }

    /// A fresh container root with the .debs of `packages` in /tmp/debs.
    static func system(with packages: [String]) async throws -> BootedSystem {
        let system = try await BootedSystem(tarball: try #require(inputs.bootRootTarball))
        let debs = system.root.hostPath("/tmp/debs")
        try FileManager.default.createDirectory(atPath: debs, withIntermediateDirectories: true)
        for package in packages {
            let source = try PackageInstallTests.deb(package)
            try FileManager.default.copyItem(atPath: source, toPath: "\(debs)/\(URL(fileURLWithPath: source).lastPathComponent)")
        }
        return system
    }

    /// `csrproxy-signer.service` as a publisher runs it: it reaches `active (running)` through
    /// READY=1 (Type=notify), serves and issues under its full hardening, restarts into a new
    /// process, logs with the priorities it sets, and stops cleanly on SIGTERM.
    @Test func theSignerServiceRunsUnderSystemd() async throws {
        let dnsPort = try freeDNSPort(), httpPort = try freeTCPPort()
        let pebble = try await Pebble(dnsPort: dnsPort)
        defer { pebble.stop() }
        let system = try await Self.system(with: ["csrproxy-signer"])
        defer { system.remove() }
        try system.write(pebble.tlsRootPEM, to: "/etc/csrproxy/pebble-tls-root.pem")
        try system.write("""
            [acme]
            directory_url = "\(pebble.directoryURL.absoluteString)"
            account_key_path = "/var/lib/csrproxy-signer/account-key.pem"
            trust_roots = ["/etc/csrproxy/pebble-tls-root.pem"]
            trust_only_listed_roots = true

            [dns]
            listen = ["127.0.0.1:\(dnsPort)"]
            udp_sockets = 1

            [http]
            listen = "127.0.0.1:\(httpPort)"

            [[zones]]
            zone = "\(SignerHarness.zone)"
            nameservers = ["ns1.\(SignerHarness.zone)=127.0.0.1"]
            subject = "CN=\(SignerHarness.name)"
            names = ["\(SignerHarness.name)"]

            """, to: "/etc/csrproxy/signer.toml")
        try await system.root.mustRun("dpkg -i /tmp/debs/csrproxy-signer_*.deb 2>&1")
        try await system.boot()

        let unit = "csrproxy-signer.service"
        #expect(try await system.property("Type", of: unit) == "notify")
        let status = try await system.run("systemctl status --no-pager \(unit)").standardOutput
        #expect(try await system.property("ActiveState", of: unit) == "active", "\(status)")
        #expect(try await system.property("SubState", of: unit) == "running")
        #expect(try await system.property("User", of: unit) == "csrproxy-signer")
        let base = URL(string: "http://127.0.0.1:\(httpPort)")!
        try await Self.waitUntilReady(base)
        #expect(try await Self.requestCertificate(base).status == 200, "the hardened service did not issue")

        let firstPID = try await system.property("MainPID", of: unit)
        try await system.mustRun("systemctl restart \(unit)")
        let secondPID = try await system.property("MainPID", of: unit)
        #expect(secondPID != firstPID && secondPID != "0", "restart made no new process (\(firstPID) -> \(secondPID))")
        #expect(try await system.property("ActiveState", of: unit) == "active")
        try await Self.waitUntilReady(base)
        #expect(try await Self.requestCertificate(base).status == 200)

        // `systemctl reload`: new names and their records, in the same process; the zone's
        // serial moves on. A broken file then changes nothing, and the journal says why.
        let configuration = system.root.hostPath("/etc/csrproxy/signer.toml")
        let valid = try String(contentsOfFile: configuration, encoding: .utf8)
        let newName = "app.\(SignerHarness.zone)"
        let serialBefore = try await ZoneTransferTests.soaSerial(port: dnsPort)
        try valid.replacingOccurrences(of: SignerHarness.name, with: newName).write(toFile: configuration, atomically: true, encoding: .utf8)
        let reloadingPID = try await system.property("MainPID", of: unit)
        try await system.mustRun("systemctl reload \(unit)")
        let reloadedAt = ContinuousClock.now
        var address = try await Dig.query(port: dnsPort, newName, "A")
        while !address.answer.contains(where: { $0.data == "127.0.0.1" }), ContinuousClock.now - reloadedAt < .seconds(10) {
            try await Task.sleep(for: .milliseconds(100))
            address = try await Dig.query(port: dnsPort, newName, "A")
        }
        #expect(address.answer.contains { $0.data == "127.0.0.1" }, "the reload did not serve \(newName): \(address.raw)")
        let serialAfter = try await ZoneTransferTests.soaSerial(port: dnsPort)
        print("systemctl reload csrproxy-signer: SOA serial \(serialBefore) -> \(serialAfter), MainPID \(reloadingPID) -> \(try await system.property("MainPID", of: unit))")
        #expect(serialAfter > serialBefore)
        #expect(try await system.property("MainPID", of: unit) == reloadingPID, "a reload, not a restart")
        #expect(try await system.property("ActiveState", of: unit) == "active")
        try "not = [toml".write(toFile: configuration, atomically: true, encoding: .utf8)
        try await system.mustRun("systemctl reload \(unit)")
        let keptAt = ContinuousClock.now
        var reloads = ""
        while !reloads.contains("kept the running configuration"), ContinuousClock.now - keptAt < .seconds(10) {
            try await Task.sleep(for: .milliseconds(100))
            reloads = try await system.mustRun("journalctl --no-pager -o cat -u \(unit)").standardOutput
        }
        #expect(reloads.contains("reloaded the configuration") && reloads.contains("kept the running configuration"), "\(reloads.suffix(2000))")
        #expect(try await system.property("ActiveState", of: unit) == "active")
        try valid.write(toFile: configuration, atomically: true, encoding: .utf8)

        // The signer writes `<N>` before each line; journald keeps N as the priority.
        let journal = try await system.mustRun("journalctl --no-pager -u \(unit) -o json --output-fields=PRIORITY,MESSAGE").standardOutput
        let entries = journal.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let priorities = Set(entries.compactMap { $0["PRIORITY"] as? String })
        #expect(entries.contains { ($0["MESSAGE"] as? String)?.hasPrefix("<") == false && ($0["MESSAGE"] as? String)?.contains("certificate issued") == true })
        #expect(priorities.count >= 2, "every line has one priority: \(priorities)")

        // The watchdog: at 3 s the signer pings every 1.5 s, so it is left alone; stopped
        // (SIGSTOP), it pings no more and systemd restarts it.
        try system.write("[Service]\nWatchdogSec=3s\n", to: "/etc/systemd/system/\(unit).d/test-watchdog.conf")
        try await system.mustRun("systemctl daemon-reload && systemctl restart \(unit)")
        try await Self.waitUntilReady(base)
        try await Task.sleep(for: .seconds(5))
        #expect(try await system.property("NRestarts", of: unit) == "0", "restarted although it pings")
        let pinging = try await system.property("MainPID", of: unit)
        try await system.mustRun("systemctl kill --signal=SIGSTOP \(unit)")
        let stoppedAt = ContinuousClock.now
        while try await system.property("NRestarts", of: unit) == "0", ContinuousClock.now - stoppedAt < .seconds(60) {
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(try await system.property("NRestarts", of: unit) == "1", "systemd did not restart the silent signer")
        try await Self.waitUntilReady(base)
        #expect(try await system.property("MainPID", of: unit) != pinging)
        let watchdog = try await system.mustRun("journalctl --no-pager -o cat -u \(unit)").standardOutput
        #expect(watchdog.contains("Watchdog timeout"), "\(watchdog.suffix(2000))")

        try await system.mustRun("systemctl stop \(unit)")
        #expect(try await system.property("ActiveState", of: unit) == "inactive")
        #expect(try await system.property("Result", of: unit) == "success")
        #expect(try await system.property("ExecMainStatus", of: unit) == "0", "SIGTERM must end the signer with status 0")
    }

    /// The agent's timer is armed at boot, and its service, started by hand under its full
    /// hardening, exits 0 when nothing is due. A variant that also filters file-system calls
    /// fails, so the check can fail.
    @Test func theRenewalTimerAndServiceRunUnderTheirHardening() async throws {
        let harness = try await SignerHarness()
        defer { harness.stop() }
        let system = try await Self.system(with: [])  // `prepare` puts the .debs in
        defer { system.remove() }
        try await PackageInstallTests.prepare(system.root, signerURL: "http://127.0.0.1:\(harness.baseURL.port!)", pebbleRoot: try await harness.issuingRootFile(), deadlineSeconds: 60)
        let install = try await system.root.mustRun("dpkg --force-confold -i /tmp/debs/csrproxy-agent_*.deb /tmp/debs/csrproxy-demo_*.deb 2>&1")
        #expect(install.standardOutput.contains("csrproxy-agent: done:"), "\(install.standardOutput)")
        try await system.boot()

        let timer = "csrproxy-agent-renew.timer", service = "csrproxy-agent-renew.service"
        #expect(try await system.property("ActiveState", of: timer) == "active")
        #expect(try await system.property("NextElapseUSecRealtime", of: timer) != "", "the timer has no next elapse")
        #expect(try await system.property("ActiveState", of: "csrproxy-demo.service") == "active")

        let fingerprint = "sha256sum /var/lib/csrproxy/tls/cert.pem"
        let installed = try await system.mustRun(fingerprint).standardOutput
        let ordersBefore = harness.pebble.newOrderCount
        let run = try await system.run("systemctl start \(service)", timeout: .seconds(120))
        let journal = try await system.run("journalctl --no-pager -u \(service)").standardOutput
        #expect(run.status == 0, "\(run.standardError)\n\(journal)")
        #expect(try await system.property("Result", of: service) == "success")
        #expect(try await system.property("ExecMainStatus", of: service) == "0")
        // Not due (`--quiet` says nothing then): no order, and the certificate is the same.
        #expect(harness.pebble.newOrderCount == ordersBefore)
        #expect(try await system.mustRun(fingerprint).standardOutput == installed)

        try system.write("[Service]\nSystemCallFilter=~@file-system\n", to: "/etc/systemd/system/\(service).d/test-deny.conf")
        try await system.mustRun("systemctl daemon-reload")
        let denied = try await system.run("systemctl start \(service)", timeout: .seconds(120))
        #expect(denied.status != 0, "the agent ran without file-system calls: the filter is not applied")
        #expect(try await system.property("Result", of: service) != "success")

        try await system.mustRun("rm -r /etc/systemd/system/\(service).d && systemctl daemon-reload && systemctl reset-failed \(service)")
        #expect(try await system.run("systemctl start \(service)", timeout: .seconds(120)).status == 0, "without the extra filter it runs again")
    }

    static func waitUntilReady(_ base: URL) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        var last = 0
        while ContinuousClock.now < deadline {
            last = (try? await curl(base.appendingPathComponent("readyz"), timeout: .seconds(5)))?.status ?? 0
            if last == 200 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("the signer in the container is not ready (last /readyz status \(last))")
    }

    static func requestCertificate(_ base: URL) async throws -> CurlResponse {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("boot-\(UUID().uuidString).der").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(try TestCertificates.csr(for: [SignerHarness.name], key: .init(P256.Signing.PrivateKey()))).write(to: URL(fileURLWithPath: path))
        return try await curl(base.appendingPathComponent("v1/sign"), bodyFile: path, headers: ["Content-Type: application/pkcs10"])
    }

    /// The product's reload under systemd: a certificate renewed without a reload is not served
    /// until `systemctl reload csrproxy-demo`, after which the next handshake presents it, in
    /// the same process; `renew --force` with `method = "systemd"` does both in one step.
    @Test func theDemoServesTheRenewedCertificateAfterAReload() async throws {
        let harness = try await SignerHarness()
        defer { harness.stop() }
        let system = try await Self.system(with: [])
        defer { system.remove() }
        try await PackageInstallTests.prepare(system.root, signerURL: "http://127.0.0.1:\(harness.baseURL.port!)", pebbleRoot: try await harness.issuingRootFile(), deadlineSeconds: 60)
        try await system.root.mustRun("dpkg --force-confold -i /tmp/debs/csrproxy-agent_*.deb /tmp/debs/csrproxy-demo_*.deb 2>&1")
        try await system.boot()
        let unit = "csrproxy-demo.service"
        #expect(try await system.property("ActiveState", of: unit) == "active")
        let pid = try await system.property("MainPID", of: unit)
        let first = try await Self.installedSerial(system)
        #expect(try await ServedCertificate.serial(port: 8443) == first)

        // A renewal whose settings name no reload: installed, not yet served.
        let settings = "/etc/csrproxy/agent.toml"
        try await system.mustRun("cp \(settings) /root/agent.toml && sed -i '/^\\[\\[reload\\]\\]/,$d' \(settings)")
        try await system.mustRun("csrproxy-agent renew --force 2>&1", timeout: .seconds(120))
        let second = try await Self.installedSerial(system)
        #expect(second != first, "renew --force installed no new certificate")
        #expect(try await ServedCertificate.serial(port: 8443) == first, "served before any reload")
        try await system.mustRun("systemctl reload \(unit)")
        // Waited for: systemd 252 may end a reload job when `kill -HUP` exits, a moment before
        // the product has read the files (Type=notify-reload, which waits, came in 253).
        #expect(try await ServedCertificate.serial(port: 8443, becoming: second) == second, "systemctl reload did not swap the certificate")
        #expect(try await system.property("MainPID", of: unit) == pid, "a reload, not a restart")

        // The product's own settings: the agent reloads the unit through systemctl.
        try await system.mustRun("cp /root/agent.toml \(settings)")
        try await system.mustRun("csrproxy-agent renew --force 2>&1", timeout: .seconds(120))
        let third = try await Self.installedSerial(system)
        #expect(third != second)
        #expect(try await ServedCertificate.serial(port: 8443, becoming: third) == third, "renew --force with method = systemd did not reload the product")
        #expect(try await system.property("MainPID", of: unit) == pid)
        #expect(try await system.property("ActiveState", of: unit) == "active")
    }

    /// The serial of the installed leaf, read inside the container (its files may be links
    /// that only resolve there).
    static func installedSerial(_ system: BootedSystem) async throws -> String {
        let pem = try await system.mustRun("cat /var/lib/csrproxy/tls/cert.pem").standardOutput
        return try Certificate(pemEncoded: pem).serialNumber.description
    }


    /// `systemd-analyze security` for each of the packaged services, as the booted systemd
    /// scores them (0 is the most confined, 10 the least): printed for the README, and held
    /// under a ceiling so a change that loosens a unit fails here.
    @Test func theServicesAreConfined() async throws {
        let system = try await Self.system(with: PackageInstallTests.packages)
        defer { system.remove() }
        // The units are what is scored: unpacked, without the postinsts (which need a signer).
        try await system.root.mustRun("dpkg --unpack /tmp/debs/*.deb 2>&1")
        try await system.boot()
        // Measured under systemd 252: signer 1.5, demo 1.2, agent-renew 2.7 (it runs as root to
        // hand the product its files, with five capabilities); a little room above each.
        let ceilings = ["csrproxy-signer.service": 2.0, "csrproxy-demo.service": 1.5, "csrproxy-agent-renew.service": 3.0]
        for (unit, ceiling) in ceilings.sorted(by: { $0.key < $1.key }) {
            let report = try await system.run("systemd-analyze security --no-pager \(unit)").standardOutput
            let line = report.split(separator: "\n").first { $0.contains("Overall exposure level") }.map(String.init) ?? ""
            print("systemd-analyze security: \(line)")
            let score = line.firstMatch(of: /exposure level for \S+: ([0-9.]+)/).flatMap { Double($0.1) }
            #expect(score != nil && score! <= ceiling, "\(unit): \(line)\n\(report)")
        }
    }
}
