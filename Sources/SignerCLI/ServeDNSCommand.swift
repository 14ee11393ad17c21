import ArgumentParser
import CommandLineSupport
import Foundation
import DNSCodec
import DNSServer
import Logging
import ServiceLifecycle

/// `csrproxy-signer serve-dns`: only the authoritative DNS server, configured by flags.
struct ServeDNSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve-dns",
        abstract: "Serve the authoritative DNS for one zone, without the signing API.",
        discussion: """
            For trials, benchmarks and tests. Serves over UDP and TCP on every --listen address:
            SOA and NS at the apex, CAA at the apex when given, A/AAAA for each --host (with *.NAME \
            too under --wildcard), and TXT values given with --txt as the signer would publish them. \
            Names outside the zone are REFUSED. Stops cleanly on SIGINT or SIGTERM.

            Example:
              csrproxy-signer serve-dns --zone eval.example.com --listen 127.0.0.1:5353 \\
                --caa '0 issue "letsencrypt.org"' --txt _acme-challenge.go=test-value
              dig @127.0.0.1 -p 5353 go.eval.example.com A
            """
    )

    @Option(help: "The delegated zone to serve, e.g. eval.example.com.")
    var zone: String

    @Option(name: .customLong("listen"), help: "HOST:PORT to serve on over UDP and TCP; repeatable. Port 0 picks a free port.")
    var listen: [String] = ["127.0.0.1:5353"]

    @Option(name: .customLong("host"), help: "NAME[=ADDRESS,...] answered with A/AAAA; repeatable. Relative names are in the zone. Default: go=127.0.0.1,::1.")
    var hosts: [String] = []

    @Flag(help: "Also answer *.NAME for every --host (per-install names).")
    var wildcard = false

    @Option(name: .customLong("nameserver"), help: "NAME[=ADDRESS,...] of a name server for NS and glue; repeatable. Default: ns=<first --listen address>.")
    var nameServers: [String] = []

    @Option(name: .customLong("caa"), help: "A CAA record at the apex, as FLAGS TAG \"VALUE\"; repeatable.")
    var caa: [String] = []

    @Option(name: .customLong("txt"), help: "NAME=VALUE published as TXT, as an ACME challenge would be; repeatable.")
    var txt: [String] = []

    @Option(help: "SOA MINIMUM: how long resolvers cache a negative answer, in seconds.")
    var negativeTTL: UInt32 = 60

    @Option(help: "TTL of TXT (challenge) records, in seconds.")
    var challengeTTL: UInt32 = 10

    @Option(help: "TTL of NS, A, AAAA and CAA records, in seconds.")
    var recordTTL: UInt32 = 300

    @Option(help: "Seconds a TCP connection may go without completing a query before it is closed.")
    var tcpIdleTimeout: Int64 = 10

    @Option(help: "Most TCP connections open at once.")
    var maxTCPConnections = 256

    @Option(help: "Most TCP connections open at once from one client address.")
    var maxTCPConnectionsPerClient = 16

    @Option(help: "UDP sockets per address (SO_REUSEPORT). Default: one per core.")
    var udpSockets: Int?

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.bootstrap(label: "csrproxy.signer", environment: ProcessInfo.processInfo.environment)
        do {
            let setup = try ServeDNSSetup(self)
            let server = DNSServer(
                configuration: setup.server, store: setup.store, logger: logger,
                onServerRunning: { addresses in
                    FileDescriptorOutput.standardOutput.write("serving DNS for \(setup.zone.origin) on \(addresses.map(\.description).joined(separator: " ")) (udp+tcp)\n")
                })
            let group = ServiceGroup(configuration: .init(
                services: [.init(service: server)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
            try await group.run()
        } catch {
            throw ExitStatus.exit(for: error)
        }
    }
}

/// Turns the flags into configuration values; kept apart from `run` so every flag error
/// surfaces before anything binds.
struct ServeDNSSetup {
    let zone: ZoneConfiguration
    let server: DNSServerConfiguration
    let store: ZoneStore

    init(_ flags: ServeDNSCommand) throws {
        let origin = try DNSName(flags.zone)
        let listen = try flags.listen.map(ListenAddress.init(parsing:))
        let hostSpecs = flags.hosts.isEmpty ? ["go=127.0.0.1,::1"] : flags.hosts
        let hosts = try hostSpecs.map { spec -> ZoneConfiguration.HostRecord in
            let host = try NameAndAddresses(parsing: spec, defaultAddresses: ["127.0.0.1", "::1"]) { try Self.name($0, in: origin) }
            return .init(name: host.name, ipv4: host.ipv4, ipv6: host.ipv6, includesSubdomains: flags.wildcard)
        }
        // An in-zone name server needs glue; the address we listen on is the natural default.
        var defaultGlue: [String] = []
        if let host = listen.first?.host, host != "0.0.0.0", host != "::" { defaultGlue = [host] }
        let serverSpecs = flags.nameServers.isEmpty ? ["ns"] : flags.nameServers
        let nameServers = try serverSpecs.map { spec -> ZoneConfiguration.NameServer in
            let server = try NameAndAddresses(parsing: spec, defaultAddresses: defaultGlue) { try Self.name($0, in: origin) }
            return server.name.isSubdomain(of: origin) ? .init(name: server.name, ipv4: server.ipv4, ipv6: server.ipv6) : .init(name: server.name)
        }
        zone = ZoneConfiguration(
            origin: origin, nameServers: nameServers, negativeTTL: flags.negativeTTL,
            recordTTL: flags.recordTTL, challengeTTL: flags.challengeTTL, hosts: hosts,
            caa: try flags.caa.map(CAARecord.init(presentation:)))
        store = try ZoneStore(zones: [zone])
        for spec in flags.txt {
            guard let equals = spec.firstIndex(of: "=") else {
                throw ValidationError("--txt \(spec) is not NAME=VALUE")
            }
            try store.addTXT(String(spec[spec.index(after: equals)...]), at: Self.name(String(spec[..<equals]), in: origin))
        }
        server = DNSServerConfiguration(
            listenAddresses: listen, tcpIdleTimeout: .seconds(flags.tcpIdleTimeout),
            maximumTCPConnections: flags.maxTCPConnections, maximumTCPConnectionsPerClient: flags.maxTCPConnectionsPerClient,
            udpSocketsPerAddress: flags.udpSockets ?? DNSServerConfiguration().udpSocketsPerAddress)
        try server.validate()
    }

    /// A name as written on the command line: absolute when it ends in a dot or already lies in
    /// the zone, otherwise relative to the zone (`go` is `go.eval.example.com`).
    static func name(_ text: String, in origin: DNSName) throws -> DNSName {
        let name = try DNSName(text)
        if text.hasSuffix(".") || name.isSubdomain(of: origin) { return name }
        return try DNSName(labels: name.labels.map(Array.init) + origin.labels.map(Array.init))
    }
}
