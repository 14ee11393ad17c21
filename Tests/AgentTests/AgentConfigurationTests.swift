@testable import Agent
import CertificateSupport
import CommandLineSupport
import Crypto
import Foundation
import Logging
import SignerProtocol
import Testing
import X509

struct AgentConfigurationTests {
    @Test func minimalFileGetsDefaults() throws {
        let configuration = try AgentConfiguration(toml: "signer_url = \"https://s.example.com\"\nname = \"go.eval.example.com\"\n")
        #expect(configuration.keyType == .p256 && configuration.naming == .shared && configuration.directory == "/var/lib/csrproxy/tls")
        #expect(configuration.deadline == .seconds(120) && configuration.reloads.isEmpty)
    }

    @Test func reloadMethodsParse() throws {
        let configuration = try AgentConfiguration(toml: """
            signer_url = "https://s.example.com"
            name = "go.eval.example.com"
            [[reload]]
            method = "signal"
            pidfile = "/run/p.pid"
            signal = "USR1"
            [[reload]]
            method = "systemd"
            unit = "p.service"
            [[reload]]
            method = "exec"
            command = ["/bin/true"]
            """)
        #expect(configuration.reloads == [.signal(pidFile: "/run/p.pid", pid: nil, signal: SIGUSR1), .systemd(unit: "p.service"), .exec(command: ["/bin/true"])])
    }

    /// `signer_urls` lists the nodes of a signer cluster, tried in that order.
    @Test func severalSignersAreTriedInOrder() throws {
        let configuration = try AgentConfiguration(toml: "signer_urls = [\"https://a.example.com\", \"https://b.example.com:8443\"]\nname = \"go.eval.example.com\"\n")
        #expect(configuration.signerURLs.map(\.absoluteString) == ["https://a.example.com", "https://b.example.com:8443"])
        #expect(configuration.signerURL.absoluteString == "https://a.example.com")
    }

    @Test("errors name the key", arguments: [
        ("name = \"go.eval.example.com\"", "signer_url"),
        ("signer_url = \"https://s.example.com\"", "name"),
        ("signer_url = \"https://s.example.com\"\nname = \"go.eval.example.com\"\nkey_type = \"ed25519\"", "key_type"),
        ("signer_url = \"https://s.example.com\"\nname = \"go.eval.example.com\"\nport = 0", "port"),
        ("signer_url = \"https://s.example.com\"\nname = \"go.eval.example.com\"\nlabels = [\"Bad Label\"]", "labels"),
        ("signer_url = \"https://s.example.com\"\nname = \"go.eval.example.com\"\n[[reload]]\nmethod = \"signal\"", "reload[0]"),
        ("signer_url = \"https://s.example.com\"\nname = \"go.eval.example.com\"\ncolour = \"blue\"", "colour"),
        ("signer_url = \"https://s.example.com\"\nsigner_urls = [\"https://t.example.com\"]\nname = \"go.eval.example.com\"", "signer_urls"),
        ("signer_urls = []\nname = \"go.eval.example.com\"", "signer_urls"),
        ("signer_urls = [\"https://s.example.com\", \"http://t.example.com\"]\nname = \"go.eval.example.com\"", "loopback only"),
    ])
    func errorsNameTheKey(text: String, key: String) {
        #expect { try AgentConfiguration(toml: text) } throws: { error in
            (error as? AgentError)?.code == .configuration && "\(error)".contains(key)
        }
    }
}
