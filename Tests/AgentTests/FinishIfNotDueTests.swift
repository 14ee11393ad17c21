@testable import Agent
import CertificateSupport
import CommandLineSupport
import Crypto
import Foundation
import Logging
import SignerProtocol
import Testing
import X509

struct FinishIfNotDueTests {
    /// No certificate yet is not "not due": renew must go on and issue one (and say nothing here).
    @Test func nothingInstalledLeavesTheWorkToRenew() throws {
        var configuration = try AgentConfiguration(toml: "signer_url = \"https://s.example.com\"\nname = \"go.eval.example.com\"\n")
        configuration.directory = FileManager.default.temporaryDirectory.appendingPathComponent("empty-\(UUID().uuidString)").path
        let printed = Printed()
        let agent = try Agent(configuration: configuration, environment: [:], logger: Logger(label: "test")) { printed.append($0) }
        #expect(!agent.finishIfNotDue())
        #expect(printed.lines.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: configuration.directory), "a check must not create the directory")
    }

    final class Printed: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: [String] = []
        var lines: [String] { lock.withLock { stored } }
        func append(_ line: String) { lock.withLock { stored.append(line) } }
    }
}
