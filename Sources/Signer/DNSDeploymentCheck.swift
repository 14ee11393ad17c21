import DNSCodec
import DNSServer
import NIOCore

/// What `check-config` asks the zone's other DNS servers, so a deployment with secondaries or
/// an external primary is found broken before the first install is: the external primary
/// takes our TSIG key for updates, and every nameserver serves the well-known names at
/// loopback and the zone's CAA; each secondary answers for the zone.
public struct DNSDeploymentCheck: Sendable {
    let configuration: SignerConfiguration
    let exchange = DNSExchange()
    static let timeout = TimeAmount.seconds(2)

    public init(configuration: SignerConfiguration) {
        self.configuration = configuration
    }

    /// Whether there is anything to ask: the signer alone needs no network check.
    public var asksOtherServers: Bool {
        if case .rfc2136 = configuration.dns.mode { return true }
        return !configuration.dns.transfers.secondaries.isEmpty
    }

    /// Throws what makes the deployment unusable (the primary refuses our key or cannot be
    /// reached); returns warnings for what is merely missing or unwise.
    public func run() async throws -> [String] {
        switch configuration.dns.mode {
        case .authoritative:
            return await secondaryWarnings()
        case .rfc2136(let settings):
            try await checkUpdateKey(settings)
            return await zoneDataWarnings(nameservers: settings.nameservers)
        }
    }

    /// An UPDATE that changes nothing (its one prerequisite: the zone's apex exists), signed
    /// with our key: the primary checks the key and the update permission and leaves the zone
    /// as it was.
    private func checkUpdateKey(_ settings: SignerConfiguration.DynamicUpdateSettings) async throws {
        let store = DynamicUpdateStore(settings: settings, origins: configuration.zones.map(\.dns.origin), challengeTTL: configuration.dns.challengeTTL)
        for zone in configuration.zones {
            do {
                try await store.probeUpdatePermission(zone.dns.origin)
            } catch let error as SignerError {
                throw SignerError(.configuration, "[dns] update_key: \(error.message)")
            }
        }
    }

    private func secondaryWarnings() async -> [String] {
        var warnings: [String] = []
        for secondary in configuration.dns.transfers.secondaries {
            for zone in configuration.zones {
                let soa = try? await ask(secondary.address, zone.dns.origin, .soa)
                if soa?.header.isAuthoritative != true || soa?.responseCode != .noError {
                    warnings.append("secondary \(secondary.address.hostAndPort) does not answer for \(zone.name) yet; it will once the signer runs and it has transferred the zone (configure it with examples/dns/)")
                }
            }
        }
        return warnings
    }

    /// Every nameserver should send the zone's well-known names to loopback and serve CAA:
    /// with an external primary those records are the publisher's to keep.
    private func zoneDataWarnings(nameservers: [SocketAddress]) async -> [String] {
        var warnings: [String] = []
        for server in nameservers {
            for zone in configuration.zones {
                for name in zone.names {
                    let asked = zone.naming == .perInstall ? "check-label.\(name)" : name
                    guard let dnsName = try? DNSName(asked) else { continue }
                    let a = (try? await ask(server, dnsName, .a))?.answers.compactMap { record -> String? in
                        if case .a(let address) = record.data { return "\(address)" } else { return nil }
                    } ?? []
                    let aaaa = (try? await ask(server, dnsName, .aaaa))?.answers.compactMap { record -> String? in
                        if case .aaaa(let address) = record.data { return "\(address)" } else { return nil }
                    } ?? []
                    if a.isEmpty && aaaa.isEmpty {
                        warnings.append("\(server.hostAndPort) has no A or AAAA for \(asked); the browser cannot reach the product by name (add \(zone.naming == .perInstall ? "*." + name : name) A 127.0.0.1 and AAAA ::1)")
                    } else if a.contains(where: { $0 != "127.0.0.1" }) || aaaa.contains(where: { $0 != "::1" }) {
                        warnings.append("\(server.hostAndPort) sends \(asked) to \((a + aaaa).joined(separator: ", ")), not to 127.0.0.1 and ::1")
                    }
                }
                let caa = try? await ask(server, zone.dns.origin, .caa)
                if caa?.answers.contains(where: { $0.type == .caa }) != true {
                    warnings.append("\(server.hostAndPort) serves no CAA for \(zone.name); add issue records for your CA (with validationmethods=dns-01) so no other CA issues for the zone")
                }
            }
        }
        return warnings
    }

    private func ask(_ server: SocketAddress, _ name: DNSName, _ type: DNSRecordType) async throws -> DNSMessage {
        let query = DNSMessage(header: DNSHeader(id: UInt16.random(in: 0...UInt16.max)), questions: [DNSQuestion(name: name, type: type)])
        return try DNSMessage(parsing: ByteBuffer(bytes: try await exchange.udp(try query.serialized(), to: server, timeout: Self.timeout)))
    }
}
