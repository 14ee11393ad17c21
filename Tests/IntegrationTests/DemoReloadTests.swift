import Foundation
import Glibc
import Testing
import TestSupport

/// `csrproxy-demo` swapping certificates on SIGHUP: open connections keep answering, new
/// handshakes get the new certificate, broken files change nothing, and systemd hears
/// READY=1, RELOADING=1/READY=1 around each reload, then STOPPING=1.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct DemoReloadTests {
    struct Identity {
        let chain: String
        let key: String
    }

    /// The certificate a fresh TLS handshake with the demo gets, as PEM.
    static func servedCertificate(port: Int) async throws -> String {
        let result = try await runCommand("/bin/sh", ["-c", "openssl s_client -connect 127.0.0.1:\(port) </dev/null 2>/dev/null | openssl x509"])
        return result.standardOutput
    }

    static func normalised(_ pem: String) -> String { pem.filter { !$0.isWhitespace } }

    @Test func reloadsWithoutDroppingAConnectionAndKeepsServingOnBrokenFiles() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("demo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let a = try TestCertificates.localhostServerIdentity()
        let b = try TestCertificates.localhostServerIdentity()
        let bundle = work.appendingPathComponent("cas.pem").path
        try (a.caPEM + "\n" + b.caPEM + "\n").write(toFile: bundle, atomically: true, encoding: .utf8)
        let chainPath = work.appendingPathComponent("fullchain.pem").path
        let keyPath = work.appendingPathComponent("key.pem").path
        let pidPath = work.appendingPathComponent("demo.pid").path
        func install(_ chain: String, _ key: String) throws {
            try chain.write(toFile: chainPath, atomically: true, encoding: .utf8)
            try key.write(toFile: keyPath, atomically: true, encoding: .utf8)
        }
        try install(a.certificatePEM, a.keyPEM)

        let socket = try NotifySocket()
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = socket.path
        let demo = try ServerProcess(try builtExecutable("csrproxy-demo"), [
            "--certificate", chainPath, "--key", keyPath, "--listen", "127.0.0.1:0", "--pidfile", pidPath,
        ], environment: environment)
        defer { demo.stop() }
        let port = Int(try await demo.waitForOutput(matching: #"https=127\.0\.0\.1:(\d+)"#))!
        #expect(try String(contentsOfFile: pidPath, encoding: .utf8) == "\(demo.pid)\n")
        #expect(Self.normalised(try await Self.servedCertificate(port: port)) == Self.normalised(a.certificatePEM))

        // One keep-alive connection making 8 requests over about 2 s, with a reload in the middle.
        let url = "https://127.0.0.1:\(port)/certificate.json"
        async let keptAlive = runCommand("/usr/bin/curl", ["-sS", "--cacert", bundle, "--rate", "4/s", "-o", "/dev/null", "-w", "%{num_connects} %{http_code}\\n"] + Array(repeating: url, count: 8))
        try await Task.sleep(for: .milliseconds(600))
        try install(b.certificatePEM, b.keyPEM)
        demo.send(SIGHUP)
        let keptAliveResult = try await keptAlive
        let transfers = keptAliveResult.standardOutput.split(separator: "\n").map { $0.split(separator: " ") }
        #expect(transfers.count == 8)
        #expect(transfers.allSatisfy { $0.last == "200" }, "\(transfers) \(keptAliveResult.standardError)")
        #expect(transfers.compactMap { Int($0.first ?? "") }.reduce(0, +) == 1, "the requests did not share one connection: \(transfers)")
        #expect(Self.normalised(try await Self.servedCertificate(port: port)) == Self.normalised(b.certificatePEM))

        // Broken, then mismatched files: B stays in service, and the log says why.
        for (chain, key) in [("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n", b.keyPEM), (a.certificatePEM, b.keyPEM)] {
            try install(chain, key)
            demo.send(SIGHUP)
            try await Task.sleep(for: .milliseconds(300))
            #expect(Self.normalised(try await Self.servedCertificate(port: port)) == Self.normalised(b.certificatePEM))
        }
        #expect(demo.standardError.components(separatedBy: "kept the current certificate").count - 1 == 2, "\(demo.standardError)")
        try install(a.certificatePEM, a.keyPEM)
        demo.send(SIGHUP)
        try await Task.sleep(for: .milliseconds(300))
        #expect(Self.normalised(try await Self.servedCertificate(port: port)) == Self.normalised(a.certificatePEM))

        #expect(demo.stop() == 0)
        let messages = socket.receive()
        let kinds = messages.map { $0.first ?? "" }
        // Each RELOADING=1 carries the monotonic clock, as systemd's reload protocol asks.
        #expect(messages.filter { $0.first == "RELOADING=1" }.allSatisfy { $0.contains { $0.hasPrefix("MONOTONIC_USEC=") && UInt64($0.dropFirst(15)) ?? 0 > 0 } }, "\(messages)")
        var expected: [String] = ["READY=1"]
        for _ in 0..<4 { expected += ["RELOADING=1", "READY=1"] }
        expected.append("STOPPING=1")
        #expect(kinds == expected, "\(kinds)")
        #expect(!FileManager.default.fileExists(atPath: pidPath))
    }

    /// The whole flow: the agent installs A from the signer and pebble, the demo serves it, then
    /// `renew --force` installs B and signals the demo through the agent's own reload method,
    /// while a keep-alive connection keeps asking.
    @Test func agentRenewalReloadsTheDemoWithoutAFailedRequest() async throws {
        let harness = try await SignerHarness()
        defer { harness.stop() }
        let (agent, root) = try await AgentRunner.issued(by: harness)
        let pidPath = harness.workDirectory.appendingPathComponent("demo.pid").path
        let configuration = try String(contentsOfFile: agent.configurationPath, encoding: .utf8)
        try (configuration + "\n[[reload]]\nmethod = \"signal\"\npidfile = \"\(pidPath)\"\n").write(toFile: agent.configurationPath, atomically: true, encoding: .utf8)

        let (demo, port) = try await startDemo(on: agent, extraArguments: ["--pidfile", pidPath])
        defer { demo.stop() }
        let name = SignerHarness.name
        let url = "https://\(name):\(port)/certificate.json"
        let trust = ["--cacert", root, "--resolve", "\(name):\(port):127.0.0.1"]
        let first = try await runCommand("/usr/bin/curl", ["-sS"] + trust + [url])
        let serialA = try #require((try JSONSerialization.jsonObject(with: Data(first.standardOutput.utf8)) as? [String: Any])?["serial"] as? String)

        async let keptAlive = runCommand("/usr/bin/curl", ["-sS", "--rate", "4/s", "-w", "%{num_connects} %{http_code}\\n"] + trust + Array(repeating: ["-o", "/dev/null", url], count: 8).flatMap { $0 })
        try await Task.sleep(for: .milliseconds(500))
        let renewed = try await agent.run(["renew", "--force", "--quiet"])
        #expect(renewed.status == 0, "\(renewed.standardError)")
        let result = try await keptAlive
        let transfers = result.standardOutput.split(separator: "\n").map { $0.split(separator: " ") }
        #expect(transfers.count == 8 && transfers.allSatisfy { $0.last == "200" }, "\(transfers) \(result.standardError)")
        #expect(transfers.compactMap { Int($0.first ?? "") }.reduce(0, +) == 1, "the requests did not share one connection: \(transfers)")

        try await Task.sleep(for: .milliseconds(300))
        let after = try await runCommand("/usr/bin/curl", ["-sS"] + trust + [url])
        let serialB = (try JSONSerialization.jsonObject(with: Data(after.standardOutput.utf8)) as? [String: Any])?["serial"] as? String
        #expect(serialB != nil && serialB != serialA)
        let installed = try String(contentsOfFile: agent.path("cert.pem"), encoding: .utf8)
        let served = try await runCommand("/bin/sh", ["-c", "openssl s_client -connect 127.0.0.1:\(port) -servername \(name) </dev/null 2>/dev/null | openssl x509"])
        #expect(Self.normalised(served.standardOutput) == Self.normalised(installed), "a new handshake does not get the renewed certificate")
    }
}
