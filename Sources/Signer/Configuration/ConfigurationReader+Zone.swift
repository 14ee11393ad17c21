import CertificateSupport
import DNSCodec
import DNSServer
import Foundation
import SignerProtocol
import TOMLKit

extension ConfigurationReader {
    func readZone(_ zone: ConfigurationFile.Zone, index: Int, dns: SignerConfiguration.DNSSettings) throws -> SignerConfiguration.ZoneSettings {
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
        let naming = try choice(zone.naming ?? "shared", Naming.self) { fail($0, key: "naming") }
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
        let nameServers = try zone.nameservers.map { spec in
            do {
                let parsed = try NameAndAddresses(parsing: spec)
                return ZoneConfiguration.NameServer(name: parsed.name, ipv4: parsed.ipv4, ipv6: parsed.ipv6)
            } catch let error as DNSServerError {
                throw fail("nameservers entry \(error.message)", key: "nameservers")
            }
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
        var settings = SignerConfiguration.ZoneSettings(
            dns: configuration, subject: subject, names: names, naming: naming,
            concurrency: try choice(zone.concurrency ?? "set", SignerConfiguration.ConcurrencyMode.self) { fail($0, key: "concurrency") },
            maximumValuesPerName: maximum, requireSubjectAlternativeName: zone.require_san ?? true)
        settings.registeredDomain = try registeredDomainRule(zone, origin: origin, fail: fail)
        settings.generatesCAA = zone.caa == nil
        return settings
    }

    /// `registered_domain = "example.com"`, `public_suffix = true`, or neither (the list decides).
    private func registeredDomainRule(
        _ zone: ConfigurationFile.Zone, origin: DNSName, fail: (String, String?) -> SignerError
    ) throws -> SignerConfiguration.RegisteredDomainRule {
        switch (zone.registered_domain, zone.public_suffix ?? false) {
        case (nil, false):
            return .publicSuffixList
        case (nil, true):
            return .zoneIsPublicSuffix
        case (let text?, false):
            let domain = text.lowercased().hasSuffix(".") ? String(text.lowercased().dropLast()) : text.lowercased()
            guard let name = try? DNSName(domain), origin.isSubdomain(of: name), name.labelCount >= 2 else {
                throw fail("registered_domain \"\(text)\" must be the zone or a domain above it, such as example.com", "registered_domain")
            }
            return .fixed(domain)
        case (_?, true):
            throw fail("registered_domain and public_suffix = true contradict each other: keep one", "public_suffix")
        }
    }

    /// `tls = "auto"`: the API's name must be served by one of our zones, and resolve to the
    /// signer's public addresses (the CA and the agents connect there, not to 127.0.0.1).
    func addAPIHost(_ text: String, addresses: [String], to zones: inout [SignerConfiguration.ZoneSettings]) throws {
        guard let name = try? DNSName(text),
              let index = zones.indices.filter({ name.isSubdomain(of: zones[$0].dns.origin) && name != zones[$0].dns.origin })
                  .max(by: { zones[$0].dns.origin.labelCount < zones[$1].dns.origin.labelCount })
        else {
            throw fail("http.tls_auto_name \"\(text)\" is in none of the zones served; pick a name like signer.<zone>", table: "http", key: "tls_auto_name")
        }
        guard !zones[index].dns.hosts.contains(where: { $0.name == name }) else {
            throw fail("http.tls_auto_name \(text) is already a zone name; the API needs a name of its own", table: "http", key: "tls_auto_name")
        }
        let (v4, v6): ([IPv4Address], [IPv6Address])
        do {
            (v4, v6) = try NameAndAddresses.addresses(addresses, in: addresses.joined(separator: ","))
        } catch let error as DNSServerError {
            throw fail("http.tls_auto_addresses \(error.message)", table: "http", key: "tls_auto_addresses")
        }
        guard !addresses.isEmpty else {
            throw fail("http.tls = \"auto\" needs http.tls_auto_addresses: the signer's public addresses, which \(text) will resolve to", table: "http", key: "tls")
        }
        zones[index].dns.hosts.append(.init(name: name, ipv4: v4, ipv6: v6))
    }
}
