import Agent
import ArgumentParser
import CertificateSupport
import CommandLineSupport
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging

/// The flags every subcommand takes: where the configuration is, overrides, output.
struct AgentOptions: ParsableArguments {
    @Option(name: [.customShort("c"), .long], help: "The agent's TOML configuration.")
    var config = AgentConfiguration.defaultPath

    @Option(help: "Override signer_url: the signer's https:// URL.")
    var signerURL: String?

    @Option(help: "Override directory: where key.pem, cert.pem, chain.pem and fullchain.pem live.")
    var directory: String?

    @Option(help: "Override key_type: p256, rsa2048, rsa3072 or rsa4096.")
    var keyType: String?

    @Option(help: "Override ca_bundle: a PEM bundle trusted for the signer's TLS beside the system store.")
    var caBundle: String?

    @Option(help: "Override deadline_seconds: how long to keep retrying the signer.")
    var deadline: Int?

    @Flag(name: .shortAndLong, help: "Print nothing but errors (for timers).")
    var quiet = false

    @OptionGroup var logging: LoggingOptions

    /// The configuration file with the flags applied over it.
    func configuration() throws -> AgentConfiguration {
        var configuration = try AgentConfiguration(contentsOfFile: config)
        if let signerURL {
            configuration.signerURL = try AgentConfiguration.signerURL(signerURL)
            configuration.additionalSignerURLs = []
        }
        if let directory { configuration.directory = directory }
        if let keyType {
            guard let type = KeyType(rawValue: keyType) else { throw ValidationError("--key-type must be one of \(KeyType.allCases.map(\.rawValue).joined(separator: ", "))") }
            configuration.keyType = type
        }
        if let caBundle { configuration.extraTrustBundle = caBundle }
        if let deadline { configuration.deadline = .seconds(deadline) }
        return configuration
    }

    /// The agent, with logging bootstrapped (once per process) to standard error.
    func makeAgent() throws -> Agent {
        let environment = ProcessInfo.processInfo.environment
        let logger = logging.bootstrap(label: "csrproxy.agent", defaultLevel: .warning, environment: environment)
        return try makeAgent(logger: logger, environment: environment)
    }

    /// The agent with the logger given, logging left as it is.
    func makeAgent(logger: Logger, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Agent {
        let quiet = self.quiet
        return try Agent(configuration: try configuration(), environment: environment, logger: logger) { line in
            if !quiet { FileDescriptorOutput.standardOutput.write("csrproxy-agent: \(TerminalText.clean(line, limit: 2000))\n") }
        }
    }

    func say(_ line: String) {
        if !quiet { FileDescriptorOutput.standardOutput.write(line.split(separator: "\n", omittingEmptySubsequences: false).map { TerminalText.clean(String($0), limit: 2000) }.joined(separator: "\n") + "\n") }
    }
}

extension AgentOptions {
    /// Prints where the files are; a failed reload is an error (exit 75) though the files stay.
    static func report(_ outcome: Agent.Outcome, agent: Agent, options: AgentOptions) throws {
        options.say("csrproxy-agent: done: \(outcome.names.joined(separator: ", ")) until \(outcome.notAfter)")
        options.say("  key        \(agent.files.keyPath)\n  cert       \(agent.files.certificatePath)\n  chain      \(agent.files.chainPath)\n  fullchain  \(agent.files.fullChainPath)")
        guard outcome.reloadFailures.isEmpty else {
            // Exactly what is where: the new files are in place (the product reads them at its
            // next start or reload), and the product still serves what it loaded before.
            throw ExitStatus.exit(for: AgentError(.reloadFailed, """
                the new certificate (serial \(outcome.serial), until \(outcome.notAfter)) is installed in \(agent.files.directory), \
                but reloading the product failed, so it still serves the certificate it had: \(outcome.reloadFailures.joined(separator: "; "))
                """))
        }
    }
}
