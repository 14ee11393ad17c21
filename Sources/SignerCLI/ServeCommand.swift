import ArgumentParser
import CommandLineSupport
import Foundation
import Hummingbird
import Logging
import Signer

/// `csrproxy-signer serve`: DNS, ACME and the HTTP API from one configuration file.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the signer: the zone's DNS server and the CSR signing API.",
        discussion: """
            Serves DNS for every [[zones]] entry on dns.listen (UDP and TCP) and the API on \
            http.listen: POST /v1/sign (a PEM CSR in, the PEM chain out), GET /v1/renewal-info, \
            /healthz, /readyz and /metrics. Registers the ACME account at start (creating its key, \
            0600, on the first run) and keeps retrying while the CA is unreachable.

            With [dns] secondaries it is their primary: zone transfers (TSIG-signed, to their \
            addresses only) and a NOTIFY on every change. With [dns] mode = "rfc2136" it runs no \
            DNS listener and publishes challenges on the zone's own primary instead. Either way \
            a challenge goes to the CA only once every nameserver of the zone serves it.

            Once both listeners are bound it prints one line to standard output:
              csrproxy-signer listening: http=HOST:PORT dns=HOST:PORT (udp+tcp)
            (dns=rfc2136 in that mode). Stops cleanly on SIGTERM or SIGINT.

            SIGHUP (systemctl reload) reads the file again and applies the zone table, each \
            zone's records (the serial moves on; secondaries get a NOTIFY), the secondaries and \
            TSIG keys, and the CA budgets to new requests; requests in flight finish as they began. A file that does not read, or \
            that changes what needs a restart (listeners, CAs, [http], [issuance], [state], the \
            set of zones), changes nothing, and the log says why.
            """
    )

    @OptionGroup var configurationFile: ConfigurationOption
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.bootstrap(label: "csrproxy.signer", environment: ProcessInfo.processInfo.environment)
        do {
            let configuration = try SignerConfiguration(contentsOfFile: configurationFile.config)
            let application = try buildSigner(configuration: configuration, configurationPath: configurationFile.config, logger: logger) { addresses in
                let dns = addresses.dns.map(\.description).joined(separator: ",")
                let line = dns.isEmpty ? "dns=rfc2136" : "dns=\(dns) (udp+tcp)"
                FileDescriptorOutput.standardOutput.write("csrproxy-signer listening: http=\(addresses.http) \(line)\n")
            }
            try await application.runService()
        } catch {
            throw ExitStatus.exit(for: error, configurationPath: configurationFile.config)
        }
    }
}
