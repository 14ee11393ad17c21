import Foundation
import Synchronization
import Testing
import TestSupport

/// `[dns] mode = "rfc2136"`: the publisher's own primary (Knot 3.2 or BIND 9.18 from Debian,
/// configured with the README's snippet) holds the zone, the signer runs no DNS listener and
/// only adds and deletes its `_acme-challenge` TXT records there, signed with TSIG.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct RFC2136Tests {
    static let challenge = "_acme-challenge.\(SignerHarness.name)"

    static func zoneText(wellKnownAddress: String = "127.0.0.1", caa: Bool = true) -> String {
        """
        $ORIGIN \(SignerHarness.zone).
        $TTL 300
        @ SOA ns1 hostmaster 1 3600 600 604800 60
        @ NS ns1
        ns1 A 127.0.0.1
        go A \(wellKnownAddress)
        go AAAA ::1
        \(caa ? "@ CAA 0 issue \"pebble.test; validationmethods=dns-01\"" : "")

        """
    }

    /// A signer publishing on `primary` with `key` (whose secret may differ from the primary's).
    /// With `primaryPort`, the signer sends its updates there (a relay in front of the primary).
    static func harness(primary: DNSPeer, key: SharedTSIGKey, concurrency: String = "set", primaryPort: Int? = nil) async throws -> SignerHarness {
        let secrets = FileManager.default.temporaryDirectory.appendingPathComponent("tsig-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: secrets, withIntermediateDirectories: true)
        var options = SignerHarness.Options()
        options.zones = [.init(concurrency: concurrency)]
        options.pebbleDNSPort = primary.port
        options.pebble = .init(authorizationReusePercent: 0)
        options.deadlineSeconds = 120
        options.extraDNS = """
            mode = "rfc2136"
            primary = "127.0.0.1:\(primaryPort ?? primary.port)"
            update_key = "\(key.name)"
            nameservers = ["127.0.0.1:\(primary.port)"]
            """
        options.extraTables = try key.signerTable(in: secrets)
        return try await SignerHarness(options)
    }

    /// 20 installs at once: every one issues, pebble validating against the primary; the
    /// primary held several values at once (each added and deleted on its own, not the set
    /// replaced); afterwards no value is left and every other record is as it was.
    @Test(arguments: [DNSPeer.Kind.knot, .bind])
    func twentyConcurrentIssuancesTouchOnlyTheirOwnRecords(kind: DNSPeer.Kind) async throws {
        let key = SharedTSIGKey(name: "csrproxy-update")
        let primary = try await DNSPeer.primary(kind, zone: SignerHarness.zone, name: SignerHarness.name, zoneText: Self.zoneText(), key: key)
        defer { primary.stop() }
        try await primary.waitUntilServing(SignerHarness.zone)
        let before = try await primary.zoneRecords(SignerHarness.zone)
        // NS, ns1's A, the well-known name's A and AAAA, CAA: what must come through untouched.
        #expect(before.count == 5 && before.contains("go.\(SignerHarness.zone). 300 a 127.0.0.1"), "\(before)")
        let harness = try await Self.harness(primary: primary, key: key)
        defer { harness.stop() }

        let responses = try await withThrowingTaskGroup(of: CurlResponse.self) { group in
            for _ in 0..<20 { group.addTask { try await harness.requestCertificate() } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(responses.map(\.status) == Array(repeating: 200, count: 20), "\(responses.filter { $0.status != 200 }.map(\.text))")
        let root = try await harness.pebble.rootPEM()
        for response in responses where response.status == 200 {
            #expect(try await TestCertificates.verify(chain: try TestCertificates.chain(fromPEM: response.text), rootPEM: root))
        }
        // The primary's own journal of the updates it applied: each value added and deleted
        // once (fewer than 20 when pebble reused an authorization), several held at once (each
        // added on its own, not the set replaced).
        let journal = try await primary.mostTXTRecordsHeld(at: Self.challenge, zone: SignerHarness.zone, zoneFile: primary.directory.appendingPathComponent("\(SignerHarness.zone).zone").path)
        #expect(journal.added >= 2 && journal.added <= 20 && journal.deleted == journal.added,
                "the journal shows \(journal.added) values added and \(journal.deleted) deleted at \(Self.challenge):\n\(journal.journal.suffix(3000))")
        #expect(journal.most > 1, "the primary never held two values at once: were they replaced rather than added?")

        let after = try await primary.zoneRecords(SignerHarness.zone)
        #expect(after == before, "records changed beyond the challenges: before \(before), after \(after)")
        #expect(try await primary.txtValues(at: Self.challenge).isEmpty)
        let listens = harness.signer.standardError.contains("DNS server listening")
        #expect(!listens, "the signer should run no DNS listener in rfc2136 mode")
    }

    /// The start-up UPDATE that clears a name of what a crashed run left, replayed by someone
    /// on the path while its signature holds (300 s), must not delete the values of orders
    /// published since: it carries the zone's SOA as a prerequisite, so once the zone has
    /// changed the primary refuses the replay (NXRRSET) and deletes nothing.
    @Test(arguments: [DNSPeer.Kind.knot, .bind])
    func aReplayedClearingUpdateDeletesNothing(kind: DNSPeer.Kind) async throws {
        let key = SharedTSIGKey(name: "csrproxy-update")
        let primary = try await DNSPeer.primary(kind, zone: SignerHarness.zone, name: SignerHarness.name, zoneText: Self.zoneText(), key: key)
        defer { primary.stop() }
        try await primary.waitUntilServing(SignerHarness.zone)
        try await primary.addTXT("left-by-a-crashed-run", at: Self.challenge, zone: SignerHarness.zone, key: key)
        #expect(try await primary.txtValues(at: Self.challenge) == ["left-by-a-crashed-run"])
        let relay = try UDPRecordingRelay(forwardingTo: primary.port)
        defer { relay.stop() }
        let harness = try await Self.harness(primary: primary, key: key, primaryPort: relay.port)
        defer { harness.stop() }
        #expect(try await primary.txtValues(at: Self.challenge).isEmpty, "the signer's start did not clear what was left")

        // What the signer sent: the SOA question, then the UPDATE (opcode 5) that cleared.
        let updates = relay.datagramsSent.filter { $0[2] >> 3 & 0x0F == 5 }
        #expect(updates.count == 1, "\(relay.datagramsSent.count) datagrams, \(updates.count) updates")
        let clearing = try #require(updates.first)
        try await primary.addTXT("an-order-in-flight", at: Self.challenge, zone: SignerHarness.zone, key: key)
        let socket = try LoopbackUDPSocket(port: primary.port)
        let answer = try #require(socket.exchange(clearing), "the primary did not answer the replayed update")
        let code = answer[3] & 0x0F
        print("\(kind): the replayed clearing update got RCODE \(code); values now \(try await primary.txtValues(at: Self.challenge))")
        #expect(code == 8, "the primary took the replay (RCODE \(code)), expected NXRRSET")
        #expect(try await primary.txtValues(at: Self.challenge) == ["an-order-in-flight"])
    }

    /// A secret that differs from the primary's: `check-config` says BADSIG and exits 78; the
    /// first request gets a 503 dns-unavailable problem that says the same; the zone is untouched.
    @Test func aWrongKeyIsReportedClearly() async throws {
        let key = SharedTSIGKey(name: "csrproxy-update")
        let primary = try await DNSPeer.primary(.knot, zone: SignerHarness.zone, name: SignerHarness.name, zoneText: Self.zoneText(), key: key)
        defer { primary.stop() }
        try await primary.waitUntilServing(SignerHarness.zone)
        let before = try await primary.zoneRecords(SignerHarness.zone)
        let harness = try await Self.harness(primary: primary, key: SharedTSIGKey(name: key.name))
        defer { harness.stop() }

        let checked = try await runCommand(try builtExecutable("csrproxy-signer"), ["check-config", "-c", harness.configurationPath])
        #expect(checked.status == 78, "\(checked.standardOutput) \(checked.standardError)")
        #expect(checked.standardError.contains("BADSIG") && checked.standardError.contains("csrproxy-update"), "\(checked.standardError)")

        let response = try await harness.requestCertificate()
        #expect(response.status == 503, "\(response.text)")
        #expect(response.text.contains("dns-unavailable") && response.text.contains("BADSIG"), "\(response.text)")
        // The primary's address and the key's name are for the log, not for an anonymous requester.
        #expect(!response.text.contains("127.0.0.1") && !response.text.contains("csrproxy-update") && response.text.contains("request "), "\(response.text)")
        #expect(harness.signer.standardError.contains("csrproxy-update"), "the log should name the key")
        #expect(try await primary.zoneRecords(SignerHarness.zone) == before)
    }

    /// With the right key, `check-config` passes, and warns about what the publisher must keep
    /// in the zone: here the well-known name points away from loopback and there is no CAA.
    @Test func checkConfigWarnsAboutTheZonesOwnRecords() async throws {
        let key = SharedTSIGKey(name: "csrproxy-update")
        let primary = try await DNSPeer.primary(.knot, zone: SignerHarness.zone, name: SignerHarness.name, zoneText: Self.zoneText(wellKnownAddress: "192.0.2.7", caa: false), key: key)
        defer { primary.stop() }
        try await primary.waitUntilServing(SignerHarness.zone)
        let harness = try await Self.harness(primary: primary, key: key)
        defer { harness.stop() }
        let checked = try await runCommand(try builtExecutable("csrproxy-signer"), ["check-config", "-c", harness.configurationPath])
        #expect(checked.status == 0, "\(checked.standardOutput) \(checked.standardError)")
        #expect(checked.standardOutput.contains("sends \(SignerHarness.name) to 192.0.2.7"), "\(checked.standardOutput)")
        #expect(checked.standardOutput.contains("serves no CAA"), "\(checked.standardOutput)")
        let offline = try await runCommand(try builtExecutable("csrproxy-signer"), ["check-config", "--offline", "-c", harness.configurationPath])
        #expect(offline.status == 0 && !offline.standardOutput.contains("warning: 127.0.0.1"), "\(offline.standardOutput)")
    }
}
