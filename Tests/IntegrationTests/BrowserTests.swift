import Foundation
import Testing
import TestSupport

/// A real browser on the agent's certificate: headless Chromium, trusting pebble's root through
/// an NSS database of its own, loads the demo page by its well-known name. Chromium exits 0 even
/// when it refuses a certificate, so only the page's own text in the DOM proves the handshake
/// was trusted; the same run with an empty NSS database must not show it.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct BrowserTests {
    static let pageText = "This page came over HTTPS with a certificate your browser trusts."

    @Test func chromiumTrustsTheDemoPageOnlyThroughPebblesRoot() async throws {
        let chromium = try Self.findChromium()
        let harness = try await SignerHarness()
        defer { harness.stop() }
        let (agent, root) = try await AgentRunner.issued(by: harness)
        let (demo, port) = try await startDemo(on: agent)
        defer { demo.stop() }
        let url = "https://\(SignerHarness.name):\(port)/"

        let trusting = try await Self.browserHome(in: harness.workDirectory, named: "trusting", trusting: root)
        let page = try await Self.chromium(chromium, home: trusting, ["--dump-dom", url])
        #expect(page.standardOutput.contains(Self.pageText), "no page text: stdout \(page.standardOutput.prefix(2000)) stderr \(page.standardError.suffix(2000))")
        #expect(page.standardOutput.contains(SignerHarness.name), "the page names the certificate's subject")

        let artifacts = try buildProductsDirectory().appendingPathComponent("test-artifacts")
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        let screenshot = artifacts.appendingPathComponent("browser-demo-page.png").path
        try? FileManager.default.removeItem(atPath: screenshot)
        let shot = try await Self.chromium(chromium, home: trusting, ["--screenshot=\(screenshot)", "--window-size=1000,700", url])
        let png = try Data(contentsOf: URL(fileURLWithPath: screenshot))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 5_000, "no screenshot: \(shot.standardError.suffix(2000))")
        print("screenshot of the demo page in Chromium: \(screenshot)")

        let untrusting = try await Self.browserHome(in: harness.workDirectory, named: "untrusting", trusting: nil)
        let refused = try await Self.chromium(chromium, home: untrusting, ["--dump-dom", url])
        #expect(!refused.standardOutput.contains(Self.pageText), "Chromium showed the page without trusting pebble's root")
        // The handshake reached the demo and failed on trust, not on anything else.
        #expect(refused.standardError.contains("ERR_CERT_AUTHORITY_INVALID"), "\(refused.standardError.suffix(2000))")
    }

    static func findChromium() throws -> String {
        for path in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] where FileManager.default.isExecutableFile(atPath: path) {
            return path
        }
        throw TestFailure("no chromium: install Debian's chromium and libnss3-tools (scripts/test does)")
    }

    /// A HOME whose NSS database (where Chromium on Linux looks) trusts `root`, or nothing.
    static func browserHome(in work: URL, named name: String, trusting root: String?) async throws -> String {
        let home = work.appendingPathComponent("browser-\(name)").path
        let database = "sql:\(home)/.pki/nssdb"
        try FileManager.default.createDirectory(atPath: "\(home)/.pki/nssdb", withIntermediateDirectories: true)
        var steps = [["-N", "-d", database, "--empty-password"]]
        if let root { steps.append(["-A", "-d", database, "-n", "pebble test root", "-t", "C,,", "-i", root]) }
        for step in steps {
            let result = try await runCommand("/usr/bin/certutil", step)
            guard result.status == 0 else { throw TestFailure("certutil \(step) failed: \(result.standardError)") }
        }
        return home
    }

    /// Runs headless Chromium with its own HOME; the well-known name goes to 127.0.0.1 by rule,
    /// so no resolver outside the test is asked.
    static func chromium(_ chromium: String, home: String, _ arguments: [String]) async throws -> CommandResult {
        try await runCommand("/usr/bin/env", ["HOME=\(home)", chromium,
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--user-data-dir=\(home)/profile",
            "--host-resolver-rules=MAP \(SignerHarness.name) 127.0.0.1",
        ] + arguments, timeout: .seconds(90))
    }
}
