import CertificateSupport
import Foundation

/// A `postgresql://` URL as the signer takes it (`[state] url`, `migrate --database-url`):
/// a user, a database, and either a socket directory (`?host=/run/postgresql`) or a host
/// with TLS required unless `sslmode=disable`. Never a password: that comes from a file.
struct DatabaseURL: Sendable, Equatable {
    var server: SignerConfiguration.PostgresSettings.Server
    var username: String
    var database: String
    /// `sslrootcert`: an absolute path, only with TLS.
    var rootCertificatePath: String?

    /// - Parameter setting: how the messages name what was given (`state.url`, `--database-url`).
    init(_ text: String, setting: String) throws {
        func fail(_ message: String) -> SignerError { SignerError(.configuration, "\(setting) \(message)") }
        guard let url = URLComponents(string: text), ["postgresql", "postgres"].contains(url.scheme ?? "") else {
            throw fail("\"\(text)\" is not a postgresql:// URL")
        }
        guard url.password == nil else { throw fail("carries a password; put it in a file of mode 600 instead (state.password_file, --password-file)") }
        guard let user = url.user, !user.isEmpty else { throw fail("names no user (postgresql://USER@...)") }
        let database = String(url.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else { throw fail("names no database (postgresql://user@host/DATABASE)") }
        let query = Dictionary((url.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        for name in query.keys.sorted() where !["host", "port", "sslmode", "sslrootcert"].contains(name) {
            throw fail("parameter \(name) is not supported (host, port, sslmode, sslrootcert are)")
        }
        var port = 5432
        if let given = url.port {
            port = given
        } else if let text = query["port"] {
            guard let given = Int(text), (1...65535).contains(given) else { throw fail("port \(text) is not a port") }
            port = given
        }
        let root = query["sslrootcert"]
        if let socketDirectory = query["host"], socketDirectory.hasPrefix("/") {
            guard root == nil else { throw fail("sslrootcert applies to a TCP connection, not to a socket directory") }
            server = .socket(directory: socketDirectory, port: port)
        } else if let host = url.host ?? query["host"], !host.isEmpty {
            let mode = query["sslmode"] ?? "require"
            guard ["require", "verify-full", "disable"].contains(mode) else { throw fail("sslmode \(mode) is not one of require, verify-full, disable") }
            if let root, mode == "disable" || !root.hasPrefix("/") {
                throw fail("sslrootcert must be an absolute path, and needs TLS (sslmode require or verify-full)")
            }
            server = .tcp(host: host, port: port, requireTLS: mode != "disable")
        } else {
            throw fail("names no host and no socket directory (?host=/run/postgresql)")
        }
        username = user
        self.database = database
        rootCertificatePath = root
    }
}

extension DatabaseURL {
    /// The password in `path`: a file only its owner may read, at most 4 KiB, surrounding
    /// white space dropped.
    static func password(fromFile path: String, setting: String) throws -> String {
        guard let mode = SecureFile.permissions(of: path), let bytes = try? SecureFile.read(path, maximumSize: 4096) else {
            throw SignerError(.configuration, "\(setting) \(path) cannot be read (a file of at most 4096 bytes)")
        }
        guard mode & 0o077 == 0 else {
            throw SignerError(.configuration, "\(setting) \(path) can be read by others (mode \(String(mode, radix: 8))); run chmod 600 \(path)")
        }
        return String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
