import CertificateSupport
import DNSCodec
import DNSServer
import Foundation
import NIOCore
import SignerProtocol
import TOMLKit

/// Turns the decoded file into checked values, throwing at the first wrong one with its line.
struct ConfigurationReader {
    let locate: ConfigurationLineLocator

    mutating func read(_ file: ConfigurationFile) throws -> SignerConfiguration {
        let cas = try readCAs(file.acme)
        let keys = try readTSIGKeys(file.tsig_keys ?? [])
        let dns = try readDNS(file.dns, keys: keys)
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
        var configuration = SignerConfiguration(cas: cas, dns: dns, http: http, issuance: .init(deadline: .seconds(deadline)), zones: zones)
        configuration.state = try readState(file.state, deadline: deadline)
        if case .postgres = configuration.state.backend, case .rfc2136 = dns.mode {
            throw fail("state.backend = \"postgres\" shares the values our DNS listeners serve; with dns.mode = \"rfc2136\" the primary holds them already", table: "state", key: "backend")
        }
        return configuration
    }

    /// One or more CAs: names and account keys must differ, or budgets and identities would mix.
    private func readCAs(_ tables: ConfigurationFile.ACMETables) throws -> [SignerConfiguration.ACMESettings] {
        guard !tables.entries.isEmpty else { throw fail("[[acme]] is empty: list at least one CA", table: nil, key: nil) }
        var cas: [SignerConfiguration.ACMESettings] = []
        for (index, entry) in tables.entries.enumerated() {
            let position = tables.isList ? index : nil
            var settings = try readACME(entry, index: position)
            settings.name = entry.name ?? settings.directoryURL.host ?? "ca\(index)"
            if entry.account_key_path == nil, index > 0 {
                settings.accountKeyPath = "/var/lib/csrproxy-signer/acme-account-key-\(index).pem"
            }
            if cas.contains(where: { $0.name == settings.name }) {
                throw fail("two CAs are called \(settings.name); give each a name of its own", table: "acme", index: position, key: "name")
            }
            if cas.contains(where: { $0.accountKeyPath == settings.accountKeyPath }) {
                throw fail("two CAs share the account key \(settings.accountKeyPath); give each its own account_key_path", table: "acme", index: position, key: "account_key_path")
            }
            if let identity = entry.caa_identity, identity.isEmpty || identity.contains(" ") || identity.contains(";") {
                throw fail("acme.caa_identity \"\(identity)\" must be the CA's issuer domain name, such as letsencrypt.org", table: "acme", index: position, key: "caa_identity")
            }
            settings.caaIdentity = entry.caa_identity
            cas.append(settings)
        }
        return cas
    }

    private func readACME(_ acme: ConfigurationFile.ACME, index: Int?) throws -> SignerConfiguration.ACMESettings {
        func fail(_ message: String, table: String?, key: String?) -> SignerError {
            self.fail(message, table: table, index: index, key: key)
        }
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
        func budget(_ key: String, _ value: Int?, otherwise limit: Int) throws -> Int {
            guard let value else { return limit }
            guard (0...1_000_000).contains(value) else {
                throw fail("acme.\(key) must be 0-1000000 (0 stops new certificates)", table: "acme", key: key)
            }
            return value
        }
        var budgets = SignerConfiguration.Budgets()
        budgets.certificatesPerNameSet = try budget("budget_certificates_per_name_set", acme.budget_certificates_per_name_set, otherwise: budgets.certificatesPerNameSet)
        budgets.certificatesPerRegisteredDomain = try budget("budget_certificates_per_domain", acme.budget_certificates_per_domain, otherwise: budgets.certificatesPerRegisteredDomain)
        budgets.orders = try budget("budget_orders", acme.budget_orders, otherwise: budgets.orders)
        var settings = SignerConfiguration.ACMESettings(
            directoryURL: url, contact: acme.contact ?? [],
            accountKeyPath: acme.account_key_path ?? "/var/lib/csrproxy-signer/acme-account-key.pem",
            externalAccountBinding: binding, trustRootPaths: roots,
            trustOnlyListedRoots: acme.trust_only_listed_roots ?? false,
            profile: acme.profile.flatMap { $0.isEmpty ? nil : $0 }, additionalHosts: acme.allowed_hosts ?? [],
            secretInConfiguration: acme.eab_mac_key != nil)
        settings.budgets = budgets
        return settings
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

    /// `[[tsig_keys]]`: each secret in a file only its owner can read, base64 as `keymgr -t`
    /// and `tsig-keygen` print it.
    private func readTSIGKeys(_ entries: [ConfigurationFile.TSIGKey]) throws -> [TSIGKey] {
        var keys: [TSIGKey] = []
        for (index, entry) in entries.enumerated() {
            func fail(_ message: String, _ key: String) -> SignerError { self.fail(message, table: "tsig_keys", index: index, key: key) }
            guard let name = try? DNSName(entry.name), !entry.name.isEmpty else { throw fail("tsig_keys.name \"\(entry.name)\" is not a DNS name", "name") }
            guard !keys.contains(where: { $0.name == name.lowercased }) else { throw fail("two TSIG keys are called \(entry.name)", "name") }
            let algorithmText = entry.algorithm ?? "hmac-sha256"
            guard let algorithm = TSIGKey.Algorithm(rawValue: algorithmText) else {
                throw fail("tsig_keys.algorithm \"\(algorithmText)\" is not one of \(TSIGKey.Algorithm.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))", "algorithm")
            }
            guard let mode = SecureFile.permissions(of: entry.secret_file), let bytes = try? SecureFile.read(entry.secret_file) else {
                throw fail("tsig_keys.secret_file \(entry.secret_file) cannot be read", "secret_file")
            }
            guard mode & 0o077 == 0 else {
                throw fail("tsig_keys.secret_file \(entry.secret_file) can be read by others (mode \(String(mode, radix: 8))); run chmod 600 \(entry.secret_file)", "secret_file")
            }
            let text = String(decoding: bytes.prefix(4096), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard let secret = Data(base64Encoded: text), !secret.isEmpty else {
                throw fail("tsig_keys.secret_file \(entry.secret_file) does not hold a base64 secret (make one with: keymgr -t \(entry.name) \(algorithm.rawValue))", "secret_file")
            }
            do {
                keys.append(try TSIGKey(name: name, algorithm: algorithm, secret: Array(secret)))
            } catch let error as DNSCodecError {
                throw fail("tsig_keys \(entry.name): \(error.message)", "secret_file")
            }
        }
        return keys
    }

    /// `[state]`: memory (the default), or postgres with a libpq-style URL
    /// (`postgresql://user@host:5432/db?sslmode=require`, or `postgresql://user@/db?host=/run/postgresql`
    /// for a socket directory) and the password in its own file.
    private func readState(_ state: ConfigurationFile.State?, deadline: Int) throws -> SignerConfiguration.StateSettings {
        func fail(_ message: String, _ key: String) -> SignerError { self.fail(message, table: "state", key: key) }
        switch state?.backend ?? "memory" {
        case "memory":
            for (key, set) in [("url", state?.url != nil), ("password_file", state?.password_file != nil), ("node", state?.node != nil),
                               ("node_lease_seconds", state?.node_lease_seconds != nil),
                               ("statement_timeout_seconds", state?.statement_timeout_seconds != nil), ("lock_timeout_seconds", state?.lock_timeout_seconds != nil),
                               ("idle_in_transaction_timeout_seconds", state?.idle_in_transaction_timeout_seconds != nil)] where set {
                throw fail("state.\(key) only applies with state.backend = \"postgres\"", key)
            }
            return .init()
        case "postgres":
            guard let text = state?.url else { throw fail("state.backend = \"postgres\" needs state.url, e.g. postgresql://csrproxy@/csrproxy?host=/run/postgresql", "url") }
            let url: DatabaseURL
            var password: String?
            do {
                url = try DatabaseURL(text, setting: "state.url")
                if let root = url.rootCertificatePath { _ = try SignerConfiguration.PostgresSettings.databaseRoots(root) }
            } catch let error as SignerError {
                throw fail(error.message, "url")
            }
            if let path = state?.password_file {
                do {
                    password = try DatabaseURL.password(fromFile: path, setting: "state.password_file")
                } catch let error as SignerError {
                    throw fail(error.message, "password_file")
                }
            }
            let node = state?.node ?? ProcessInfo.processInfo.hostName
            guard !node.isEmpty, node.count <= 64, node.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
                throw fail("state.node \"\(node)\" must be 1-64 letters, digits, '-', '_' or '.'", "node")
            }
            let lease = state?.lease_seconds ?? 2 * deadline
            guard (deadline...7200).contains(lease) else {
                throw fail("state.lease_seconds must be between issuance.deadline_seconds (\(deadline)) and 7200", "lease_seconds")
            }
            let nodeLease = state?.node_lease_seconds ?? 15
            guard (5...600).contains(nodeLease) else { throw fail("state.node_lease_seconds must be between 5 and 600", "node_lease_seconds") }
            var settings = SignerConfiguration.PostgresSettings(
                server: url.server, username: url.username, password: password, database: url.database, node: node, lease: .seconds(lease),
                nodeLease: .seconds(nodeLease))
            settings.rootCertificatePath = url.rootCertificatePath
            for (key, value, keyPath) in [
                ("statement_timeout_seconds", state?.statement_timeout_seconds, \SignerConfiguration.PostgresSettings.statementTimeout),
                ("lock_timeout_seconds", state?.lock_timeout_seconds, \.lockTimeout),
                ("idle_in_transaction_timeout_seconds", state?.idle_in_transaction_timeout_seconds, \.idleInTransactionTimeout),
            ] {
                guard let value else { continue }
                guard (1...600).contains(value) else { throw fail("state.\(key) must be between 1 and 600", key) }
                settings[keyPath: keyPath] = .seconds(value)
            }
            return .init(backend: .postgres(settings))
        case let other:
            throw fail("state.backend is \"\(other)\"; use \"memory\" or \"postgres\"", "backend")
        }
    }

    /// An IP address with an optional port (53): `192.0.2.1`, `192.0.2.1:5300`, `[2001:db8::1]:53`.
    /// Names are not accepted: an address list that DNS could change is no access control.
    private func serverAddress(_ text: String, key: String) throws -> SocketAddress {
        let withPort = text.hasPrefix("[") || text.filter({ $0 == ":" }).count == 1 ? text : (text.contains(":") ? "[\(text)]:53" : "\(text):53")
        guard let parsed = try? ListenAddress(parsing: withPort), let address = try? SocketAddress(ipAddress: parsed.host, port: parsed.port), parsed.port > 0 else {
            throw fail("dns.\(key) entry \"\(text)\" is not an IP address with an optional :PORT", table: "dns", key: key)
        }
        return address
    }

    private func readDNS(_ dns: ConfigurationFile.DNS?, keys: [TSIGKey]) throws -> SignerConfiguration.DNSSettings {
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
        var settings = SignerConfiguration.DNSSettings(
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
        func key(named name: String, setting: String) throws -> TSIGKey {
            guard let dnsName = try? DNSName(name), let key = keys.first(where: { $0.name == dnsName.lowercased }) else {
                throw fail("dns.\(setting) names TSIG key \"\(name)\", which no [[tsig_keys]] entry defines", table: "dns", key: setting)
            }
            return key
        }
        var secondaries: [ZoneTransferPolicy.Secondary] = []
        for entry in dns?.secondaries ?? [] {
            let address = try serverAddress(entry.address, key: "secondaries")
            secondaries.append(ZoneTransferPolicy.Secondary(address: address, keyName: try key(named: entry.key, setting: "secondaries").name))
        }
        settings.transfers = ZoneTransferPolicy(keys: keys, secondaries: secondaries)
        let timeout = dns?.propagation_timeout_seconds ?? 10
        guard (1...600).contains(timeout) else {
            throw fail("dns.propagation_timeout_seconds must be between 1 and 600", table: "dns", key: "propagation_timeout_seconds")
        }
        settings.propagationTimeout = .seconds(timeout)
        switch dns?.mode ?? "authoritative" {
        case "authoritative":
            for setting in [("primary", dns?.primary != nil), ("update_key", dns?.update_key != nil)] where setting.1 {
                throw fail("dns.\(setting.0) only applies with dns.mode = \"rfc2136\"", table: "dns", key: setting.0)
            }
            // The zone's other nameservers that are neither us nor our secondaries: the other
            // signer nodes of a cluster. Each must serve a value before the CA is told to look.
            settings.otherNameservers = try (dns?.nameservers ?? []).map { try serverAddress($0, key: "nameservers") }
        case "rfc2136":
            guard let primaryText = dns?.primary, let keyName = dns?.update_key else {
                throw fail("dns.mode = \"rfc2136\" needs dns.primary (the zone's primary, IP:PORT) and dns.update_key (a [[tsig_keys]] name)", table: "dns", key: "mode")
            }
            guard secondaries.isEmpty else {
                throw fail("dns.secondaries transfer from our own listener, which dns.mode = \"rfc2136\" does not run; list the zone's servers in dns.nameservers", table: "dns", key: "secondaries")
            }
            let primary = try serverAddress(primaryText, key: "primary")
            let nameservers = try (dns?.nameservers ?? [primaryText]).map { try serverAddress($0, key: "nameservers") }
            guard !nameservers.isEmpty else { throw fail("dns.nameservers is empty: list every nameserver of the zone", table: "dns", key: "nameservers") }
            settings.mode = .rfc2136(.init(primary: primary, key: try key(named: keyName, setting: "update_key"), nameservers: nameservers))
        case let other:
            throw fail("dns.mode is \"\(other)\"; use \"authoritative\" or \"rfc2136\"", table: "dns", key: "mode")
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

    func choice<Mode: RawRepresentable & CaseIterable>(_ text: String, _: Mode.Type, fail: (String) -> SignerError) throws -> Mode where Mode.RawValue == String {
        guard let mode = Mode(rawValue: text) else {
            throw fail("\"\(text)\" is not one of \(Mode.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))")
        }
        return mode
    }

    func fail(_ message: String, table: String?, index: Int? = nil, key: String?) -> SignerError {
        SignerError(.configuration, message, configurationLine: locate.line(table: table, index: index, key: key))
    }
}
