import DNSServer
import Foundation
@testable import Signer
import Testing
import TestSupport

struct ConfigurationTests {
    static let minimal = """
        [acme]
        directory_url = "https://ca.example/dir"

        [[zones]]
        zone = "eval.example.com"
        nameservers = ["ns1.eval.example.com=203.0.113.10"]
        subject = "CN=go.eval.example.com"
        names = ["go.eval.example.com"]
        """

    @Test func theShippedExampleIsValid() throws {
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("packaging/signer.example.toml")
        let configuration = try SignerConfiguration(contentsOfFile: example.path)
        #expect(configuration.zones.count == 1)
        #expect(configuration.http.bodyLimitBytes == 16_384)
    }

    /// Budgets default to Let's Encrypt's numbers, and a zone's registered domain to the list.
    @Test func budgetsAndRegisteredDomains() throws {
        let defaults = try SignerConfiguration(toml: Self.minimal)
        #expect(defaults.acme.budgets == SignerConfiguration.Budgets())
        #expect(defaults.acme.budgets.certificatesPerNameSet == 5 && defaults.acme.budgets.certificatesPerRegisteredDomain == 50 && defaults.acme.budgets.orders == 300)
        #expect(defaults.zones[0].registeredDomain == .publicSuffixList)
        let set = try SignerConfiguration(toml: Self.minimal
            .replacingOccurrences(of: #"directory_url = "https://ca.example/dir""#, with: "directory_url = \"https://ca.example/dir\"\nbudget_certificates_per_domain = 7")
            .replacingOccurrences(of: #"names = ["go.eval.example.com"]"#, with: "names = [\"go.eval.example.com\"]\nregistered_domain = \"Example.com.\""))
        #expect(set.acme.budgets.certificatesPerRegisteredDomain == 7)
        #expect(set.zones[0].registeredDomain == .fixed("example.com"))
        let suffix = try SignerConfiguration(toml: Self.minimal.replacingOccurrences(of: #"names = ["go.eval.example.com"]"#, with: "names = [\"go.eval.example.com\"]\npublic_suffix = true"))
        let domains = try RegisteredDomains(zones: suffix.zones)
        #expect(domains.domain(of: "abc.go.eval.example.com", in: suffix.zones[0]) == "go.eval.example.com")
    }

    @Test func defaultsFillWhatIsLeftOut() throws {
        let configuration = try SignerConfiguration(toml: Self.minimal)
        let zone = try #require(configuration.zones.first)
        #expect(zone.naming == .shared && zone.concurrency == .set && zone.maximumValuesPerName == 8 && zone.requireSubjectAlternativeName)
        #expect(zone.dns.hosts.map(\.ipv4.description) == ["[127.0.0.1]"])
        #expect(configuration.dns.negativeTTL == 60)
        #expect(configuration.http.tls == .off)
        #expect(configuration.issuance.deadline == .seconds(60))
        #expect(configuration.http.rateLimit == .init(perMinute: 60, burst: 20))
    }

    /// Each mistake is named, with the line it is on.
    @Test("errors name the line at fault", arguments: [
        (#"directory_url = "https://ca.example/dir""#, #"directory_url = "ftp://x""#, 2, "must be an https:// URL"),
        (#"directory_url = "https://ca.example/dir""#, #"directory_url = "http://ca.example/dir""#, 2, "must be an https:// URL"),
        ("[[zones]]", "[[zones]]\nsubjekt = 1", 5, "unknown setting zones[0].subjekt"),
        (#"subject = "CN=go.eval.example.com""#, #"subject = "XX=go""#, 7, "unknown attribute type"),
        (#"names = ["go.eval.example.com"]"#, #"names = ["go.other.example.com"]"#, 8, "must be a name inside zone"),
        (#"nameservers = ["ns1.eval.example.com=203.0.113.10"]"#, #"nameservers = ["ns1.eval.example.com"]"#, 6, "needs a glue address"),
        (#"names = ["go.eval.example.com"]"#, "names = [\"go.eval.example.com\"]\nnaming = \"private\"", 9, "is not one of \"shared\", \"per-install\""),
        (#"names = ["go.eval.example.com"]"#, "names = [\"go.eval.example.com\"]\ncaa = ['issue x']", 9, "caa entry"),
        (#"directory_url = "https://ca.example/dir""#, "directory_url = \"https://ca.example/dir\"\neab_key_id = \"k\"", 3, "go together"),
        ("[acme]", "[acme\n", 1, "not valid TOML"),
        (#"directory_url = "https://ca.example/dir""#, "directory_url = \"https://ca.example/dir\"\nbudget_orders = -1", 3, "must be 0-1000000"),
        (#"names = ["go.eval.example.com"]"#, "names = [\"go.eval.example.com\"]\nregistered_domain = \"example.org\"", 9, "must be the zone or a domain above it"),
        (#"names = ["go.eval.example.com"]"#, "names = [\"go.eval.example.com\"]\nregistered_domain = \"example.com\"\npublic_suffix = true", 10, "contradict each other"),
    ])
    func errorsNameTheLine(original: String, replacement: String, line: Int, message: String) throws {
        let text = Self.minimal.replacingOccurrences(of: original, with: replacement)
        do {
            _ = try SignerConfiguration(toml: text)
            Issue.record("accepted: \(text)")
        } catch let error as SignerError {
            #expect(error.code == .configuration)
            #expect(error.configurationLine == line, "\(error)")
            #expect(error.message.contains(message), "\(error)")
        }
    }

    /// The EAB MAC key from a file root alone may read; a looser file is refused, and a secret
    /// written in a configuration others can read is warned about.
    @Test func theEABKeyComesFromAFileOnlyItsOwnerReads() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("eab-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let secret = directory.appendingPathComponent("mac.key").path
        try "c2VjcmV0\n".write(toFile: secret, atomically: true, encoding: .utf8)
        let withFile = Self.minimal.replacingOccurrences(of: #"directory_url = "https://ca.example/dir""#, with: "directory_url = \"https://ca.example/dir\"\neab_key_id = \"k\"\neab_mac_key_file = \"\(secret)\"")
        chmod(secret, 0o644)
        #expect { try SignerConfiguration(toml: withFile) } throws: { "\($0)".contains("readable by others") }
        chmod(secret, 0o600)
        #expect(try SignerConfiguration(toml: withFile).acme.externalAccountBinding?.macKey == "c2VjcmV0")

        let inline = Self.minimal.replacingOccurrences(of: #"directory_url = "https://ca.example/dir""#, with: "directory_url = \"https://ca.example/dir\"\neab_key_id = \"k\"\neab_mac_key = \"c2VjcmV0\"")
        let path = directory.appendingPathComponent("signer.toml").path
        try inline.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o644)
        #expect(try SignerConfiguration(contentsOfFile: path).warnings(configurationPath: path).first?.contains("eab_mac_key_file") == true)
        chmod(path, 0o600)
        #expect(try SignerConfiguration(contentsOfFile: path).warnings(configurationPath: path).allSatisfy { !$0.contains("eab_mac_key") })
    }

    /// TSIG secrets come from a file only its owner reads, in base64, at least 16 bytes; a
    /// secondary or update key must name a defined key; rfc2136 needs its primary and key and
    /// takes no secondaries; addresses are IPs, with port 53 unless given.
    @Test func tsigKeysSecondariesAndTheExternalPrimary() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tsig-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let secret = directory.appendingPathComponent("transfer.secret").path
        try Data((0..<32).map { UInt8($0) }).base64EncodedString().write(toFile: secret, atomically: true, encoding: .utf8)
        chmod(secret, 0o600)
        func configuration(dns: String) -> String {
            Self.minimal.replacingOccurrences(of: "[[zones]]", with: """
                [dns]
                \(dns)

                [[tsig_keys]]
                name = "transfer"
                secret_file = "\(secret)"

                [[zones]]
                """)
        }
        let primary = try SignerConfiguration(toml: configuration(dns: #"secondaries = [{ address = "192.0.2.7", key = "transfer" }, { address = "[2001:db8::7]:5300", key = "transfer" }]"#))
        #expect(primary.dns.transfers.secondaries.map(\.address.hostAndPort) == ["192.0.2.7:53", "[2001:db8::7]:5300"])
        #expect(primary.dns.transfers.keys.first?.secret.count == 32)
        #expect("\(primary.dns.transfers)".contains("secret: [") == false, "a key prints without its secret")
        guard case .authoritative = primary.dns.mode else { Issue.record("expected authoritative"); return }

        let external = try SignerConfiguration(toml: configuration(dns: """
            mode = "rfc2136"
            primary = "192.0.2.1:53"
            update_key = "transfer"
            """))
        guard case .rfc2136(let settings) = external.dns.mode else { Issue.record("expected rfc2136"); return }
        #expect(settings.primary.hostAndPort == "192.0.2.1:53" && settings.nameservers.map(\.hostAndPort) == ["192.0.2.1:53"])

        let refused: [(String, String)] = [
            (#"secondaries = [{ address = "ns2.example.net", key = "transfer" }]"#, "is not an IP address"),
            (#"secondaries = [{ address = "192.0.2.7", key = "other" }]"#, "which no [[tsig_keys]] entry defines"),
            (#"mode = "rfc2136""#, "needs dns.primary"),
            ("mode = \"rfc2136\"\nprimary = \"192.0.2.1\"\nupdate_key = \"transfer\"\nsecondaries = [{ address = \"192.0.2.7\", key = \"transfer\" }]", "does not run"),
            (#"primary = "192.0.2.1""#, "only applies with dns.mode"),
            (#"mode = "nsupdate""#, "use \"authoritative\" or \"rfc2136\""),
            ("propagation_timeout_seconds = 0", "between 1 and 600"),
        ]
        for (dns, message) in refused {
            #expect { try SignerConfiguration(toml: configuration(dns: dns)) } throws: { "\($0)".contains(message) }
        }
        chmod(secret, 0o640)
        #expect { try SignerConfiguration(toml: configuration(dns: "")) } throws: { "\($0)".contains("can be read by others") }
        chmod(secret, 0o600)
        try "c2hvcnQ=".write(toFile: secret, atomically: true, encoding: .utf8)
        chmod(secret, 0o600)
        #expect { try SignerConfiguration(toml: configuration(dns: "")) } throws: { "\($0)".contains("at least 32") }
    }

    /// `[state]`: a PostgreSQL URL without a password (that comes from a 0600 file), a socket
    /// directory or a host with TLS required by default; settings that need postgres are refused
    /// with memory, and the shared state does not go with an external primary.
    @Test func theSharedStateSettings() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("state-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let password = directory.appendingPathComponent("db-password").path
        try "s3cret\n".write(toFile: password, atomically: true, encoding: .utf8)
        chmod(password, 0o600)
        func configuration(_ state: String) -> String {
            Self.minimal.replacingOccurrences(of: "[[zones]]", with: "[state]\n\(state)\n\n[[zones]]")
        }
        let socket = try SignerConfiguration(toml: configuration(#"backend = "postgres"\#nurl = "postgresql://csrproxy@/csrproxy?host=/run/postgresql"\#nnode = "ns1""#))
        guard case .postgres(let local) = socket.state.backend else { Issue.record("expected postgres"); return }
        #expect(local.server == .socket(directory: "/run/postgresql", port: 5432) && local.username == "csrproxy" && local.database == "csrproxy")
        #expect(local.node == "ns1" && local.lease == .seconds(120) && local.password == nil)

        let remote = try SignerConfiguration(toml: configuration("backend = \"postgres\"\nurl = \"postgresql://csrproxy@db.example.net:6432/signer\"\npassword_file = \"\(password)\"\nnode = \"ns2\""))
        guard case .postgres(let tcp) = remote.state.backend else { Issue.record("expected postgres"); return }
        #expect(tcp.server == .tcp(host: "db.example.net", port: 6432, requireTLS: true) && tcp.password == "s3cret")
        #expect(tcp.rootCertificatePath == nil)

        // sslrootcert: a private database CA's root, read (and checked to hold PEM) at once.
        let root = directory.appendingPathComponent("database-ca.pem").path
        try TestCertificates.localhostServerIdentity().caPEM.write(toFile: root, atomically: true, encoding: .utf8)
        let privateCA = try SignerConfiguration(toml: configuration("backend = \"postgres\"\nurl = \"postgresql://csrproxy@db.example.net/signer?sslmode=verify-full&sslrootcert=\(root)\""))
        guard case .postgres(let verified) = privateCA.state.backend else { Issue.record("expected postgres"); return }
        #expect(verified.rootCertificatePath == root && verified.server == .tcp(host: "db.example.net", port: 5432, requireTLS: true))

        let refused: [(String, String)] = [
            (#"backend = "postgres"\#nurl = "postgresql://csrproxy:pw@db.example.net/signer""#, "carries a password"),
            (#"backend = "postgres""#, "needs state.url"),
            (#"backend = "postgres"\#nurl = "mysql://csrproxy@db/signer""#, "is not a postgresql:// URL"),
            (#"backend = "postgres"\#nurl = "postgresql://csrproxy@db.example.net/signer?sslmode=prefer""#, "sslmode prefer"),
            (#"backend = "postgres"\#nurl = "postgresql://csrproxy@db.example.net/signer"\#nnode = "ns 1""#, "state.node"),
            (#"backend = "postgres"\#nurl = "postgresql://csrproxy@db.example.net/signer"\#nlease_seconds = 5"#, "lease_seconds"),
            (#"backend = "postgres"\#nurl = "postgresql://csrproxy@db.example.net/signer"\#nnode_lease_seconds = 2"#, "node_lease_seconds must be between 5 and 600"),
            (#"url = "postgresql://csrproxy@db.example.net/signer""#, "only applies with state.backend"),
            (#"node_lease_seconds = 30"#, "state.node_lease_seconds only applies with state.backend"),
            (#"backend = "postgres"\#nurl = "postgresql://csrproxy@db.example.net/signer"\#nlock_timeout_seconds = 0"#, "state.lock_timeout_seconds must be between 1 and 600"),
            (#"idle_in_transaction_timeout_seconds = 5"#, "state.idle_in_transaction_timeout_seconds only applies with state.backend"),
            (#"backend = "etcd""#, "use \"memory\" or \"postgres\""),
            (#"backend = "postgres"\#nurl = "postgresql://csrproxy@db.example.net/signer?sslrootcert=ca.pem""#, "sslrootcert must be an absolute path"),
            ("backend = \"postgres\"\nurl = \"postgresql://csrproxy@db.example.net/signer?sslmode=disable&sslrootcert=\(root)\"", "needs TLS"),
            ("backend = \"postgres\"\nurl = \"postgresql://csrproxy@/signer?host=/run/postgresql&sslrootcert=\(root)\"", "not to a socket directory"),
            ("backend = \"postgres\"\nurl = \"postgresql://csrproxy@db.example.net/signer?sslrootcert=\(password)\"", "cannot be read as PEM certificates"),
            ("backend = \"postgres\"\nurl = \"postgresql://csrproxy@db.example.net/signer?sslrootcert=\(directory.path)/missing.pem\"", "cannot be read"),
        ]
        for (state, message) in refused {
            #expect { try SignerConfiguration(toml: configuration(state)) } throws: { "\($0)".contains(message) }
        }
        chmod(password, 0o644)
        #expect { try SignerConfiguration(toml: configuration("backend = \"postgres\"\nurl = \"postgresql://c@db/s\"\npassword_file = \"\(password)\"")) } throws: {
            "\($0)".contains("can be read by others")
        }
    }

    /// The DNS snippets the README shows are the files the zone transfer and RFC 2136 suites
    /// configure Knot, BIND and NSD with: the README may not drift from what was tested.
    @Test func theREADMEShowsTheDNSSnippetsTheTestsUse() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let directory = root.appendingPathComponent("examples/dns")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".conf") }
        #expect(files.count == 5)
        for file in files {
            let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            #expect(readme.contains(text.trimmingCharacters(in: .newlines)), "README does not show examples/dns/\(file) as it is")
        }
    }

    /// `[[acme]]` lists CAs in the order requests try them; each needs its own name and key.
    /// CAA is generated only when every CA has a caa_identity, and check-config says so.
    @Test func severalCAsAreListedInOrder() throws {
        let zones = Self.minimal[Self.minimal.range(of: "[[zones]]")!.lowerBound...]
        let two = """
            [[acme]]
            name = "le"
            caa_identity = "letsencrypt.org"
            directory_url = "https://acme-v02.api.letsencrypt.org/directory"

            [[acme]]
            name = "zerossl"
            directory_url = "https://acme.zerossl.com/v2/DV90"
            budget_certificates_per_domain = 20

            \(zones)
            """
        let configuration = try SignerConfiguration(toml: two)
        #expect(configuration.cas.map(\.name) == ["le", "zerossl"])
        #expect(configuration.acme.name == "le")
        #expect(configuration.cas[1].accountKeyPath == "/var/lib/csrproxy-signer/acme-account-key-1.pem")
        #expect(configuration.cas[1].budgets.certificatesPerRegisteredDomain == 20 && configuration.cas[0].budgets.certificatesPerRegisteredDomain == 50)
        #expect(configuration.warnings(configurationPath: "/nonexistent").contains { $0.contains("zerossl has no caa_identity") })
        let single = try SignerConfiguration(toml: Self.minimal)
        #expect(single.cas.count == 1 && single.acme.name == "ca.example")

        let sameName = two.replacingOccurrences(of: #"name = "zerossl""#, with: #"name = "le""#)
        #expect { try SignerConfiguration(toml: sameName) } throws: { ($0 as? SignerError)?.configurationLine == 7 && "\($0)".contains("two CAs are called le") }
        let sameKey = two.replacingOccurrences(of: #"name = "zerossl""#, with: "name = \"zerossl\"\naccount_key_path = \"/var/lib/csrproxy-signer/acme-account-key.pem\"")
        #expect { try SignerConfiguration(toml: sameKey) } throws: { "\($0)".contains("share the account key") }
    }

    @Test func aSubjectBelongsToOneZone() {
        let second = """

            [[zones]]
            zone = "example.com"
            nameservers = ["ns1.example.com=203.0.113.11"]
            subject = "cn=GO.eval.example.com"
            names = ["go.eval.example.com"]
            """
        #expect {
            try SignerConfiguration(toml: Self.minimal + second)
        } throws: { error in
            (error as? SignerError)?.configurationLine == 12 && "\(error)".contains("same subject")
        }
    }
}
