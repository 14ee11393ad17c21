import CertificateSupport
import DNSCodec
import DNSServer
import Foundation
import SignerProtocol
import TOMLKit

extension SignerConfiguration {
    /// Reads and checks the whole configuration; the first problem found is thrown as a
    /// `SignerError(.configuration)` naming the setting and, when it can be found, its line.
    public init(toml text: String) throws {
        let locate = ConfigurationLineLocator(text: text)
        let file: ConfigurationFile
        do {
            file = try TOMLDecoder(strictDecoding: true).decode(ConfigurationFile.self, from: text)
        } catch let error as TOMLParseError {
            throw SignerError(.configuration, "not valid TOML: \(error.description)", line: error.source.begin.line)
        } catch let error as UnexpectedKeysError {
            var (key, path) = error.keys.sorted { $0.key < $1.key }.first!
            if path.last?.stringValue == key { path.removeLast() }
            let (table, index) = Self.table(of: path)
            let name = (path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined() + ".\(key)").drop { $0 == "." }
            throw SignerError(.configuration, "unknown setting \(name); check its spelling against the example configuration", line: locate.line(table: table, index: index, key: key))
        } catch let error as DecodingError {
            throw Self.describe(error, locate: locate)
        }
        var reader = ConfigurationReader(locate: locate)
        self = try reader.read(file)
    }

    /// Reads the configuration file at `path`.
    public init(contentsOfFile path: String) throws {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw SignerError(.configuration, "cannot read \(path): \((error as NSError).localizedDescription)")
        }
        try self.init(toml: text)
    }

    private static func table(of keys: [any CodingKey]) -> (String?, Int?) {
        guard let first = keys.first else { return (nil, nil) }
        return (first.stringValue, keys.dropFirst().first?.intValue)
    }

    private static func describe(_ error: DecodingError, locate: ConfigurationLineLocator) -> SignerError {
        func place(_ path: [any CodingKey], key: String?) -> (String, Int?) {
            let (table, index) = table(of: path)
            let name = (path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined() + (key.map { ".\($0)" } ?? "")).drop { $0 == "." }
            let line = path.isEmpty ? nil : locate.line(table: table, index: index, key: key ?? (path.count > 1 && path.last?.intValue == nil ? path.last?.stringValue : nil))
            return (String(name), line)
        }
        switch error {
        case .keyNotFound(let key, let context):
            var path = context.codingPath
            if path.last?.stringValue == key.stringValue { path.removeLast() }
            let (table, index) = table(of: path)
            let line = table.flatMap { locate.line(table: $0, index: index, key: nil) }
            let name = table.map { table in index.map { "[[\(table)]] entry \($0)" } ?? "[\(table)]" } ?? "the file"
            // TOMLKit reports a value of the wrong type as a missing key; tell the two apart.
            if let wrongLine = locate.line(table: table, index: index, key: key.stringValue) {
                return SignerError(.configuration, "\(key.stringValue) in \(name) has the wrong type; see the example configuration", line: wrongLine)
            }
            return SignerError(.configuration, "\(name) needs the setting \(key.stringValue)", line: line)
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            let (name, line) = place(Array(context.codingPath.dropLast(context.codingPath.last?.intValue != nil && context.codingPath.count > 2 ? 1 : 0)), key: nil)
            return SignerError(.configuration, "\(name) must be \(Self.tomlName(type))", line: line)
        case .dataCorrupted(let context):
            let (name, line) = place(context.codingPath, key: nil)
            return SignerError(.configuration, "\(name): \(context.debugDescription)", line: line)
        @unknown default:
            return SignerError(.configuration, "\(error)")
        }
    }

    private static func tomlName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type: "an integer"
        case is Bool.Type: "true or false"
        case is [String].Type: "an array of strings"
        default: "a \(type)"
        }
    }
}

/// Turns the decoded file into checked values, throwing at the first wrong one with its line.
struct ConfigurationReader {
    let locate: ConfigurationLineLocator

    mutating func read(_ file: ConfigurationFile) throws -> SignerConfiguration {
        let acme = try readACME(file.acme)
        let dns = try readDNS(file.dns)
        let http = try readHTTP(file.http)
        let deadline = file.issuance?.deadline_seconds ?? 60
        guard (1...3600).contains(deadline) else {
            throw fail("issuance.deadline_seconds must be between 1 and 3600", table: "issuance", key: "deadline_seconds")
        }
        guard !file.zones.isEmpty else {
            throw fail("no [[zones]] entry: the signer needs at least one zone to serve", table: nil, key: nil)
        }
        var zones: [SignerConfiguration.ZoneSettings] = []
        for (index, zone) in file.zones.enumerated() {
            zones.append(try readZone(zone, index: index, dns: dns))
        }
        if case .automatic(let name, _) = http.tls {
            try addAPIHost(name, addresses: file.http?.tls_auto_addresses ?? [], to: &zones)
        }
        // Each subject must lead to one zone, or a CSR could not be routed.
        for (index, zone) in zones.enumerated() {
            if let earlier = zones[..<index].firstIndex(where: { $0.subject == zone.subject && $0.naming == zone.naming }) {
                throw fail("zones[\(index)] has the same subject as zones[\(earlier)]; each subject belongs to one zone", table: "zones", index: index, key: "subject")
            }
            if let earlier = zones[..<index].firstIndex(where: { $0.dns.origin == zone.dns.origin }) {
                throw fail("zone \(zone.dns.origin) is listed twice (zones[\(earlier)] and zones[\(index)])", table: "zones", index: index, key: "zone")
            }
        }
        return SignerConfiguration(acme: acme, dns: dns, http: http, issuance: .init(deadline: .seconds(deadline)), zones: zones)
    }

    private func readACME(_ acme: ConfigurationFile.ACME) throws -> SignerConfiguration.ACMESettings {
        guard let url = URL(string: acme.directory_url), url.scheme == "https", url.host != nil else {
            throw fail("acme.directory_url \"\(acme.directory_url)\" must be an https:// URL", table: "acme", key: "directory_url")
        }
        if acme.eab_mac_key != nil, acme.eab_mac_key_file != nil {
            throw fail("acme.eab_mac_key and acme.eab_mac_key_file are two places for one secret: keep eab_mac_key_file", table: "acme", key: "eab_mac_key")
        }
        let macKey = try acme.eab_mac_key_file.map(readSecret) ?? acme.eab_mac_key
        var binding: (String, String)?
        switch (acme.eab_key_id, macKey) {
        case (nil, nil): binding = nil
        case (let keyID?, let macKey?): binding = (keyID, macKey)
        default: throw fail("acme.eab_key_id and acme.eab_mac_key_file go together: set both or neither", table: "acme", key: acme.eab_key_id == nil ? "eab_mac_key_file" : "eab_key_id")
        }
        for host in acme.allowed_hosts ?? [] where host.isEmpty || host.contains("/") || host.contains(":") {
            throw fail("acme.allowed_hosts entry \"\(host)\" must be a host name", table: "acme", key: "allowed_hosts")
        }
        for contact in acme.contact ?? [] where !contact.hasPrefix("mailto:") {
            throw fail("acme.contact entry \"\(contact)\" must be a mailto: URL", table: "acme", key: "contact")
        }
        let roots = acme.trust_roots ?? []
        if acme.trust_only_listed_roots == true, roots.isEmpty {
            throw fail("acme.trust_only_listed_roots is true but acme.trust_roots is empty", table: "acme", key: "trust_only_listed_roots")
        }
        return .init(
            directoryURL: url, contact: acme.contact ?? [],
            accountKeyPath: acme.account_key_path ?? "/var/lib/csrproxy-signer/acme-account-key.pem",
            externalAccountBinding: binding, trustRootPaths: roots,
            trustOnlyListedRoots: acme.trust_only_listed_roots ?? false,
            profile: acme.profile.flatMap { $0.isEmpty ? nil : $0 }, additionalHosts: acme.allowed_hosts ?? [],
            secretInConfiguration: acme.eab_mac_key != nil)
    }

    /// A secret from its own file, which only its owner may read.
    private func readSecret(_ path: String) throws -> String {
        guard let mode = SecureFile.permissions(of: path), let bytes = try? SecureFile.read(path) else {
            throw fail("acme.eab_mac_key_file \(path) cannot be read", table: "acme", key: "eab_mac_key_file")
        }
        guard mode & 0o077 == 0 else {
            throw fail("acme.eab_mac_key_file \(path) is readable by others (mode \(String(mode, radix: 8))); run chmod 600 \(path)", table: "acme", key: "eab_mac_key_file")
        }
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty, bytes.count <= 4096 else { throw fail("acme.eab_mac_key_file \(path) holds no key", table: "acme", key: "eab_mac_key_file") }
        return text
    }

    private func readDNS(_ dns: ConfigurationFile.DNS?) throws -> SignerConfiguration.DNSSettings {
        let listen = try (dns?.listen ?? ["0.0.0.0:53"]).map { text in
            do { return try ListenAddress(parsing: text) } catch {
                throw fail("dns.listen entry \"\(text)\" is not HOST:PORT", table: "dns", key: "listen")
            }
        }
        func ttl(_ value: Int?, _ key: String, default fallback: UInt32) throws -> UInt32 {
            guard let value else { return fallback }
            guard (0...86_400).contains(value) else { throw fail("dns.\(key) must be between 0 and 86400 seconds", table: "dns", key: key) }
            return UInt32(value)
        }
        let settings = SignerConfiguration.DNSSettings(
            listen: listen,
            negativeTTL: try ttl(dns?.negative_ttl, "negative_ttl", default: 60),
            recordTTL: try ttl(dns?.record_ttl, "record_ttl", default: 300),
            challengeTTL: try ttl(dns?.challenge_ttl, "challenge_ttl", default: 10),
            tcpIdleTimeoutSeconds: Int64(dns?.tcp_idle_timeout_seconds ?? 10),
            maximumTCPConnections: dns?.max_tcp_connections ?? 256,
            maximumTCPConnectionsPerClient: dns?.max_tcp_connections_per_client ?? 16,
            udpSocketsPerAddress: dns?.udp_sockets)
        do {
            try settings.serverConfiguration.validate()
        } catch let error as DNSServerError {
            throw fail("[dns]: \(error.message)", table: "dns", key: nil)
        }
        return settings
    }

    private func readHTTP(_ http: ConfigurationFile.HTTP?) throws -> SignerConfiguration.HTTPSettings {
        let listenText = http?.listen ?? "0.0.0.0:8443"
        guard let listen = try? ListenAddress(parsing: listenText) else {
            throw fail("http.listen \"\(listenText)\" is not HOST:PORT", table: "http", key: "listen")
        }
        let tls: SignerConfiguration.TLSMode
        switch http?.tls ?? "off" {
        case "off":
            tls = .off
        case "files":
            guard let certificate = http?.tls_certificate, let key = http?.tls_key else {
                throw fail("http.tls = \"files\" needs http.tls_certificate and http.tls_key", table: "http", key: "tls")
            }
            tls = .files(certificatePath: certificate, keyPath: key)
        case "auto":
            guard let name = http?.tls_auto_name, !name.isEmpty else {
                throw fail("http.tls = \"auto\" needs http.tls_auto_name, a name in one of the zones for the API", table: "http", key: "tls")
            }
            tls = .automatic(name: name.lowercased(), directory: http?.tls_auto_directory ?? "/var/lib/csrproxy-signer/api-tls")
        case let other:
            throw fail("http.tls is \"\(other)\"; use \"off\", \"files\" or \"auto\"", table: "http", key: "tls")
        }
        let bodyLimit = http?.body_limit_bytes ?? 16 * 1024
        guard (1024...1 << 20).contains(bodyLimit) else {
            throw fail("http.body_limit_bytes must be between 1024 and 1048576", table: "http", key: "body_limit_bytes")
        }
        let perMinute = http?.rate_limit_per_minute ?? 60
        let burst = http?.rate_limit_burst ?? 20
        guard perMinute > 0 else { throw fail("http.rate_limit_per_minute must be positive", table: "http", key: "rate_limit_per_minute") }
        guard burst > 0 else { throw fail("http.rate_limit_burst must be positive", table: "http", key: "rate_limit_burst") }
        let metricLabels = http?.metric_labels ?? ["product"]
        for key in metricLabels where (try? Label(key: key, value: "x")) == nil {
            throw fail("http.metric_labels entry \"\(key)\" is not a valid label key (a-z, 0-9, _)", table: "http", key: "metric_labels")
        }
        var metricValues: [String: Set<String>] = [:]
        for (key, values) in http?.metric_label_values ?? [:] {
            guard metricLabels.contains(key) else {
                throw fail("http.metric_label_values has \"\(key)\", which is not in metric_labels", table: "http", key: "metric_label_values")
            }
            for value in values where (try? Label(key: key, value: value)) == nil || value == "other" {
                throw fail("http.metric_label_values.\(key) entry \"\(value)\" is not a valid label value", table: "http", key: "metric_label_values")
            }
            guard values.count <= 100 else { throw fail("http.metric_label_values.\(key) lists more than 100 values", table: "http", key: "metric_label_values") }
            metricValues[key] = Set(values)
        }
        var limits = ConnectionLimits()
        func seconds(_ value: Int?, _ key: String, _ fallback: Duration) throws -> Duration {
            guard let value else { return fallback }
            guard (1...3600).contains(value) else { throw fail("http.\(key) must be between 1 and 3600 seconds", table: "http", key: key) }
            return .seconds(value)
        }
        limits.headerTimeout = try seconds(http?.header_timeout_seconds, "header_timeout_seconds", limits.headerTimeout)
        limits.bodyTimeout = try seconds(http?.body_timeout_seconds, "body_timeout_seconds", limits.bodyTimeout)
        limits.idleTimeout = try seconds(http?.idle_timeout_seconds, "idle_timeout_seconds", limits.idleTimeout)
        limits.maximumConnections = http?.max_connections ?? limits.maximumConnections
        limits.maximumConnectionsPerClient = http?.max_connections_per_client ?? limits.maximumConnectionsPerClient
        guard (1...1_000_000).contains(limits.maximumConnections) else { throw fail("http.max_connections must be at least 1", table: "http", key: "max_connections") }
        guard (1...limits.maximumConnections).contains(limits.maximumConnectionsPerClient) else {
            throw fail("http.max_connections_per_client must be between 1 and max_connections", table: "http", key: "max_connections_per_client")
        }
        var settings = SignerConfiguration.HTTPSettings(
            listen: listen, tls: tls, trustedProxies: http?.trusted_proxies ?? [], bodyLimitBytes: bodyLimit,
            rateLimit: .init(perMinute: perMinute, burst: burst), metricLabelKeys: metricLabels, metricLabelValues: metricValues)
        settings.limits = limits
        return settings
    }

    private func readZone(_ zone: ConfigurationFile.Zone, index: Int, dns: SignerConfiguration.DNSSettings) throws -> SignerConfiguration.ZoneSettings {
        func fail(_ message: String, key: String?) -> SignerError {
            self.fail("zones[\(index)]: \(message)", table: "zones", index: index, key: key)
        }
        guard let origin = try? DNSName(zone.zone), origin.labelCount > 0 else {
            throw fail("zone \"\(zone.zone)\" is not a domain name", key: "zone")
        }
        let subject: DistinguishedNamePattern
        do {
            subject = try DistinguishedNamePattern(zone.subject)
        } catch let error as CertificateSupportError {
            throw fail("subject: \(error.message)", key: "subject")
        }
        guard !zone.names.isEmpty else { throw fail("names is empty; list the well-known name(s)", key: "names") }
        var names: [String] = []
        var hosts: [ZoneConfiguration.HostRecord] = []
        let naming = try choice(zone.naming ?? "shared", SignerConfiguration.NamingMode.self) { fail($0, key: "naming") }
        let ipv4 = try (zone.ipv4 ?? ["127.0.0.1"]).map { text in
            guard let address = IPv4Address(text) else { throw fail("ipv4 entry \"\(text)\" is not an IPv4 address", key: "ipv4") }
            return address
        }
        let ipv6 = try (zone.ipv6 ?? ["::1"]).map { text in
            guard let address = IPv6Address(text) else { throw fail("ipv6 entry \"\(text)\" is not an IPv6 address", key: "ipv6") }
            return address
        }
        for text in zone.names {
            guard !text.contains("*"), let name = try? DNSName(text), name.isSubdomain(of: origin), name != origin else {
                throw fail("names entry \"\(text)\" must be a name inside zone \(origin), without wildcards, other than the apex", key: "names")
            }
            let canonical = text.lowercased().hasSuffix(".") ? String(text.lowercased().dropLast()) : text.lowercased()
            if let problem = DNSNameSyntax.problem(with: canonical) { throw fail("names entry: \(problem)", key: "names") }
            names.append(canonical)
            hosts.append(.init(name: name, ipv4: ipv4, ipv6: ipv6, includesSubdomains: naming == .perInstall))
        }
        if subject.commonNames.count > 1 { throw fail("subject has more than one CN", key: "subject") }
        if naming == .shared, let commonName = subject.commonNames.first, !names.contains(commonName) {
            throw fail("the subject's CN \(commonName) is not among names \(names)", key: "subject")
        }
        let nameServers = try zone.nameservers.map { spec -> ZoneConfiguration.NameServer in
            let parts = spec.split(separator: "=", maxSplits: 1).map(String.init)
            guard let name = try? DNSName(parts[0]) else { throw fail("nameservers entry \"\(spec)\" is not NAME[=ADDRESS,...]", key: "nameservers") }
            var v4: [IPv4Address] = []
            var v6: [IPv6Address] = []
            for address in parts.count == 2 ? parts[1].split(separator: ",").map(String.init) : [] {
                if let ip = IPv4Address(address) { v4.append(ip) } else if let ip = IPv6Address(address) { v6.append(ip) } else {
                    throw fail("nameservers entry \"\(spec)\": \(address) is not an IP address", key: "nameservers")
                }
            }
            return .init(name: name, ipv4: v4, ipv6: v6)
        }
        var hostmaster: DNSName?
        if let text = zone.hostmaster {
            guard let name = try? DNSName(text.replacingOccurrences(of: "@", with: ".")) else { throw fail("hostmaster \"\(text)\" is not a mailbox", key: "hostmaster") }
            hostmaster = name
        }
        let caa: [CAARecord] = try (zone.caa ?? []).map { text in
            do { return try CAARecord(presentation: text) } catch {
                throw fail("caa entry '\(text)' is not FLAGS TAG \"VALUE\" (e.g. 0 issue \"letsencrypt.org\")", key: "caa")
            }
        }
        let configuration = ZoneConfiguration(
            origin: origin, nameServers: nameServers, hostmaster: hostmaster, negativeTTL: dns.negativeTTL,
            recordTTL: dns.recordTTL, challengeTTL: dns.challengeTTL, hosts: hosts, caa: caa)
        do {
            try configuration.validate()
        } catch let error as DNSServerError {
            throw fail(error.message, key: "nameservers")
        }
        let maximum = zone.max_values_per_name ?? 8
        // The longest challenge name this zone answers for: per install, a label in front.
        let longest = names.max { $0.utf8.count < $1.utf8.count } ?? origin.description
        let label = naming == .perInstall ? String(repeating: "a", count: PerInstallName.labelLength) + "." : ""
        let fitting = (try? DNSName("_acme-challenge.\(label)\(longest)")).map { ChallengeAnswerSize.valuesFitting(at: $0) } ?? 1
        guard (1...fitting).contains(maximum) else {
            throw fail("max_values_per_name must be between 1 and \(fitting): more TXT values at _acme-challenge.\(label)\(longest) do not fit one \(ChallengeAnswerSize.udpPayload)-byte DNS answer", key: "max_values_per_name")
        }
        return .init(
            dns: configuration, subject: subject, names: names, naming: naming,
            concurrency: try choice(zone.concurrency ?? "set", SignerConfiguration.ConcurrencyMode.self) { fail($0, key: "concurrency") },
            maximumValuesPerName: maximum, requireSubjectAlternativeName: zone.require_san ?? true)
    }

    /// `tls = "auto"`: the API's name must be served by one of our zones, and resolve to the
    /// signer's public addresses (the CA and the agents connect there, not to 127.0.0.1).
    private func addAPIHost(_ text: String, addresses: [String], to zones: inout [SignerConfiguration.ZoneSettings]) throws {
        guard let name = try? DNSName(text),
              let index = zones.indices.filter({ name.isSubdomain(of: zones[$0].dns.origin) && name != zones[$0].dns.origin })
                  .max(by: { zones[$0].dns.origin.labelCount < zones[$1].dns.origin.labelCount })
        else {
            throw fail("http.tls_auto_name \"\(text)\" is in none of the zones served; pick a name like signer.<zone>", table: "http", key: "tls_auto_name")
        }
        guard !zones[index].dns.hosts.contains(where: { $0.name == name }) else {
            throw fail("http.tls_auto_name \(text) is already a zone name; the API needs a name of its own", table: "http", key: "tls_auto_name")
        }
        var v4: [IPv4Address] = []
        var v6: [IPv6Address] = []
        for address in addresses {
            if let ip = IPv4Address(address) { v4.append(ip) } else if let ip = IPv6Address(address) { v6.append(ip) } else {
                throw fail("http.tls_auto_addresses entry \"\(address)\" is not an IP address", table: "http", key: "tls_auto_addresses")
            }
        }
        guard !addresses.isEmpty else {
            throw fail("http.tls = \"auto\" needs http.tls_auto_addresses: the signer's public addresses, which \(text) will resolve to", table: "http", key: "tls")
        }
        zones[index].dns.hosts.append(.init(name: name, ipv4: v4, ipv6: v6))
    }

    private func choice<Mode: RawRepresentable & CaseIterable>(_ text: String, _: Mode.Type, fail: (String) -> SignerError) throws -> Mode where Mode.RawValue == String {
        guard let mode = Mode(rawValue: text) else {
            throw fail("\"\(text)\" is not one of \(Mode.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))")
        }
        return mode
    }

    private func fail(_ message: String, table: String?, index: Int? = nil, key: String?) -> SignerError {
        SignerError(.configuration, message, line: locate.line(table: table, index: index, key: key))
    }
}

extension SignerConfiguration.DNSSettings {
    var serverConfiguration: DNSServerConfiguration {
        DNSServerConfiguration(
            listenAddresses: listen, tcpIdleTimeout: .seconds(tcpIdleTimeoutSeconds),
            maximumTCPConnections: maximumTCPConnections, maximumTCPConnectionsPerClient: maximumTCPConnectionsPerClient,
            udpSocketsPerAddress: udpSocketsPerAddress ?? DNSServerConfiguration().udpSocketsPerAddress)
    }
}

extension SignerConfiguration {
    /// What is allowed but unwise, for `check-config` to say.
    public func warnings(configurationPath path: String) -> [String] {
        guard acme.secretInConfiguration, let mode = SecureFile.permissions(of: path), mode & 0o044 != 0 else { return [] }
        return ["acme.eab_mac_key is a secret in a file others can read (mode \(String(mode, radix: 8))); move it to eab_mac_key_file (mode 600), or run chmod 600 \(path)"]
    }
}
