@testable import Agent
import CertificateSupport
import CommandLineSupport
import Crypto
import Foundation
import Logging
import SignerProtocol
import Testing
import X509

struct HostileInputTests {
    static let base = "signer_url = \"https://s.example.com\"\nname = \"go.eval.example.com\"\n"

    /// A pid outside 2...pid_max is a configuration error (78), not a crash or kill(-1, ...).
    @Test(arguments: ["-1", "0", "1", "4294967296", "99999999999"])
    func pidsOutOfRangeAreConfigurationErrors(pid: String) {
        #expect(throws: AgentError.self) {
            try AgentConfiguration(toml: Self.base + "[[reload]]\nmethod = \"signal\"\npid = \(pid)\n")
        }
    }

    /// http:// reaches only a signer on this machine; anything else must be https://.
    @Test func plainHTTPIsForLoopbackOnly() throws {
        for url in ["http://127.0.0.1:8080", "http://[::1]:8080", "http://localhost:8080", "https://signer.example.com"] {
            #expect((try? AgentConfiguration.signerURL(url)) != nil, "\(url)")
        }
        for url in ["http://signer.example.com", "http://10.0.0.1", "http://127.0.0.1.example.com", "ftp://127.0.0.1", "file:///etc/passwd"] {
            #expect(throws: AgentError.self, "\(url)") { try AgentConfiguration.signerURL(url) }
        }
    }

    /// A journal line stays one line: a carriage return or newline from a peer starts no entry.
    @Test func journalLinesSplitOnNothing() {
        let line = JournalLine.oneLine("renewal failed: x\r<2>forged\nthird\u{1B}[31m")
        #expect(line == "renewal failed: x <2>forged third?[31m")
    }

    /// ANSI escapes, carriage returns, C1 controls and bidi overrides never reach the terminal.
    @Test func terminalTextDropsControlCharacters() {
        let cleaned = TerminalText.clean("ok\u{1B}[2J\rfake\u{9B}31m\u{202E}txt\n", limit: 100)
        #expect(!cleaned.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0.value == 0x202E })
        #expect(cleaned.hasPrefix("ok?[2J?fake"))
        #expect(TerminalText.clean(String(repeating: "a", count: 1000), limit: 10).count == 11)
    }
}
