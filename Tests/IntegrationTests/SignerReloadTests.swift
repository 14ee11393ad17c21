import Crypto
import Foundation
import Testing
import TestSupport

/// SIGHUP makes a running signer read its configuration again: the zone table, each zone's
/// records and the CA budgets apply to new requests; requests in flight finish as they began;
/// a file that does not read, or that changes what only a restart can, changes nothing.
/// Against the real signer process and pebble.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct SignerReloadTests {
    static let zone = SignerHarness.zone
    static let name = SignerHarness.name
    static let newName = "app.\(SignerHarness.zone)"

    /// Sends SIGHUP and returns the log line that reports the outcome.
    static func reload(_ harness: SignerHarness) async throws -> String {
        let outcome = /[^\n]*(reloaded the configuration|kept the running configuration)[^\n]*/
        let before = harness.signer.standardError.matches(of: outcome).count
        harness.signer.send(SIGHUP)
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let lines = harness.signer.standardError.matches(of: outcome)
            if lines.count > before, let last = lines.last { return String(last.output.0) }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("the signer did not report a reload: \(harness.signer.standardError.suffix(2000))")
    }

    /// Rewrites the configuration file with `change` applied to its text.
    static func edit(_ harness: SignerHarness, _ change: (String) -> String) throws {
        let text = try String(contentsOfFile: harness.configurationPath, encoding: .utf8)
        let changed = change(text)
        #expect(changed != text, "the edit changed nothing")
        try changed.write(toFile: harness.configurationPath, atomically: true, encoding: .utf8)
    }

    static func serial(_ harness: SignerHarness) async throws -> UInt32 {
        try await ZoneTransferTests.soaSerial(port: harness.dnsPort)
    }

    /// New names, the records that serve them and a lower budget, all from one SIGHUP: the SOA
    /// serial moves on, the new name resolves, the old one is refused with 403 before any CA
    /// traffic, the new one is issued, and the lowered budget stops the next one.
    @Test func aReloadAppliesNamesRecordsAndBudgets() async throws {
        let harness = try await SignerHarness()
        defer { harness.stop() }
        #expect(try await harness.requestCertificate(for: [Self.name]).status == 200)
        let serialBefore = try await Self.serial(harness)
        #expect(try await Dig.query(port: harness.dnsPort, Self.newName, "A").status == "NXDOMAIN")

        try Self.edit(harness) { text in
            text.replacingOccurrences(of: "names = [\"\(Self.name)\"]", with: "names = [\"\(Self.newName)\"]")
                .replacingOccurrences(of: "subject = \"CN=\(Self.name)\"", with: "subject = \"CN=\(Self.newName)\"")
                .replacingOccurrences(of: "budget_certificates_per_name_set = 1000000", with: "budget_certificates_per_name_set = 1")
        }
        let outcome = try await Self.reload(harness)
        #expect(outcome.contains("reloaded the configuration"), "\(outcome)")
        #expect(outcome.contains("policy") && outcome.contains("records") && outcome.contains("budgets"), "\(outcome)")

        let serialAfter = try await Self.serial(harness)
        #expect(serialAfter > serialBefore, "the serial did not move: \(serialBefore) -> \(serialAfter)")
        let address = try await Dig.query(port: harness.dnsPort, Self.newName, "A")
        #expect(address.answer.contains { $0.data == "127.0.0.1" }, "\(address.raw)")

        let orders = harness.pebble.newOrderCount
        let old = try await harness.requestCertificate(for: [Self.name])
        #expect(old.status == 403, "\(old.text)")
        #expect(harness.pebble.newOrderCount == orders)
        let issued = try await harness.requestCertificate(for: [Self.newName])
        #expect(issued.status == 200, "\(issued.text)")
        let overBudget = try await harness.requestCertificate(for: [Self.newName])
        #expect(overBudget.status == 429, "\(overBudget.text)")
        #expect(overBudget.problemType == "urn:csrproxy:problem:budget-exhausted")
    }

    /// The same file again changes nothing; a file that does not parse, and one that moves the
    /// API's listener, change nothing either: the log says why, and the signer keeps issuing
    /// on what it ran with.
    @Test func aBrokenOrRestartOnlyFileKeepsTheRunningConfiguration() async throws {
        let harness = try await SignerHarness()
        defer { harness.stop() }
        let original = try String(contentsOfFile: harness.configurationPath, encoding: .utf8)
        let unchanged = try await Self.reload(harness)
        #expect(unchanged.contains("reloaded the configuration") && unchanged.contains("nothing changed"), "\(unchanged)")

        try "[[zones]\nthis is not TOML\n".write(toFile: harness.configurationPath, atomically: true, encoding: .utf8)
        let broken = try await Self.reload(harness)
        #expect(broken.contains("kept the running configuration") && broken.contains("does not read"), "\(broken)")
        #expect(try await harness.requestCertificate(for: [Self.name]).status == 200)

        try original.replacingOccurrences(of: "listen = \"127.0.0.1:0\"", with: "listen = \"127.0.0.1:1\"")
            .replacingOccurrences(of: "names = [\"\(Self.name)\"]", with: "names = [\"\(Self.newName)\"]")
            .replacingOccurrences(of: "subject = \"CN=\(Self.name)\"", with: "subject = \"CN=\(Self.newName)\"")
            .write(toFile: harness.configurationPath, atomically: true, encoding: .utf8)
        let restartOnly = try await Self.reload(harness)
        #expect(restartOnly.contains("only with a restart") && restartOnly.contains("[http]"), "\(restartOnly)")
        #expect(try await harness.requestCertificate(for: [Self.name]).status == 200, "the old names no longer issue")
        #expect(try await Dig.query(port: harness.dnsPort, Self.newName, "A").status == "NXDOMAIN", "a refused reload changed the zone")
    }

    /// An order in flight when the reload takes its name away finishes with a certificate; the
    /// next request for that name is refused.
    @Test func anOrderInFlightFinishesAsItBegan() async throws {
        var options = SignerHarness.Options()
        options.front = true
        let harness = try await SignerHarness(options)
        defer { harness.stop() }
        let front = try #require(harness.front)
        front.holdDownloads()
        let inFlight = Task { try await harness.requestCertificate(for: [Self.name]) }
        let waitedFrom = ContinuousClock.now
        while front.heldDownloads == 0, ContinuousClock.now - waitedFrom < .seconds(30) { try await Task.sleep(for: .milliseconds(20)) }
        try #require(front.heldDownloads == 1, "the CA never issued")

        try Self.edit(harness) { text in
            text.replacingOccurrences(of: "names = [\"\(Self.name)\"]", with: "names = [\"\(Self.newName)\"]")
                .replacingOccurrences(of: "subject = \"CN=\(Self.name)\"", with: "subject = \"CN=\(Self.newName)\"")
        }
        #expect(try await Self.reload(harness).contains("reloaded the configuration"))
        front.releaseDownloads()
        let finished = try await inFlight.value
        #expect(finished.status == 200, "\(finished.text)")
        #expect(try await harness.requestCertificate(for: [Self.name]).status == 403)
    }

    /// A reload that changes the zone's records reaches a standard secondary (Knot) by NOTIFY:
    /// it serves the new name within seconds, long before its refresh timer.
    @Test func aReloadedZoneReachesTheSecondary() async throws {
        let key = SharedTSIGKey(name: "csrproxy-transfer")
        let dnsPort = try freeDNSPort(), knotPort = try freeDNSPort()
        let harness = try await ZoneTransferTests.harness(key: key, dnsPort: dnsPort, secondaryPorts: [knotPort])
        defer { harness.stop() }
        let knot = try await DNSPeer.secondary(.knot, zone: Self.zone, signerPort: dnsPort, key: key, port: knotPort)
        defer { knot.stop() }
        try await knot.waitUntilServing(Self.zone, serialAtLeast: try await Self.serial(harness))

        try Self.edit(harness) { text in
            text.replacingOccurrences(of: "names = [\"\(Self.name)\"]", with: "names = [\"\(Self.newName)\"]")
                .replacingOccurrences(of: "subject = \"CN=\(Self.name)\"", with: "subject = \"CN=\(Self.newName)\"")
        }
        #expect(try await Self.reload(harness).contains("reloaded the configuration"))
        let serial = try await Self.serial(harness)
        try await knot.waitUntilServing(Self.zone, serialAtLeast: serial, timeout: .seconds(20))
        let address = try await Dig.query(port: knotPort, Self.newName, "A")
        #expect(address.answer.contains { $0.data == "127.0.0.1" }, "\(address.raw)")
    }

    /// A secondary added by a reload: before it the signer refuses its transfers; after it the
    /// secondary transfers the zone, is told of each change, and is one of the nameservers that
    /// must serve a value before the CA looks (pebble asks it alone here).
    @Test func aReloadAddsASecondary() async throws {
        let key = SharedTSIGKey(name: "csrproxy-transfer")
        let dnsPort = try freeDNSPort(), knotPort = try freeDNSPort()
        let harness = try await ZoneTransferTests.harness(key: key, dnsPort: dnsPort, secondaryPorts: [], pebbleDNSPort: knotPort)
        defer { harness.stop() }
        let signed = ["-y", "hmac-sha256:\(key.name):\(key.secret)"]
        func transfer() async throws -> String {
            let result = try await runCommand("kdig", ["@127.0.0.1", "-p", String(dnsPort), "+retry=0", "+time=3"] + signed + ["AXFR", Self.zone])
            return result.standardOutput + result.standardError
        }
        let before = try await transfer()
        #expect(before.contains("REFUSED") && !before.contains("\tNS\t"), "\(before)")

        try Self.edit(harness) { text in
            text.replacingOccurrences(
                of: "udp_sockets = 1\n",
                with: "udp_sockets = 1\nsecondaries = [{ address = \"127.0.0.1:\(knotPort)\", key = \"\(key.name)\" }]\n")
        }
        let outcome = try await Self.reload(harness)
        #expect(outcome.contains("reloaded the configuration") && outcome.contains("secondaries"), "\(outcome)")
        let after = try await transfer()
        #expect(after.contains("\tNS\t"), "\(after)")

        let knot = try await DNSPeer.secondary(.knot, zone: Self.zone, signerPort: dnsPort, key: key, port: knotPort)
        defer { knot.stop() }
        try await knot.waitUntilServing(Self.zone, serialAtLeast: try await Self.serial(harness))
        // Pebble asks Knot only: the certificate issues only if the signer waited for Knot.
        let issued = try await harness.requestCertificate(for: [Self.name])
        #expect(issued.status == 200, "\(issued.text)")
        let metrics = try await curl(harness.baseURL.appendingPathComponent("metrics")).text
        #expect(ZoneTransferTests.metric("csrproxy_dns_propagation_seconds_count", server: "127.0.0.1:\(knotPort)", in: metrics) ?? 0 >= 1,
                "the signer did not wait for the new secondary: \(metrics.split(separator: "\n").filter { $0.contains("propagation") })")
    }
}
