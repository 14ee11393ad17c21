#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CertificateSupport
import SignerProtocol

/// Everything the agent runs on: the file (`/etc/csrproxy/agent.toml`), then flags over it.
public struct AgentConfiguration: Sendable {
    /// The signer's base URL, e.g. `https://signer.eval.example.com:8443`; `http://` only on loopback.
    public var signerURL: URL
    /// Further signers of the same zone (`signer_urls`), tried in turn when one cannot be
    /// reached or answers 503: the nodes of a signer cluster.
    public var additionalSignerURLs: [URL] = []
    /// Every signer, in the order they are tried.
    public var signerURLs: [URL] { [signerURL] + additionalSignerURLs }
    /// The well-known name; in per-install mode the certificate is for `<label>.<name>`.
    public var name: String
    public var naming: Naming
    public var keyType: KeyType
    /// Where the key and certificates live (0700): `key.pem`, `cert.pem`, `chain.pem`, `fullchain.pem`.
    public var directory: String
    /// Who owns the files, when the product runs as another user than the agent (root).
    public var owner: String?
    public var group: String?
    public var reloads: [ReloadMethod]
    public var labels: [Label]
    /// The product's HTTPS port, for the browser URL `https://<name>:<port>/`.
    public var productPort: Int
    /// A PEM bundle trusted for the signer's TLS beside the system store.
    public var extraTrustBundle: String?
    /// How long `issue` and `renew` keep trying before giving up.
    public var deadline: Duration
    /// The product and version, sent in the User-Agent.
    public var product: String

    /// How the product learns that new files are in place.
    public enum ReloadMethod: Sendable, Equatable, CustomStringConvertible {
        /// Send `signal` to the process in `pidFile` (or `pid`), checked (see `SignalTarget`):
        /// when `unit` is set, the process must be in that unit's cgroup.
        case signal(pidFile: String?, pid: Int32?, signal: Int32, unit: String? = nil)
        /// `systemctl try-reload-or-restart UNIT`.
        case systemd(unit: String)
        /// Run a command as the product's user, with the file paths in its environment, stopped
        /// after `timeLimit`.
        case exec(command: [String], timeLimit: Duration = .seconds(60))

        public var description: String {
            switch self {
            case .signal(let pidFile, let pid, let signal, _): "signal \(signal) to \(pidFile ?? pid.map(String.init) ?? "?")"
            case .systemd(let unit): "systemctl try-reload-or-restart \(unit)"
            case .exec(let command, _): "exec \(command.joined(separator: " "))"
            }
        }
    }

    public init(
        signerURL: URL, name: String, naming: Naming = .shared, keyType: KeyType = .p256,
        directory: String = "/var/lib/csrproxy/tls", owner: String? = nil, group: String? = nil,
        reloads: [ReloadMethod] = [], labels: [Label] = [], productPort: Int = 443, extraTrustBundle: String? = nil,
        deadline: Duration = .seconds(120), product: String = "csrproxy-agent"
    ) {
        self.signerURL = signerURL
        self.name = name
        self.naming = naming
        self.keyType = keyType
        self.directory = directory
        self.owner = owner
        self.group = group
        self.reloads = reloads
        self.labels = labels
        self.productPort = productPort
        self.extraTrustBundle = extraTrustBundle
        self.deadline = deadline
        self.product = product
    }
}

extension AgentConfiguration {
    /// The signer's URL, checked: `https://` with a host, or `http://` to a loopback address only
    /// (a test signer on this machine): anything else would send the CSR and trust the answer
    /// over a network anyone on the path can change.
    public static func signerURL(_ text: String) throws -> URL {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty else {
            throw AgentError(.configuration, "signer_url must be the signer's https:// URL (got \"\(text)\")")
        }
        switch scheme {
        case "https": return url
        case "http" where isLoopback(host): return url
        case "http": throw AgentError(.configuration, "signer_url \(text) is http://, which is allowed for loopback only; use https://")
        default: throw AgentError(.configuration, "signer_url must be the signer's https:// URL (got \"\(text)\")")
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if bare.lowercased() == "localhost" || bare == "::1" { return true }
        let octets = bare.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { Int($0).map { (0...255).contains($0) } ?? false }
    }
}
