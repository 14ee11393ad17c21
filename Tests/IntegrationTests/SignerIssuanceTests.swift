import _CryptoExtras
import Crypto
import Foundation
import Testing
import TestSupport
import SwiftASN1
import X509

/// The signer end to end: a real `csrproxy-signer serve` process, Debian's pebble validating
/// DNS-01 against the signer's own DNS, and installers' requests made with openssl and curl.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct SignerIssuanceTests {
    /// The seed's installer steps as shell, with the SAN added: RSA-4096 key and CSR by openssl,
    /// POST by curl; the chain verifies against pebble's root with `openssl verify`, and its key
    /// is the installer's.
    @Test func seedInstallerStepsWithOpenSSLAndCurl() async throws {
        let harness = try await SignerHarness()
        defer { harness.stop() }
        let directory = harness.workDirectory.path
        try await shell("openssl genrsa -out \(directory)/key.pem 4096")
        try await shell("openssl req -key \(directory)/key.pem -new -subj /CN=\(SignerHarness.name) -addext subjectAltName=DNS:\(SignerHarness.name) -out \(directory)/req.csr")
        let response = try await curl(harness.signURL, bodyFile: "\(directory)/req.csr")
        #expect(response.status == 200, "\(response.text)")
        #expect(response.headers["content-type"] == "application/pem-certificate-chain")
        let chain = try TestCertificates.chain(fromPEM: response.text)
        #expect(chain.count >= 2)
        try (try chain[0].serializeAsPEM().pemString + "\n").write(toFile: "\(directory)/leaf.pem", atomically: true, encoding: .utf8)
        try chain.dropFirst().map { try $0.serializeAsPEM().pemString + "\n" }.joined()
            .write(toFile: "\(directory)/intermediates.pem", atomically: true, encoding: .utf8)
        let root = try await harness.issuingRootFile()
        let verify = try await shell("openssl verify -CAfile \(root) -untrusted \(directory)/intermediates.pem \(directory)/leaf.pem")
        #expect(verify.contains("leaf.pem: OK"))
        let certificateKey = try await shell("openssl x509 -in \(directory)/leaf.pem -noout -pubkey")
        let installerKey = try await shell("openssl pkey -in \(directory)/key.pem -pubout")
        #expect(certificateKey == installerKey)
        #expect(try chain[0].extensions.subjectAlternativeNames.map(Array.init) == [.dnsName(SignerHarness.name)])
    }

    /// A P-256 key and CSR made in Swift, sent as DER with `application/pkcs10`.
    @Test func p256CSRBuiltInSwiftAsDER() async throws {
        var options = SignerHarness.Options()
        options.extraHTTP = "metric_label_values = { product = [\"demo\"] }"
        let harness = try await SignerHarness(options)
        defer { harness.stop() }
        let key = P256.Signing.PrivateKey()
        let csrPath = harness.workDirectory.appendingPathComponent("req.der").path
        try Data(try TestCertificates.csr(for: [SignerHarness.name], key: .init(key))).write(to: URL(fileURLWithPath: csrPath))
        let response = try await curl(harness.signURL, bodyFile: csrPath, headers: ["Content-Type: application/pkcs10", "X-CSRProxy-Label: product=demo"])
        #expect(response.status == 200, "\(response.text)")
        let chain = try TestCertificates.chain(fromPEM: response.text)
        #expect(chain[0].publicKey == Certificate.PublicKey(key.publicKey))
        #expect(try await TestCertificates.verify(chain: chain, rootPEM: try await harness.pebble.rootPEM()))
        let metrics = try await curl(harness.baseURL.appendingPathComponent("metrics"))
        #expect(metrics.text.contains(#"csrproxy_issuances_total{zone="eval.example.com",outcome="issued",label_product="demo"} 1"#), "\(metrics.text)")
    }

    /// The seed's commands exactly as written make a CN-only CSR. By default the signer answers
    /// 400 with the fix before any CA traffic; with `require_san = false` it passes the CN to the
    /// CA as the identifier, and pebble refuses it at finalize: a relayed 502.
    @Test func cnOnlyCSRFromTheSeedsCommands() async throws {
        let harness = try await SignerHarness()
        defer { harness.stop() }
        let directory = harness.workDirectory.path
        try await shell("openssl genrsa -out \(directory)/key.pem 2048")
        try await shell("openssl req -key \(directory)/key.pem -new -subj /CN=\(SignerHarness.name) -out \(directory)/req.csr")
        let ordersBefore = harness.pebble.newOrderCount
        let refused = try await curl(harness.signURL, bodyFile: "\(directory)/req.csr")
        #expect(refused.status == 400)
        #expect(refused.problemType == "urn:csrproxy:problem:missing-san")
        #expect(refused.headers["content-type"] == "application/problem+json")
        #expect(refused.problemDetail?.contains("-addext \"subjectAltName=DNS:\(SignerHarness.name)\"") == true, "\(refused.text)")
        #expect(harness.pebble.newOrderCount == ordersBefore)

        var options = SignerHarness.Options()
        options.zones = [.init(requireSAN: false)]
        let lenient = try await SignerHarness(options)
        defer { lenient.stop() }
        let relayed = try await curl(lenient.signURL, bodyFile: "\(directory)/req.csr")
        #expect(relayed.status == 502, "\(relayed.text)")
        #expect(relayed.problemType == "urn:csrproxy:problem:ca-refused")
        #expect(lenient.pebble.newOrderCount == 1)
    }

    /// `GET /v1/renewal-info`: the CA's ARI window when pebble offers ARI, a window computed from
    /// the lifetime otherwise; either way inside the certificate's validity.
    @Test func renewalInfoForAnIssuedCertificate() async throws {
        let harness = try await SignerHarness()
        defer { harness.stop() }
        let csrPath = harness.workDirectory.appendingPathComponent("req.der").path
        try Data(try TestCertificates.csr(for: [SignerHarness.name], key: .init(P256.Signing.PrivateKey()))).write(to: URL(fileURLWithPath: csrPath))
        let issued = try await curl(harness.signURL, bodyFile: csrPath, headers: ["Content-Type: application/pkcs10"])
        let leaf = try TestCertificates.chain(fromPEM: issued.text)[0]
        var serializer = DER.Serializer()
        try serializer.serialize(leaf)
        let encoded = Data(serializer.serializedBytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        var components = URLComponents(url: harness.baseURL.appendingPathComponent("v1/renewal-info"), resolvingAgainstBaseURL: false)!
        components.queryItems = [URLQueryItem(name: "certificate", value: encoded)]
        let response = try await curl(components.url!)
        #expect(response.status == 200, "\(response.text)")
        let body = try JSONSerialization.jsonObject(with: Data(response.body)) as! [String: Any]
        let window = body["suggestedWindow"] as! [String: String]
        let formatter = ISO8601DateFormatter()
        let start = try #require(formatter.date(from: window["start"]!))
        let end = try #require(formatter.date(from: window["end"]!))
        #expect(start < end)
        #expect(start > leaf.notValidBefore && end < leaf.notValidAfter)
        let directory = try await runCommand("/usr/bin/curl", ["-sS", "--cacert", harness.workDirectory.appendingPathComponent("pebble-tls-root.pem").path, harness.pebble.directoryURL.absoluteString])
        let offersARI = directory.standardOutput.contains("renewalInfo")
        #expect(body["source"] as? String == (offersARI ? "ca" : "computed"))

        let bad = try await curl(harness.baseURL.appendingPathComponent("v1/renewal-info"))
        #expect(bad.status == 400)
        #expect(bad.problemType == "urn:csrproxy:problem:bad-request")
    }

    /// Health, readiness and the Prometheus text.
    @Test func healthReadinessAndMetrics() async throws {
        let harness = try await SignerHarness()
        defer { harness.stop() }
        #expect(try await curl(harness.baseURL.appendingPathComponent("healthz")).status == 200)
        var ready = try await curl(harness.baseURL.appendingPathComponent("readyz"))
        for _ in 0..<50 where ready.status != 200 {
            try await Task.sleep(for: .milliseconds(100))
            ready = try await curl(harness.baseURL.appendingPathComponent("readyz"))
        }
        #expect(ready.status == 200, "\(ready.text)")
        _ = try await Dig.query(port: harness.dnsPort, SignerHarness.name, "A")
        _ = try await Dig.query(port: harness.dnsPort, "outside.example.org", "A")
        let metrics = try await curl(harness.baseURL.appendingPathComponent("metrics"))
        #expect(metrics.headers["content-type"]?.hasPrefix("text/plain") == true)
        for line in [#"csrproxy_dns_queries_total{rcode="NOERROR"} 1"#, #"csrproxy_dns_queries_total{rcode="REFUSED"} 1"#, "csrproxy_orders_in_flight 0"] {
            #expect(metrics.text.contains(line), "missing \(line) in \(metrics.text)")
        }
    }

    /// Runs a shell command; fails the test when it fails. Returns standard output.
    @discardableResult
    func shell(_ command: String) async throws -> String {
        let result = try await runCommand("/bin/sh", ["-c", command], timeout: .seconds(120))
        guard result.status == 0 else { throw TestFailure("\(command) failed (\(result.status)): \(result.standardError)") }
        return result.standardOutput
    }
}
