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
            throw SignerError(.configuration, "not valid TOML: \(error.description)", configurationLine: error.source.begin.line)
        } catch let error as UnexpectedKeysError {
            guard let (key, keyPath) = error.keys.sorted(by: { $0.key < $1.key }).first else {
                throw SignerError(.configuration, "an unknown setting; check the spelling against the example configuration")
            }
            var path = keyPath
            if path.last?.stringValue == key { path.removeLast() }
            let (table, index) = Self.table(of: path)
            let name = (path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined() + ".\(key)").drop { $0 == "." }
            throw SignerError(.configuration, "unknown setting \(name); check its spelling against the example configuration", configurationLine: locate.line(table: table, index: index, key: key))
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
                return SignerError(.configuration, "\(key.stringValue) in \(name) has the wrong type; see the example configuration", configurationLine: wrongLine)
            }
            return SignerError(.configuration, "\(name) needs the setting \(key.stringValue)", configurationLine: line)
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            let (name, line) = place(Array(context.codingPath.dropLast(context.codingPath.last?.intValue != nil && context.codingPath.count > 2 ? 1 : 0)), key: nil)
            return SignerError(.configuration, "\(name) must be \(Self.tomlName(type))", configurationLine: line)
        case .dataCorrupted(let context):
            let (name, line) = place(context.codingPath, key: nil)
            return SignerError(.configuration, "\(name): \(context.debugDescription)", configurationLine: line)
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
        var warnings: [String] = []
        if cas.contains(where: \.secretInConfiguration), let mode = SecureFile.permissions(of: path), mode & 0o044 != 0 {
            warnings.append("acme.eab_mac_key is a secret in a file others can read (mode \(String(mode, radix: 8))); move it to eab_mac_key_file (mode 600), or run chmod 600 \(path)")
        }
        let unnamed = cas.filter { $0.caaIdentity == nil }.map(\.name)
        if !unnamed.isEmpty, zones.contains(where: \.generatesCAA) {
            warnings.append("no CAA is served for zones without caa, because \(unnamed.joined(separator: ", ")) has no caa_identity; set it (letsencrypt.org for Let's Encrypt) so that only this signer's accounts can issue for the zones")
        }
        return warnings
    }
}
