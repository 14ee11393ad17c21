import CertificateSupport
import Crypto
import Foundation
import Testing
import TestSupport
import X509

/// The CA's limits, against pebble (and an HTTPS front before it where pebble 2.4 cannot show
/// the thing): budgets stop requests before the CA and survive a SIGKILL, renewals name the
/// certificate they replace and are exempt, a `replaces` that is not the requester's is
/// refused, and a CA that says `rateLimited` is left alone for as long as it asks.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct CALimitsTests {
    static let name = SignerHarness.name

    static func csr(_ harness: SignerHarness, names: [String] = [name], key: P256.Signing.PrivateKey = .init()) throws -> String {
        let path = harness.workDirectory.appendingPathComponent("req-\(UUID().uuidString).der").path
        try Data(try TestCertificates.csr(for: names, key: .init(key))).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func sign(_ harness: SignerHarness, _ path: String, headers: [String] = []) async throws -> CurlResponse {
        try await curl(harness.signURL, bodyFile: path, headers: ["Content-Type: application/pkcs10"] + headers)
    }

    /// 60 fresh keys in a minute from one address, per-install names: the registered domain's
    /// budget (3 here) lets 3 through; the rest get 429 `budget-exhausted` with a Retry-After
    /// within the 7-day window, and pebble sees 3 orders.
    @Test func aBurstOfFreshKeysStopsAtTheDomainBudget() async throws {
        var options = SignerHarness.Options()
        options.zones = [SignerHarness.Zone(naming: "per-install")]
        options.budgets.domain = 3
        let harness = try await SignerHarness(options)
        defer { harness.stop() }
        var statuses: [Int: Int] = [:]
        var retryAfters: [Int] = []
        for _ in 0..<60 {
            let key = P256.Signing.PrivateKey()
            let names = try PerInstallName.names(for: [Self.name], publicKey: .init(key.publicKey))
            let answer = try await Self.sign(harness, try Self.csr(harness, names: names, key: key))
            statuses[answer.status, default: 0] += 1
            if answer.status == 429 {
                #expect(answer.problemType == "urn:csrproxy:problem:budget-exhausted", "\(answer.text)")
                retryAfters.append(Int(answer.headers["retry-after"] ?? "") ?? 0)
            }
        }
        #expect(statuses == [200: 3, 429: 57], "\(statuses)")
        #expect(retryAfters.allSatisfy { (6 * 86_400...7 * 86_400).contains($0) }, "\(retryAfters.prefix(3))")
        #expect(harness.pebble.newOrderCount == 3)
    }

    /// The budget per exact name set is counted from the ledger on disk: after a SIGKILL and a
    /// restart the third request is still refused, with no order at pebble; `check-config
    /// --budgets` shows it spent. The registered domain comes from Debian's public suffix list.
    @Test func countersSurviveSIGKILLAndRestart() async throws {
        var options = SignerHarness.Options()
        options.budgets.nameSet = 2
        let harness = try await SignerHarness(options)
        defer { harness.stop() }
        for _ in 0..<2 { #expect(try await Self.sign(harness, try Self.csr(harness)).status == 200) }
        #expect(try await Self.sign(harness, try Self.csr(harness)).status == 429)
        try await harness.restartSigner(signal: SIGKILL)
        let after = try await Self.sign(harness, try Self.csr(harness))
        #expect(after.status == 429, "\(after.text)")
        #expect(after.problemType == "urn:csrproxy:problem:budget-exhausted")
        #expect(harness.pebble.newOrderCount == 2)

        let report = try await runCommand(try builtExecutable("csrproxy-signer"), ["check-config", "--budgets", "-c", harness.configurationPath])
        #expect(report.status == 0, "\(report.standardError)")
        #expect(report.standardOutput.contains("new certificates for \(Self.name): 2/2 in 7 days, spent: next free at"), "\(report.standardOutput)")
        #expect(report.standardOutput.contains("new certificates under example.com: 2/1000000 in 7 days"), "\(report.standardOutput)")
    }

    /// An agent's renewal names the certificate it replaces; with a CA that has ARI the order
    /// carries exactly its CertID as `replaces`, and it spends no budget (1 here, spent by the
    /// first issue). With `--rotate-key` the old key signs the new CSR, and that renewal is
    /// exempt too.
    @Test func anAgentRenewalSendsReplacesAndIsExempt() async throws {
        var options = SignerHarness.Options()
        options.front = true
        options.budgets.nameSet = 1
        let harness = try await SignerHarness(options)
        defer { harness.stop() }
        let (agent, _) = try await AgentRunner.issued(by: harness)
        let first = try Certificate(pemEncoded: try String(contentsOfFile: agent.path("cert.pem"), encoding: .utf8))
        #expect(harness.front?.newOrders.count == 1)
        #expect(harness.front?.newOrders.first?["replaces"] == nil, "a first issue replaces nothing")

        let renewed = try await agent.run(["renew", "--force"])
        #expect(renewed.status == 0, "\(renewed.standardError)")
        let orders = harness.front?.newOrders ?? []
        #expect(orders.count == 2)
        #expect(orders.last?["replaces"] as? String == (try ARICertificateID(certificate: first).value))

        let second = try Certificate(pemEncoded: try String(contentsOfFile: agent.path("cert.pem"), encoding: .utf8))
        let rotated = try await agent.run(["renew", "--force", "--rotate-key"])
        #expect(rotated.status == 0, "\(rotated.standardError)")
        let third = try Certificate(pemEncoded: try String(contentsOfFile: agent.path("cert.pem"), encoding: .utf8))
        #expect(third.publicKey != second.publicKey, "--rotate-key made no new key")
        #expect(harness.front?.newOrders.count == 3)
        #expect(harness.front?.newOrders.last?["replaces"] as? String == (try ARICertificateID(certificate: second).value))
    }

    /// A `replaces` for a certificate with another key, which this signer did not issue:
    /// 403 `replaces-not-allowed`, and pebble sees no order. Its names must match too.
    @Test func replacingACertificateThatIsNotYoursIsRefused() async throws {
        let harness = try await SignerHarness()
        defer { harness.stop() }
        let stranger = P256.Signing.PrivateKey()
        let foreign = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(stranger.publicKey),
            notValidBefore: Date(), notValidAfter: Date() + 86_400 * 60,
            issuer: try DistinguishedName { CommonName("someone's CA") }, subject: try DistinguishedName { CommonName(Self.name) },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                AuthorityKeyIdentifier(keyIdentifier: [9, 8, 7, 6])
                SubjectAlternativeNames([.dnsName(Self.name)])
            },
            issuerPrivateKey: .init(stranger))
        let header = "X-CSRProxy-Replaces: " + Base64URL.encode(try foreign.serializeAsPEM().derBytes)
        let refused = try await Self.sign(harness, try Self.csr(harness), headers: [header])
        #expect(refused.status == 403, "\(refused.text)")
        #expect(refused.problemType == "urn:csrproxy:problem:replaces-not-allowed")
        let garbled = try await Self.sign(harness, try Self.csr(harness), headers: ["X-CSRProxy-Replaces: not-a-certificate"])
        #expect(garbled.status == 400)
        #expect(harness.pebble.newOrderCount == 0)
    }

    /// The CA answers newOrder with `rateLimited` and Retry-After: 30. The installer gets 429
    /// `ca-rate-limited` with that Retry-After, and the next request is answered the same way
    /// without any order sent to the CA.
    @Test func aRateLimitedCAIsPausedAndItsRetryAfterRelayed() async throws {
        var options = SignerHarness.Options()
        options.front = false
        let harness = try await SignerHarness(options)
        defer { harness.stop() }
        harness.front?.failNewOrders(.init(retryAfterSeconds: 30))
        let limited = try await Self.sign(harness, try Self.csr(harness))
        #expect(limited.status == 429, "\(limited.text)")
        #expect(limited.problemType == "urn:csrproxy:problem:ca-rate-limited")
        #expect((25...30).contains(Int(limited.headers["retry-after"] ?? "") ?? 0), "\(limited.headers)")
        let ordersSeen = harness.front?.newOrderRequests.count
        let again = try await Self.sign(harness, try Self.csr(harness))
        #expect(again.status == 429)
        #expect(again.problemType == "urn:csrproxy:problem:ca-rate-limited")
        #expect(harness.front?.newOrderRequests.count == ordersSeen, "a paused CA got another order")
        #expect(harness.pebble.newOrderCount == 0)
    }

    /// Two CAs, the second requiring EAB: with the first's budget at 3 new certificates for
    /// the name, the 4th and 5th requests go to the second and succeed (their chains verify
    /// against its root). CAA names both CAs, pinned to the signer's accounts. With the second stopped too, a request gets a 503 with Retry-After
    /// and neither CA sees an order beyond its budget.
    @Test func requestsFailOverToTheNextCAWhenABudgetIsSpent() async throws {
        var options = SignerHarness.Options()
        options.secondCA = true
        options.caaIdentities = true
        options.budgets.nameSet = 3
        let harness = try await SignerHarness(options)
        defer { harness.stop() }
        let second = try #require(harness.secondPebble)
        var chains: [String] = []
        for _ in 0..<5 {
            let answer = try await Self.sign(harness, try Self.csr(harness))
            #expect(answer.status == 200, "\(answer.text)")
            chains.append(answer.text)
        }
        #expect(harness.pebble.newOrderCount == 3)
        #expect(second.newOrderCount == 2)
        #expect(try await TestCertificates.verify(chain: try TestCertificates.chain(fromPEM: chains[4]), rootPEM: try await second.rootPEM()))
        #expect(try await TestCertificates.verify(chain: try TestCertificates.chain(fromPEM: chains[0]), rootPEM: try await harness.pebble.rootPEM()))

        // Both accounts are registered now: within a second or so, CAA names each CA, DNS-01
        // only, pinned to our account there.
        var caa: [String] = []
        let pinnedBy = ContinuousClock.now + .seconds(10)
        repeat {
            caa = try await Dig.query(port: harness.dnsPort, SignerHarness.zone, "CAA").answer.map(\.data)
            if caa.filter({ $0.contains("accounturi=https://127.0.0.1:") }).count == 2 { break }
            try await Task.sleep(for: .milliseconds(100))
        } while ContinuousClock.now < pinnedBy
        #expect(caa.contains { $0.contains(#"issue "pebble-one.test; validationmethods=dns-01; accounturi=https://127.0.0.1:"#) }, "\(caa)")
        #expect(caa.contains { $0.contains(#"issue "pebble-two.test; validationmethods=dns-01; accounturi=https://127.0.0.1:"#) }, "\(caa)")
        #expect(caa.contains { $0.contains(#"issuewild ";""#) }, "\(caa)")

        second.stop()
        let nobody = try await Self.sign(harness, try Self.csr(harness))
        #expect(nobody.status == 503, "\(nobody.text)")
        #expect(nobody.problemType == "urn:csrproxy:problem:ca-unavailable")
        #expect((Int(nobody.headers["retry-after"] ?? "") ?? 0) >= 1)
        #expect(nobody.problemDetail?.contains("budget") == true, "the first CA's reason is in the detail: \(nobody.problemDetail ?? "")")
        #expect(harness.pebble.newOrderCount == 3)

        let metrics = try await curl(harness.baseURL.appendingPathComponent("metrics"))
        #expect(metrics.text.contains(#"csrproxy_certificates_total{zone="eval.example.com",ca="second",renewal="false"} 2"#), "\(metrics.text)")
    }
}
