/// The TOML file's shape, key for key. Decoded strictly, so a misspelt key is an error rather
/// than a silently ignored setting; turned into `SignerConfiguration` by `SignerConfiguration(toml:)`.
struct ConfigurationFile: Decodable {
    var acme: ACMETables
    var dns: DNS?
    var http: HTTP?
    var issuance: Issuance?
    var state: State?
    var tsig_keys: [TSIGKey]?
    var zones: [Zone]

    /// `[acme]` for one CA, or `[[acme]]` for several, tried in order.
    struct ACMETables: Decodable {
        var entries: [ACME]
        var isList: Bool

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            do {
                entries = try container.decode([ACME].self)
                isList = true
            } catch DecodingError.typeMismatch {
                entries = [try container.decode(ACME.self)]
                isList = false
            }
        }
    }

    struct ACME: Decodable {
        var name: String?
        var caa_identity: String?
        var directory_url: String
        var contact: [String]?
        var account_key_path: String?
        var eab_key_id: String?
        var eab_mac_key: String?
        var eab_mac_key_file: String?
        var allowed_hosts: [String]?
        var trust_roots: [String]?
        var trust_only_listed_roots: Bool?
        var profile: String?
        var budget_certificates_per_name_set: Int?
        var budget_certificates_per_domain: Int?
        var budget_orders: Int?
    }

    struct DNS: Decodable {
        var listen: [String]?
        var negative_ttl: Int?
        var record_ttl: Int?
        var challenge_ttl: Int?
        var tcp_idle_timeout_seconds: Int?
        var max_tcp_connections: Int?
        var max_tcp_connections_per_client: Int?
        var udp_sockets: Int?
        var mode: String?
        var secondaries: [Secondary]?
        var propagation_timeout_seconds: Int?
        var primary: String?
        var update_key: String?
        var nameservers: [String]?
    }

    /// `[[dns.secondaries]]`: a standard secondary that transfers the zones from us.
    struct Secondary: Decodable {
        var address: String
        var key: String
    }

    /// `[[tsig_keys]]`: a shared secret with a secondary or an external primary.
    struct TSIGKey: Decodable {
        var name: String
        var algorithm: String?
        var secret_file: String
    }

    struct HTTP: Decodable {
        var listen: String?
        var tls: String?
        var tls_certificate: String?
        var tls_key: String?
        var tls_auto_name: String?
        var tls_auto_addresses: [String]?
        var tls_auto_directory: String?
        var trusted_proxies: [String]?
        var body_limit_bytes: Int?
        var rate_limit_per_minute: Int?
        var rate_limit_burst: Int?
        var metric_labels: [String]?
        var metric_label_values: [String: [String]]?
        var header_timeout_seconds: Int?
        var body_timeout_seconds: Int?
        var idle_timeout_seconds: Int?
        var max_connections: Int?
        var max_connections_per_client: Int?
    }

    struct Issuance: Decodable {
        var deadline_seconds: Int?
    }

    /// `[state]`: where challenge values live when several signer nodes serve one zone.
    struct State: Decodable {
        var backend: String?
        var url: String?
        var password_file: String?
        var node: String?
        var lease_seconds: Int?
        var node_lease_seconds: Int?
        var statement_timeout_seconds: Int?
        var lock_timeout_seconds: Int?
        var idle_in_transaction_timeout_seconds: Int?
    }

    struct Zone: Decodable {
        var zone: String
        var subject: String
        var names: [String]
        var nameservers: [String]
        var hostmaster: String?
        var ipv4: [String]?
        var ipv6: [String]?
        var caa: [String]?
        var naming: String?
        var concurrency: String?
        var max_values_per_name: Int?
        var require_san: Bool?
        var registered_domain: String?
        var public_suffix: Bool?
    }
}
