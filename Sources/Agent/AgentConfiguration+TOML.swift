#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import CertificateSupport
import SignerProtocol
import TOMLKit

/// The agent's TOML file, key for key; decoded strictly so a misspelt key is an error.
struct AgentConfigurationFile: Decodable {
    var signer_url: String?
    var signer_urls: [String]?
    var name: String?
    var naming: String?
    var key_type: String?
    var directory: String?
    var owner: String?
    var group: String?
    var labels: [String]?
    var port: Int?
    var ca_bundle: String?
    var deadline_seconds: Int?
    var product: String?
    var reload: [Reload]?

    struct Reload: Decodable {
        var method: String
        var pidfile: String?
        var pid: Int?
        var signal: String?
        var unit: String?
        var command: [String]?
        var timeout_seconds: Int?
    }
}

extension AgentConfiguration {
    public static let defaultPath = "/etc/csrproxy/agent.toml"

    /// Reads the configuration file; every error names the key at fault.
    public init(toml text: String) throws {
        let file: AgentConfigurationFile
        do {
            file = try TOMLDecoder(strictDecoding: true).decode(AgentConfigurationFile.self, from: text)
        } catch let error as TOMLParseError {
            throw AgentError(.configuration, "line \(error.source.begin.line): not valid TOML: \(error.description)")
        } catch let error as UnexpectedKeysError {
            let key = error.keys.keys.sorted().first ?? "?"
            throw AgentError(.configuration, "unknown setting \(key); check its spelling (see packaging/agent.example.toml)")
        } catch let error as DecodingError {
            throw AgentError(.configuration, Self.describe(error))
        }
        try self.init(file: file)
    }

    /// Reads the file through a checked path: the agent runs as root and does what this file
    /// says (where to write, whom to signal, what to run), so only root may be able to change it.
    public init(contentsOfFile path: String) throws {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let bytes: [UInt8]
        do {
            guard let read = try CheckedPath.read(absolute, limit: 256 * 1024, check: { info in
                guard info.st_mode & 0o022 == 0 else { throw FileRefusal.unsafe("\(absolute) is writable by others; run chmod go-w \(absolute)") }
            }) else {
                throw AgentError(.configuration, "cannot read the configuration \(path); pass --config or create it (see packaging/agent.example.toml)")
            }
            bytes = read
        } catch let error as AgentError where error.code == .unsafeFile {
            throw AgentError(.configuration, "the configuration \(path): \(error.message)")
        }
        do {
            try self.init(toml: String(decoding: bytes, as: UTF8.self))
        } catch let error as AgentError {
            throw AgentError(.configuration, "\(path): \(error.message)")
        }
    }

    init(file: AgentConfigurationFile) throws {
        let urls: [URL]
        switch (file.signer_url, file.signer_urls) {
        case (let one?, nil): urls = [try Self.signerURL(one)]
        case (nil, let several?) where !several.isEmpty && several.count <= 16: urls = try several.map(Self.signerURL)
        case (nil, let several?): throw AgentError(.configuration, "signer_urls must list 1-16 signers (got \(several.count))")
        case (nil, nil): throw AgentError(.configuration, "signer_url must be the signer's https:// URL (got nothing)")
        case (_?, _?): throw AgentError(.configuration, "signer_url and signer_urls are two places for one setting: keep signer_urls")
        }
        let url = urls[0]
        guard let name = file.name?.lowercased(), !name.isEmpty, name.firstIndex(of: "*") == nil, name.firstIndex(of: ".") != nil else {
            throw AgentError(.configuration, "name must be the well-known name, e.g. go.eval.example.com")
        }
        guard let naming = Naming(rawValue: file.naming ?? "shared") else {
            throw AgentError(.configuration, "naming must be \"shared\" or \"per-install\" (got \"\(file.naming!)\")")
        }
        guard let keyType = KeyType(rawValue: file.key_type ?? "p256") else {
            throw AgentError(.configuration, "key_type must be one of \(KeyType.allCases.map(\.rawValue).joined(separator: ", ")) (got \"\(file.key_type!)\")")
        }
        let labels: [Label]
        do {
            labels = try Label.parse(headers: file.labels ?? [])
        } catch {
            throw AgentError(.configuration, "labels: \(error.message)")
        }
        let port = file.port ?? 443
        guard (1...65_535).contains(port) else { throw AgentError(.configuration, "port must be 1-65535 (got \(port))") }
        let deadline = file.deadline_seconds ?? 120
        guard (1...86_400).contains(deadline) else { throw AgentError(.configuration, "deadline_seconds must be 1-86400 (got \(deadline))") }
        let reloads = try (file.reload ?? []).enumerated().map { index, reload in try Self.reloadMethod(reload, index: index) }
        self.init(
            signerURL: url, name: name.hasSuffix(".") ? String(name.dropLast()) : name, naming: naming, keyType: keyType,
            directory: file.directory ?? "/var/lib/csrproxy/tls", owner: file.owner, group: file.group, reloads: reloads,
            labels: labels, productPort: port, extraTrustBundle: file.ca_bundle, deadline: .seconds(deadline),
            product: file.product ?? "csrproxy-agent")
        additionalSignerURLs = Array(urls.dropFirst())
    }

    static func reloadMethod(_ reload: AgentConfigurationFile.Reload, index: Int) throws -> ReloadMethod {
        let place = "reload[\(index)]"
        switch reload.method {
        case "signal":
            guard reload.pidfile != nil || reload.pid != nil else { throw AgentError(.configuration, "\(place).method = \"signal\" needs pidfile or pid") }
            if let pid = reload.pid, !PIDRange.contains(pid) {
                throw AgentError(.configuration, "\(place).pid must be a process id from 2 to \(PIDRange.maximum) (got \(pid))")
            }
            if let pidFile = reload.pidfile, !pidFile.hasPrefix("/") { throw AgentError(.configuration, "\(place).pidfile must be an absolute path (got \"\(pidFile)\")") }
            if let unit = reload.unit, unit.isEmpty || unit.firstIndex(of: "/") != nil { throw AgentError(.configuration, "\(place).unit must be a unit name such as acme-ui.service") }
            return .signal(pidFile: reload.pidfile, pid: reload.pid.map { Int32($0) }, signal: try signalNumber(reload.signal ?? "HUP", place: place), unit: reload.unit)
        case "systemd":
            guard let unit = reload.unit, !unit.isEmpty else { throw AgentError(.configuration, "\(place).method = \"systemd\" needs unit") }
            return .systemd(unit: unit)
        case "exec":
            guard let command = reload.command, !command.isEmpty else { throw AgentError(.configuration, "\(place).method = \"exec\" needs command = [\"program\", \"arg\"...]") }
            let seconds = reload.timeout_seconds ?? 60
            guard (1...600).contains(seconds) else { throw AgentError(.configuration, "\(place).timeout_seconds must be 1-600 (got \(seconds))") }
            return .exec(command: command, timeLimit: .seconds(seconds))
        default:
            throw AgentError(.configuration, "\(place).method must be \"signal\", \"systemd\" or \"exec\" (got \"\(reload.method)\")")
        }
    }

    static func signalNumber(_ name: String, place: String) throws -> Int32 {
        let names: [String: Int32] = ["HUP": SIGHUP, "USR1": SIGUSR1, "USR2": SIGUSR2, "TERM": SIGTERM, "INT": SIGINT]
        let key = name.uppercased().hasPrefix("SIG") ? String(name.uppercased().dropFirst(3)) : name.uppercased()
        guard let number = names[key] else { throw AgentError(.configuration, "\(place).signal must be one of \(names.keys.sorted().joined(separator: ", ")) (got \"\(name)\")") }
        return number
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().drop { $0 == "." }.description
        }
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "\(path(context.codingPath)) has the wrong type"
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])) is missing or has the wrong type"
        @unknown default:
            return "\(error)"
        }
    }
}
