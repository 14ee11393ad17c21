import CertificateSupport
import Crypto
import Foundation
import Testing
import TestSupport
import X509

/// The signer when things break: the CA goes away mid-order, the signer itself is killed
/// mid-order, the CA forgets the account. Nothing is left published and nothing hangs.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct SignerFailureTests {
    static let challengeName = "_acme-challenge.\(SignerHarness.name)"

    /// A harness whose pebble waits 0-15 s before validating, so an order stays in flight.
    static func slowValidationHarness() async throws -> SignerHarness {
        var options = SignerHarness.Options()
        options.pebble = .init(validationSleeps: true)
        options.deadlineSeconds = 60
        return try await SignerHarness(options)
    }

    static func writeCSR(_ harness: SignerHarness) throws -> String {
        let path = harness.workDirectory.appendingPathComponent("req-\(UUID().uuidString).der").path
        try Data(try TestCertificates.csr(for: [SignerHarness.name], key: .init(P256.Signing.PrivateKey()))).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Waits until the signer's DNS serves a challenge value: the order is in flight.
    static func waitForPublishedChallenge(_ harness: SignerHarness) async throws -> [String] {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let values = try await Dig.query(port: harness.dnsPort, challengeName, "TXT").answer.map(\.data)
            if !values.isEmpty { return values }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("no challenge value was published within 20 s")
    }

    /// Pebble stopped while it is about to validate: 503 with Retry-After within seconds, and
    /// the TXT value is withdrawn. Then, with the CA still gone, a restarted signer is not ready.
    @Test func caStoppedMidOrderGives503AndLeavesNoTXT() async throws {
        let harness = try await Self.slowValidationHarness()
        defer { harness.stop() }
        let path = try Self.writeCSR(harness)
        let signURL = harness.signURL
        async let response = curl(signURL, bodyFile: path, headers: ["Content-Type: application/pkcs10"])
        _ = try await Self.waitForPublishedChallenge(harness)
        harness.pebble.stop()
        let stoppedAt = ContinuousClock.now
        let answer = try await response
        // Pebble may, rarely, have validated within the few milliseconds before it was stopped.
        try #require(answer.status != 200, "pebble finished the order before it was stopped; rerun")
        #expect(answer.status == 503, "\(answer.text)")
        #expect(answer.problemType == "urn:csrproxy:problem:ca-unavailable")
        #expect(Int(answer.headers["retry-after"] ?? "") ?? 0 >= 1)
        #expect(ContinuousClock.now - stoppedAt < .seconds(20))
        #expect(try await Dig.query(port: harness.dnsPort, Self.challengeName, "TXT").answer.isEmpty)

        try await harness.restartSigner()
        let ready = try await curl(harness.baseURL.appendingPathComponent("readyz"))
        #expect(ready.status == 503)
        #expect(ready.problemType == "urn:csrproxy:problem:not-ready")
        #expect(ready.problemDetail?.contains("ACME account") == true)
        #expect(try await curl(harness.baseURL.appendingPathComponent("healthz")).status == 200)
    }

    /// SIGKILL mid-order gives the signer no chance to clean up; the restarted signer serves
    /// no stale TXT value.
    @Test func signerKilledMidOrderServesNoStaleTXTAfterRestart() async throws {
        let harness = try await Self.slowValidationHarness()
        defer { harness.stop() }
        let path = try Self.writeCSR(harness)
        let signURL = harness.signURL
        let request = Task { try? await curl(signURL, bodyFile: path, headers: ["Content-Type: application/pkcs10"]) }
        let published = try await Self.waitForPublishedChallenge(harness)
        #expect(published.count == 1)
        try await harness.restartSigner(signal: SIGKILL)
        _ = await request.value
        let after = try await Dig.query(port: harness.dnsPort, Self.challengeName, "TXT")
        #expect(after.answer.isEmpty, "stale TXT served: \(after.answer)")
        #expect(after.status == "NOERROR" || after.status == "NXDOMAIN")
    }

    /// The account key is created 0600 in a 0700 directory and reused; once others can read
    /// it, the signer refuses to start (exit 78) and says how to fix it.
    @Test func accountKeyIsPrivateAndAnExposedOneIsRefused() async throws {
        let harness = try await SignerHarness()
        defer { harness.stop() }
        let keyPath = harness.workDirectory.appendingPathComponent("state/account-key.pem").path
        #expect(SecureFile.permissions(of: keyPath) == 0o600)
        #expect(SecureFile.permissions(of: harness.workDirectory.appendingPathComponent("state").path) == 0o700)
        let key = try SecureFile.read(keyPath)
        #expect(harness.signer.stop() == 0, "SIGTERM is a clean stop")
        chmod(keyPath, 0o644)
        let refused = try await runCommand(try builtExecutable("csrproxy-signer"), ["serve", "-c", harness.configurationPath])
        #expect(refused.status == 78)
        #expect(refused.standardError.contains("readable by others") && refused.standardError.contains("chmod 600"), "\(refused.standardError)")
        #expect(try SecureFile.read(keyPath) == key, "the key is left as it was")
    }

    /// A CA that forgot the account (pebble restarted with an empty database): the signer
    /// registers again by itself and the next install succeeds.
    @Test func accountForgottenByTheCAIsRegisteredAgain() async throws {
        let harness = try await SignerHarness()
        defer { harness.stop() }
        #expect(try await curl(harness.signURL, bodyFile: try Self.writeCSR(harness), headers: ["Content-Type: application/pkcs10"]).status == 200)
        try await harness.restartPebble()
        let again = try await curl(harness.signURL, bodyFile: try Self.writeCSR(harness), headers: ["Content-Type: application/pkcs10"])
        #expect(again.status == 200, "\(again.text)")
        #expect(try await TestCertificates.verify(chain: try TestCertificates.chain(fromPEM: again.text), rootPEM: try await harness.pebble.rootPEM()))
        #expect(harness.signer.standardError.contains("no longer knows our account"))
    }
}
