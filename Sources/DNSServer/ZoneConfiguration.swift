import DNSCodec

/// One zone this server is authoritative for, as the publisher delegated it (NS + glue).
public struct ZoneConfiguration: Sendable, Hashable {
    /// The delegated zone, for example `eval.example.com`.
    public var origin: DNSName
    /// The zone's name servers, with glue addresses for those inside the zone.
    public var nameServers: [NameServer]
    /// The SOA RNAME: `hostmaster.eval.example.com` stands for hostmaster@eval.example.com.
    public var hostmaster: DNSName
    public var serial: UInt32
    /// The SOA MINIMUM and the TTL of the SOA sent with negative answers (RFC 2308).
    /// Low by default so a name published a moment after a miss is seen soon.
    public var negativeTTL: UInt32
    /// TTL of NS, A, AAAA and CAA records.
    public var recordTTL: UInt32
    /// TTL of the dynamic TXT records (ACME challenges): short, because they live for seconds.
    public var challengeTTL: UInt32
    /// Names sent to fixed addresses, such as the well-known name to 127.0.0.1 and ::1.
    public var hosts: [HostRecord]
    /// CAA records served at the zone apex.
    public var caa: [CAARecord]

    public struct NameServer: Sendable, Hashable {
        public var name: DNSName
        public var ipv4: [IPv4Address]
        public var ipv6: [IPv6Address]
        public init(name: DNSName, ipv4: [IPv4Address] = [], ipv6: [IPv6Address] = []) {
            self.name = name
            self.ipv4 = ipv4
            self.ipv6 = ipv6
        }
    }

    /// A/AAAA for a name, and optionally for every name below it through `*.name`.
    public struct HostRecord: Sendable, Hashable {
        public var name: DNSName
        public var ipv4: [IPv4Address]
        public var ipv6: [IPv6Address]
        /// Also answer `*.name` (RFC 4592), for per-install names under the well-known one.
        public var includesSubdomains: Bool
        public init(name: DNSName, ipv4: [IPv4Address] = [.loopback], ipv6: [IPv6Address] = [.loopback], includesSubdomains: Bool = false) {
            self.name = name
            self.ipv4 = ipv4
            self.ipv6 = ipv6
            self.includesSubdomains = includesSubdomains
        }
    }

    public init(
        origin: DNSName, nameServers: [NameServer], hostmaster: DNSName? = nil, serial: UInt32 = 1,
        negativeTTL: UInt32 = 60, recordTTL: UInt32 = 300, challengeTTL: UInt32 = 10,
        hosts: [HostRecord] = [], caa: [CAARecord] = []
    ) {
        self.origin = origin
        self.nameServers = nameServers
        self.hostmaster = hostmaster ?? ((try? origin.prepending("hostmaster")) ?? origin)
        self.serial = serial
        self.negativeTTL = negativeTTL
        self.recordTTL = recordTTL
        self.challengeTTL = challengeTTL
        self.hosts = hosts
        self.caa = caa
    }

    /// Checks what the types cannot: names inside the zone, glue present where needed.
    public func validate() throws {
        guard !nameServers.isEmpty else {
            throw DNSServerError(.invalidConfiguration, "zone \(origin) has no name server; a delegated zone needs at least one NS")
        }
        for server in nameServers where server.name.isSubdomain(of: origin) && server.ipv4.isEmpty && server.ipv6.isEmpty {
            throw DNSServerError(.invalidConfiguration, "name server \(server.name) is inside zone \(origin) and needs a glue address")
        }
        for host in hosts {
            guard host.name.isSubdomain(of: origin) else {
                throw DNSServerError(.invalidConfiguration, "host \(host.name) is not inside zone \(origin)")
            }
            guard !host.ipv4.isEmpty || !host.ipv6.isEmpty else {
                throw DNSServerError(.invalidConfiguration, "host \(host.name) has no address")
            }
        }
        guard Set(hosts.map(\.name)).count == hosts.count else {
            throw DNSServerError(.invalidConfiguration, "a host name appears twice in zone \(origin)")
        }
    }
}
