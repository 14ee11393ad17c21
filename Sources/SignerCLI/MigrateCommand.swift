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
            at start when its role may; run this by hand to see it done, or before starting a new \
            signer version.

            To run the nodes as a role without DDL rights, give the tables' owner with \
            --database-url (and its password with --password-file): the schema is migrated as \
            that role, and the nodes' role ([state] url's user) is granted what a node needs: \
            SELECT, INSERT, UPDATE, DELETE on the csrproxy_* tables, SELECT on csrproxy_schema, \
            USAGE on their sequences and schema. A node that finds the schema behind and may not \
            change it stays not ready, says so, and goes on once this has run.

            Exits 0 with the versions found and left, 78 when the configuration has no \
            PostgreSQL state or the role may not change the schema, 69 when the database cannot \
            be reached.
            """
    )

    @OptionGroup var configurationFile: ConfigurationOption

    @Option(name: .customLong("database-url"), help: ArgumentHelp(
        "Migrate as this role instead of [state] url's, and grant the nodes' role what it needs.",
        valueName: "postgresql://OWNER@host/database"))
    var databaseURL: String?

    @Option(name: .customLong("password-file"), help: ArgumentHelp("The --database-url role's password, in a file of mode 600.", valueName: "path"))
    var passwordFile: String?

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.bootstrap(label: "csrproxy.signer", environment: ProcessInfo.processInfo.environment)
        do {
            let configuration = try SignerConfiguration(contentsOfFile: configurationFile.config)
            let report = try await PostgresSchema.migrate(
                configuration: configuration, administrator: databaseURL, passwordFile: passwordFile, logger: logger)
            let what = report.from == report.to ? "already at schema version \(report.to)" : "schema version \(report.from) -> \(report.to)"
            FileDescriptorOutput.standardOutput.write("shared state: \(what)\n")
            if let role = report.grantedRole {
                FileDescriptorOutput.standardOutput.write("granted role \(role) rows of \(report.grantedObjects.joined(separator: ", "))\n")
            }
        } catch {
            throw ExitStatus.exit(for: error, configurationPath: configurationFile.config)
        }
    }
}
