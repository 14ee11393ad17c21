import ArgumentParser
import CommandLineSupport
import Foundation
import Signer

/// `csrproxy-signer check-config`: reads the configuration as `serve` would, without serving.
struct CheckConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Check the configuration file and say what is wrong, with the line at fault.",
        discussion: """
            Reads the file as `serve` would: TOML syntax, unknown or misspelt settings, values, \
            the zone table (subjects in RFC 4514 form, names inside their zones, name servers and \
            glue), and the files it names (CA trust roots, the API's TLS certificate and key). \
            Prints a summary and exits 0 when all is well, 78 otherwise. With --budgets it also \
            prints how much of each CA budget the issuance ledger shows spent (new certificates \
            per name set and per registered domain in 7 days, new orders in 3 hours) and when \
            the next one is possible. With secondaries or `mode = "rfc2136"` it also asks the \
            zone's other DNS servers: the external primary must take the update key (an update \
            that changes nothing), every nameserver should send the well-known names to \
            127.0.0.1 and ::1 and serve CAA, and each secondary should answer for the zone; \
            --offline skips these questions. A refused key exits 78, an unreachable primary 69.
            """
    )

    @OptionGroup var configurationFile: ConfigurationOption

    @Flag(help: "Also print the CA budgets spent, from the issuance ledger in the state directory.")
    var budgets = false

    @Flag(help: "Do not ask the secondaries or the external primary anything.")
    var offline = false

    func run() async throws {
        do {
            let configuration = try SignerConfiguration(contentsOfFile: configurationFile.config)
            try configuration.checkReferencedFiles()
            var summary = "\(configurationFile.config): OK\n"
            for ca in configuration.cas {
                summary += "  CA \(ca.name): ACME directory \(ca.directoryURL), account key \(ca.accountKeyPath)\n"
            }
            summary += "  DNS \(Self.describe(configuration.dns)); HTTP on \(configuration.http.listen) (TLS \(Self.describe(configuration.http.tls)))\n"
            for zone in configuration.zones {
                summary += "  zone \(zone.name): subject \(zone.subject), names \(zone.names.joined(separator: ", ")), \(zone.naming.rawValue), \(zone.concurrency.rawValue)\n"
            }
            var warnings = configuration.warnings(configurationPath: configurationFile.config)
            let dnsCheck = DNSDeploymentCheck(configuration: configuration)
            if !offline, dnsCheck.asksOtherServers { warnings += try await dnsCheck.run() }
            for warning in warnings { summary += "  warning: \(warning)\n" }
            if budgets { summary += try BudgetReport.text(for: configuration) }
            FileDescriptorOutput.standardOutput.write(summary)
        } catch {
            throw ExitStatus.exit(for: error, configurationPath: configurationFile.config)
        }
    }

    static func describe(_ dns: SignerConfiguration.DNSSettings) -> String {
        switch dns.mode {
        case .authoritative:
            let secondaries = dns.transfers.secondaries.map { "\($0.address.hostAndPort)" }
            return "on \(dns.listen.map(\.description).joined(separator: ", "))" + (secondaries.isEmpty ? "" : ", secondaries \(secondaries.joined(separator: ", "))")
        case .rfc2136(let settings):
            return "by RFC 2136 on the primary \(settings.primary.hostAndPort) with key \(settings.key.name), checked on \(settings.nameservers.map { $0.hostAndPort }.joined(separator: ", "))"
        }
    }

    static func describe(_ tls: SignerConfiguration.TLSMode) -> String {
        switch tls {
        case .off: "off"
        case .files(let certificate, _): "from \(certificate)"
        case .automatic(let name, let directory): "automatic for \(name), kept in \(directory)"
        }
    }
}
