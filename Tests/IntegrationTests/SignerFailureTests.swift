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

    /// A harness whose pebble waits a random few seconds before validating, so an order stays
    /// in flight, and never reuses an authorization, so every order publishes a value.
    static func slowValidationHarness() async throws -> SignerHarness {
        var options = SignerHarness.Options()
        options.pebble = .init(authorizationReusePercent: 0, validationSleeps: true)
        options.deadlineSeconds = 60
        return try await SignerHarness(options)
    }

    static func writeCSR(_ harness: SignerHarness) throws -> String {
        let path = harness.workDirectory.appendingPathComponent("req-\(UUID().uuidString).der").path
        try Data(try TestCertificates.csr(for: [SignerHarness.name], key: .init(P256.Signing.PrivateKey()))).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// An order in flight: the signing request runs in `response`, and its challenge value is
    /// served by the signer's DNS.
    struct OrderInFlight {
        let values: [String]
        let response: Task<CurlResponse, any Error>
    }

    /// Starts a signing request and waits until the signer's DNS serves its challenge value.
    /// Pebble's random wait before validating can be 0 s; then the order may finish between
    /// two looks at the DNS, and there is nothing left to interrupt. That round is run again
    /// with a new CSR; any other early answer fails the test with what the signer said.
    static func startOrderAndWaitForChallenge(_ harness: SignerHarness) async throws -> OrderInFlight {
        for _ in 1...3 {
            let path = try writeCSR(harness)
            let signURL = harness.signURL
            let ended = EndedFlag()
            let response = Task {
                defer { ended.set() }
                return try await curl(signURL, bodyFile: path, headers: ["Content-Type: application/pkcs10"])
            }
            let deadline = ContinuousClock.now + .seconds(45)
            while ContinuousClock.now < deadline {
                let values = try await Dig.query(port: harness.dnsPort, challengeName, "TXT").answer.map(\.data)
                if !values.isEmpty { return OrderInFlight(values: values, response: response) }
                if ended.isSet {
                    let early = try await response.value
                    guard early.status == 200 else { throw TestFailure("the request ended before its challenge value was served: \(early.status) \(early.text)") }
                    break
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            guard ContinuousClock.now < deadline else {
                response.cancel()
                throw TestFailure("no challenge value was published within 45 s")
            }
        }
        throw TestFailure("pebble validated at once three times in a row; no order could be interrupted")
    }

    /// Set once by the task that ends; read by the loop that must not wait for it.
    final class EndedFlag: @unchecked Sendable {
        private let lock = NSLock()
        private var ended = false
        func set() { lock.withLock { ended = true } }
        var isSet: Bool { lock.withLock { ended } }
    }

    /// Pebble stopped while it is about to validate: 503 with Retry-After within seconds, and
    /// the TXT value is withdrawn. Then, with the CA still gone, a restarted signer is not ready.
    /// Pebble's wait before it validates is a random whole number of seconds from 0 to 15, so one
    /// time in sixteen it validates before it can be stopped: the round is then run again with a
    /// fresh pebble and signer, up to three times.
    @Test func caStoppedMidOrderGives503AndLeavesNoTXT() async throws {
        for attempt in 1...3 {
            let harness = try await Self.slowValidationHarness()
            defer { harness.stop() }
            let order = try await Self.startOrderAndWaitForChallenge(harness)
            harness.pebble.stop()
            let stoppedAt = ContinuousClock.now
            let answer = try await order.response.value
            if answer.status == 200, attempt < 3 { continue }
            try #require(answer.status != 200, "pebble finished the order before it was stopped, three times")
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
            return
        }
    }

    /// SIGKILL mid-order gives the signer no chance to clean up; the restarted signer serves
    /// no stale TXT value.
    @Test func signerKilledMidOrderServesNoStaleTXTAfterRestart() async throws {
        let harness = try await Self.slowValidationHarness()
        defer { harness.stop() }
        let order = try await Self.startOrderAndWaitForChallenge(harness)
        #expect(order.values.count == 1)
        try await harness.restartSigner(signal: SIGKILL)
        _ = try? await order.response.value
        let after = try await Dig.query(port: harness.dnsPort, Self.challengeName, "TXT")
        #expect(after.answer.isEmpty, "stale TXT served: \(after.answer)")
        #expect(after.status == "NOERROR" || after.status == "NXDOMAIN")
    }

    /// A CA that hangs does not hold up a stop: SIGTERM while the account registration waits
    /// on it ends the signer cleanly within seconds, not at the request's timeout.
    @Test func aHangingCADoesNotHoldUpAStop() async throws {
        var options = SignerHarness.Options()
        options.front = false
        let harness = try await SignerHarness(options)
        defer { harness.stop() }
        harness.front?.stall()
        try await harness.restartSigner()
        try await Task.sleep(for: .milliseconds(300))
        #expect(harness.front?.recorded.last?.path == "/dir" || harness.front?.recorded.last?.path == "/nonce-plz" || harness.front?.recorded.last?.path == "/sign-me-up", "the registration is waiting on the CA")
        let started = ContinuousClock.now
        #expect(harness.signer.stop(grace: .seconds(12)) == 0, "SIGTERM is a clean stop")
        // The registration stops at once; AsyncHTTPClient then takes up to 5 s to close the
        // connection whose request was cancelled. Before, the stop waited for the request's
        // 15 s timeout, past the 10 s a test (or an impatient operator) grants.
        #expect(ContinuousClock.now - started < .seconds(8))
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
