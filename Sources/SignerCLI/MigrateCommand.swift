import ArgumentParser
import CommandLineSupport
import Foundation
import Signer

/// `csrproxy-signer migrate`: creates or updates the shared state's schema in PostgreSQL.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Create or update the shared state's tables in PostgreSQL ([state] backend = \"postgres\").",
        discussion: """
            Applies the schema versions the database does not have yet, each in one transaction, \
            under a lock so that nodes starting together apply none twice. `serve` does the same \
            at start; run this by hand to see it done, or before starting a new signer version. \
            Exits 0 with the versions found and left, 78 when the configuration has no \
            PostgreSQL state, 69 when the database cannot be reached.
            """
    )

    @OptionGroup var configurationFile: ConfigurationOption
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.bootstrap(label: "csrproxy.signer", environment: ProcessInfo.processInfo.environment)
        do {
            let configuration = try SignerConfiguration(contentsOfFile: configurationFile.config)
            let (from, to) = try await SharedStateSchema.migrate(configuration: configuration, logger: logger)
            let what = from == to ? "already at schema version \(to)" : "schema version \(from) -> \(to)"
            FileDescriptorOutput.standardOutput.write("shared state: \(what)\n")
        } catch {
            throw ExitStatus.exit(for: error, configurationPath: configurationFile.config)
        }
    }
}
