import CertificateSupport
import Crypto
import Foundation
import Testing
import TestSupport
import X509

/// Many installs at once, in each concurrency and naming mode, against pebble.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct SignerConcurrencyTests {
    /// Sends `count` CSRs for the shared name at once, each from its own key, and returns the responses.
    static func concurrentInstalls(_ harness: SignerHarness, count: Int) async throws -> [CurlResponse] {
        var paths: [String] = []
        for index in 0..<count {
            let path = harness.workDirectory.appendingPathComponent("req-\(index).der").path
            try Data(try TestCertificates.csr(for: [SignerHarness.name], key: .init(P256.Signing.PrivateKey()))).write(to: URL(fileURLWithPath: path))
            paths.append(path)
        }
        return try await withThrowingTaskGroup(of: CurlResponse.self) { group in
            for path in paths {
                group.addTask { try await curl(harness.signURL, bodyFile: path, headers: ["Content-Type: application/pkcs10"]) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
    }

    @Test("20 concurrent installs of one name", arguments: ["set", "lock"])
    func twentyConcurrentInstalls(concurrency: String) async throws {
        var options = SignerHarness.Options()
        options.zones = [.init(concurrency: concurrency)]
        options.deadlineSeconds = 120
        let harness = try await SignerHarness(options)
        defer { harness.stop() }
        let responses = try await Self.concurrentInstalls(harness, count: 20)
        #expect(responses.map(\.status) == Array(repeating: 200, count: 20), "\(responses.filter { $0.status != 200 }.map(\.text))")
        let root = try await harness.pebble.rootPEM()
        for response in responses where response.status == 200 {
            #expect(try await TestCertificates.verify(chain: try TestCertificates.chain(fromPEM: response.text), rootPEM: root))
        }
        // Pebble's own request log: in lock mode one order at a time, in set mode several.
        if concurrency == "lock" {
            #expect(harness.pebble.peakOverlappingOrders == 1)
        } else {
            #expect(harness.pebble.peakOverlappingOrders > 1)
        }
        let metrics = try await curl(harness.baseURL.appendingPathComponent("metrics"))
        #expect(metrics.text.contains("csrproxy_orders_in_flight 0"))
        #expect(metrics.text.contains(#"outcome="issued""#) && metrics.text.contains("} 20"), "\(metrics.text)")
    }

    /// Per-install names: each key gets `<label>.go.eval.example.com`, and those names resolve
    /// to 127.0.0.1 through the signer's wildcard record, as `dig` sees it.
    @Test func perInstallNamesAreDistinctAndResolveToLoopback() async throws {
        var options = SignerHarness.Options()
        options.zones = [.init(naming: "per-install")]
        let harness = try await SignerHarness(options)
        defer { harness.stop() }
        var issuedNames: [String] = []
        for index in 0..<3 {
            let key = P256.Signing.PrivateKey()
            let spki = try Certificate.PublicKey(key.publicKey).subjectPublicKeyInfoDER()
            let name = PerInstallName.names(for: [SignerHarness.name], subjectPublicKeyInfoDER: spki)[0]
            let path = harness.workDirectory.appendingPathComponent("req-\(index).der").path
            try Data(try TestCertificates.csr(for: [name], key: .init(key))).write(to: URL(fileURLWithPath: path))
            let response = try await curl(harness.signURL, bodyFile: path, headers: ["Content-Type: application/pkcs10"])
            #expect(response.status == 200, "\(response.text)")
            let leaf = try TestCertificates.chain(fromPEM: response.text)[0]
            #expect(try leaf.extensions.subjectAlternativeNames.map(Array.init) == [.dnsName(name)])
            issuedNames.append(name)
            let answer = try await Dig.query(port: harness.dnsPort, name, "A")
            #expect(answer.status == "NOERROR")
            #expect(answer.answer.map(\.data) == ["127.0.0.1"])
        }
        #expect(Set(issuedNames).count == 3)
        #expect(issuedNames.allSatisfy { $0.split(separator: ".")[0].count >= 20 })

        // Another install's name, or the bare well-known name, is refused for this key.
        let intruder = P256.Signing.PrivateKey()
        let path = harness.workDirectory.appendingPathComponent("intruder.der").path
        try Data(try TestCertificates.csr(for: [issuedNames[0]], key: .init(intruder))).write(to: URL(fileURLWithPath: path))
        let refused = try await curl(harness.signURL, bodyFile: path, headers: ["Content-Type: application/pkcs10"])
        #expect(refused.status == 403)
        #expect(refused.problemType == "urn:csrproxy:problem:subject-not-allowed" || refused.problemType == "urn:csrproxy:problem:names-not-allowed")
    }
}
