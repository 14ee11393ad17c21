import CertificateSupport
import Crypto
import Foundation
import Testing
import TestSupport

/// `http.tls = "auto"`: the signer gets its API certificate from the CA through its own DNS,
/// serves it, and reuses it after a restart.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct SignerAutomaticTLSTests {
    static let apiName = "signer.eval.example.com"

    @Test func theSignerObtainsAndServesItsOwnAPICertificate() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("api-tls-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var options = SignerHarness.Options()
        options.extraHTTP = """
            tls = "auto"
            tls_auto_name = "\(Self.apiName)"
            tls_auto_addresses = ["127.0.0.1"]
            tls_auto_directory = "\(directory)"
            """
        let harness = try await SignerHarness(options)
        defer { harness.stop() }
        let root = try await harness.issuingRootFile()
        let port = harness.baseURL.port!
        let base = URL(string: "https://\(Self.apiName):\(port)")!
        // Trust only pebble's root, and reach the name on loopback as its A record says.
        let trust = ["--cacert", root, "--resolve", "\(Self.apiName):\(port):127.0.0.1"]

        var ready: CommandResult?
        for _ in 0..<100 {
            ready = try await runCommand("/usr/bin/curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}"] + trust + [base.appendingPathComponent("readyz").absoluteString])
            if ready?.standardOutput == "200" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(ready?.standardOutput == "200", "\(ready?.standardError ?? "")")
        #expect(SecureFile.permissions(of: "\(directory)/key.pem") == 0o600)
        #expect(SecureFile.permissions(of: directory) == 0o700)
        #expect(try await Dig.query(port: harness.dnsPort, Self.apiName, "A").answer.map(\.data) == ["127.0.0.1"])

        let csr = harness.workDirectory.appendingPathComponent("req.der").path
        try Data(try TestCertificates.csr(for: [SignerHarness.name], key: .init(P256.Signing.PrivateKey()))).write(to: URL(fileURLWithPath: csr))
        let signed = try await runCommand("/usr/bin/curl", ["-sS", "--fail-with-body", "--data-binary", "@\(csr)", "-H", "Content-Type: application/pkcs10"] + trust + [base.appendingPathComponent("v1/sign").absoluteString])
        #expect(signed.status == 0 && signed.standardOutput.hasPrefix("-----BEGIN CERTIFICATE-----"), "\(signed.standardOutput) \(signed.standardError)")

        // The API's certificate went through the budgets and the ledger like the install's:
        // two new certificates under the registered domain.
        let report = try await runCommand(try builtExecutable("csrproxy-signer"), ["check-config", "--budgets", "--offline", "-c", harness.configurationPath])
        #expect(report.standardOutput.contains("new certificates under example.com: 2/"), "\(report.standardOutput) \(report.standardError)")

        // A restart serves the stored certificate at once, without a new order.
        let orders = harness.pebble.newOrderCount
        try await harness.restartSigner()
        let again = try await runCommand("/usr/bin/curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}"] + trust + ["https://\(Self.apiName):\(harness.baseURL.port!)/healthz", "--resolve", "\(Self.apiName):\(harness.baseURL.port!):127.0.0.1"])
        #expect(again.standardOutput == "200", "\(again.standardError)")
        try await Task.sleep(for: .milliseconds(300))
        #expect(harness.pebble.newOrderCount == orders)
    }
}
