import CertificateSupport
import DNSCodec
import DNSServer
import NIOCore
import Foundation
import SignerProtocol

/// Everything the signer runs on, read from one TOML file (see `SignerConfiguration(toml:)`)
/// and passed down; nothing is read from globals.
public struct SignerConfiguration: Sendable {
    /// The CAs, in the order requests try them; at least one.
    public var cas: [ACMESettings]
    public var dns: DNSSettings
    public var http: HTTPSettings
    public var issuance: IssuanceSettings
    public var state = StateSettings()
    public var zones: [ZoneSettings]

    /// The first CA: the one the API's own certificate comes from, and the state directory's.
    public var acme: ACMESettings { cas[0] }

    public struct ACMESettings: Sendable {
        /// What logs and metrics call this CA (`name`, or the directory's host).
        public var name = ""
        /// The CA's issuer domain name for CAA (`caa_identity`, e.g. `letsencrypt.org`).
        public var caaIdentity: String?
        public var directoryURL: URL
        public var contact: [String]
        /// Created 0600 (in a 0700 directory) on first start, reused after.
        public var accountKeyPath: String
        public var externalAccountBinding: (keyID: String, macKey: String)?
        /// PEM files whose certificates are trusted for the CA's TLS, beside the system store.
        public var trustRootPaths: [String]
        /// Trust only `trustRootPaths` (a private or test CA).
        public var trustOnlyListedRoots: Bool
        /// An ACME profile (draft-ietf-acme-profiles) to order, if the CA offers it.
        public var profile: String?
        /// Hosts besides the directory's that the CA's URLs may name.
        public var additionalHosts: [String] = []
        /// How much of the CA's limits this signer may use.
        public var budgets = Budgets()
        /// The EAB MAC key is written in the configuration itself (not in `eab_mac_key_file`),
        /// so the file must be readable by root alone: `check-config` warns otherwise.
        public var secretInConfiguration = false
    }

    public struct DNSSettings: Sendable {
        public var listen: [ListenAddress]
        public var negativeTTL: UInt32
        public var recordTTL: UInt32
        public var challengeTTL: UInt32
        public var tcpIdleTimeoutSeconds: Int64
        public var maximumTCPConnections: Int
        public var maximumTCPConnectionsPerClient: Int
        public var udpSocketsPerAddress: Int?
        /// Who serves the zones: our own listener (with its secondaries), or an external primary.
        public var mode: DNSMode = .authoritative
        /// TSIG keys and the standard secondaries that transfer the zones from our listener.
        public var transfers = ZoneTransferPolicy()
        /// How long every nameserver has to serve a new challenge value before the order fails.
        public var propagationTimeout: Duration = .seconds(10)
        /// In authoritative mode, the zone's nameservers that are neither this signer nor its
        /// secondaries (the other nodes of a cluster), checked like them before `respond`.
        public var otherNameservers: [SocketAddress] = []
    }

    public enum DNSMode: Sendable {
        /// The signer's listener is the zones' primary, with any `transfers.secondaries`.
        case authoritative
        /// The publisher's primary holds the zone; the signer only adds and deletes its
        /// `_acme-challenge` TXT records there (RFC 2136) and runs no DNS listener.
        case rfc2136(DynamicUpdateSettings)
    }

    public struct DynamicUpdateSettings: Sendable {
        /// Where updates go: the zone's primary.
        public var primary: SocketAddress
        public var key: TSIGKey
        /// Every nameserver of the zone, each of which must serve a value before `respond`.
        public var nameservers: [SocketAddress]
    }

    public struct HTTPSettings: Sendable {
        public var listen: ListenAddress
        public var tls: TLSMode
        /// Peers whose `X-Forwarded-For` is believed (a reverse proxy in front of the signer).
        public var trustedProxies: [String]
        public var bodyLimitBytes: Int
        public var rateLimit: RateLimit
        /// Label keys that become metric labels (`label_<key>`); the others only reach logs.
        public var metricLabelKeys: [String]
        /// The values each of those keys may show in metrics; any other value shows as `other`,
        /// so no requester can add a series.
        public var metricLabelValues: [String: Set<String>] = [:]
        /// Deadlines and connection caps for slow or greedy clients.
        public var limits = ConnectionLimits()
    }

    public enum TLSMode: Sendable, Equatable {
        /// Plain HTTP, for a signer behind a TLS-terminating proxy or on loopback in tests.
        case off
        case files(certificatePath: String, keyPath: String)
        /// The signer obtains and renews the API's certificate for `name`, a name in one of its
        /// zones that its DNS sends to `addresses`, and keeps key and chain in `directory`.
        case automatic(name: String, directory: String)
    }

    /// A token bucket per client address: `burst` requests at once, refilled at `perMinute`.
    public struct RateLimit: Sendable, Equatable {
        public var perMinute: Int
        public var burst: Int
    }

    /// Where the challenge values live: this process alone, or PostgreSQL shared by every
    /// signer node of the zone (each node's DNS then serves every node's values).
    public struct StateSettings: Sendable {
        public enum Backend: Sendable {
            case memory
            case postgres(PostgresSettings)
        }
        public var backend: Backend = .memory
    }

    public struct PostgresSettings: Sendable {
        public enum Server: Sendable, Equatable {
            case socket(directory: String, port: Int)
            case tcp(host: String, port: Int, requireTLS: Bool)
        }
        public var server: Server
        public var username: String
        /// From `password_file`, never from the URL.
        public var password: String?
        public var database: String
        /// This node's name in the shared tables: whose values a restart withdraws.
        public var node: String
        /// How long a value outlives a node that died holding it: other nodes withdraw it then.
        public var lease: Duration
        /// How long this node's name stays taken after the node was last heard of: a second
        /// node with the name is refused until then.
        public var nodeLease: Duration = .seconds(15)
        /// Set on every connection, so a node that stops mid-transaction cannot hold the
        /// others for long: the server ends a statement that runs longer than
        /// `statementTimeout`, a wait for a lock longer than `lockTimeout`, and a session left
        /// idle inside a transaction (its locks with it) after `idleInTransactionTimeout`.
        public var statementTimeout: Duration = .seconds(15)
        /// `sslrootcert`: the PEM file of the CAs the database's certificate must chain to (a
        /// private database CA); nil, the system's roots. The name is checked either way.
        public var rootCertificatePath: String?
        public var lockTimeout: Duration = .seconds(10)
        public var idleInTransactionTimeout: Duration = .seconds(5)
    }

    public struct IssuanceSettings: Sendable {
        /// How long one request may take, from receipt to certificate, before it gets a 503.
        public var deadline: Duration
    }

    /// One row of the zone table: which subject gets which names, served from which zone.
    public struct ZoneSettings: Sendable {
        /// What the DNS server serves for this zone: NS, glue, A/AAAA, CAA.
        public var dns: ZoneConfiguration
        public var subject: DistinguishedNamePattern
        /// The exact SAN set a CSR must carry (in per-install mode, each with the install's label in front).
        public var names: [String]
        public var naming: Naming
        public var concurrency: ConcurrencyMode
        /// TXT values published at one name at once; more orders wait their turn.
        public var maximumValuesPerName: Int
        /// Refuse a CN-only CSR (no SAN) before any CA traffic, with a hint how to add the SAN.
        /// Off: pass it to the CA with the CN as the identifier (Let's Encrypt copies CN into SAN).
        public var requireSubjectAlternativeName: Bool
        /// What the CA counts this zone's names under for its per-domain limit.
        public var registeredDomain: RegisteredDomainRule = .publicSuffixList
        /// No `caa` was set: the signer serves CAA for its own CAs, pinned to its accounts.
        public var generatesCAA = false

        /// The zone's name as people write it, without the root's dot: for logs and metrics.
        public var name: String {
            let text = dns.origin.description
            return text.hasSuffix(".") ? String(text.dropLast()) : text
        }
    }

    /// The share of the CA's limits the signer may spend, checked before any order: Let's
    /// Encrypt's published limits (read 2025) by default. Lower them when other issuers (the
    /// publisher's own sites, another signer) share the registered domain or the account.
    public struct Budgets: Sendable, Equatable {
        /// New certificates per exact set of names, per 7 days (Let's Encrypt: 5).
        public var certificatesPerNameSet = 5
        /// New certificates per registered domain, per 7 days (Let's Encrypt: 50).
        public var certificatesPerRegisteredDomain = 50
        /// New orders per account, per 3 hours (Let's Encrypt: 300).
        public var orders = 300

        public static let certificateWindow: TimeInterval = 7 * 86_400
        public static let orderWindow: TimeInterval = 3 * 3_600
        public init() {}
    }

    /// How a zone's names map to the registered domain a CA counts them under.
    public enum RegisteredDomainRule: Sendable, Equatable {
        /// Looked up in the public suffix list (Debian's `publicsuffix`).
        case publicSuffixList
        /// Every name counts under this domain (`registered_domain = "example.com"`).
        case fixed(String)
        /// The zone is itself a public suffix (`public_suffix = true`), as libp2p.direct is: each
        /// name's label just below the zone makes a registered domain of its own.
        case zoneIsPublicSuffix
    }

    public enum ConcurrencyMode: String, Sendable, CaseIterable {
        /// Orders run at once, each adding and removing its own TXT value.
        case set
        /// One order per zone at a time.
        case lock
    }
}

extension SignerConfiguration {
    /// Checks that the files the configuration names can be used: the CA trust roots parse, the
    /// API's TLS pair loads. The account key may be absent (it is created on first start).
    public func checkReferencedFiles() throws {
        for path in acme.trustRootPaths {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8), text.contains("-----BEGIN CERTIFICATE-----") else {
                throw SignerError(.configuration, "acme.trust_roots file \(path) is missing or holds no PEM certificate")
            }
        }
        if case .postgres(let settings) = state.backend, let path = settings.rootCertificatePath {
            _ = try PostgresSettings.databaseRoots(path)
        }
        if case .files(let certificatePath, let keyPath) = http.tls {
            _ = try loadTLSIdentity(certificatePath: certificatePath, keyPath: keyPath)
        }
    }
}
