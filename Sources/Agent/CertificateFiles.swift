#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import CertificateSupport
import SwiftASN1
import X509

/// The agent's directory, laid out so a product always reads a key and a certificate that
/// belong together whenever the agent is stopped (certbot's archive/live idea), and so that the
/// product's user cannot steer the agent, which runs as root:
///
///     key.pem, cert.pem, chain.pem, fullchain.pem  -> live/<same name>  (stable paths for products)
///     live                                         -> archive/<version> (swapped by one rename)
///     archive/<version>/{key,cert,chain,fullchain}.pem                  (written once, never changed)
///     state/{pending-key.pem,renewal-info.json,state.json}  root only, 0700: the agent's own
///
/// Everything belongs to root. With a product group (`group`, or `owner`'s group) directories
/// are 0750 root:GROUP and the key 0640 root:GROUP, so the product reads through its group and
/// writes nothing; without one, 0700 and 0600. Every access goes through `CheckedDirectory`.
public struct CertificateFiles: Sendable {
    public let directory: String
    /// The group whose members (the product) may read the files; nil: root only.
    let productGroup: gid_t?
    /// The product's user, which owned the whole directory in the layout before this one.
    let productUser: uid_t?

    public static let stableNames = ["key.pem", "cert.pem", "chain.pem", "fullchain.pem"]
    /// Bounds for what is read back: a PEM key or chain is a few KiB.
    static let fileLimit = 256 * 1024

    public init(directory: String, productGroup: gid_t? = nil, productUser: uid_t? = nil) {
        self.directory = directory
        self.productGroup = productGroup
        self.productUser = productUser
    }

    public var keyPath: String { "\(directory)/key.pem" }
    public var certificatePath: String { "\(directory)/cert.pem" }
    public var chainPath: String { "\(directory)/chain.pem" }
    public var fullChainPath: String { "\(directory)/fullchain.pem" }

    var directoryMode: mode_t { productGroup == nil ? 0o700 : 0o750 }
    var keyMode: mode_t { productGroup == nil ? 0o600 : 0o640 }

    // MARK: Opening

    /// The top directory, checked; nil when absent. With `prepare` it is made when absent, an
    /// earlier layout is taken over (see `CertificateFiles+Migration`), and modes are corrected.
    func top(prepare: Bool) throws -> CheckedDirectory? {
        guard let (parent, name) = try CheckedPath.parent(of: directory, createMissing: prepare), !name.isEmpty else { return nil }
        if let info = try parent.entry(name), !CheckedDirectory.isTrusted(owner: info.st_uid), info.st_mode & S_IFMT == S_IFDIR,
           let productUser, info.st_uid == productUser {
            guard prepare else {
                throw FileRefusal.unsafe("\(directory) still has the layout of an earlier version, owned by the product's user; `csrproxy-agent renew` (as root) moves it to the new one")
            }
            return try takeOver(name, in: parent, from: productUser)
        }
        return try parent.subdirectory(name, create: prepare, mode: prepare ? directoryMode : nil, group: prepare ? productGroup : nil)
    }

    /// Moves an install of the earlier layout to this one now, if there is one.
    func migrateEarlierLayout() throws {
        _ = try top(prepare: CheckedPath.exists(directory))
    }

    /// The agent's private directory, made when absent.
    func stateDirectory(in top: CheckedDirectory) throws -> CheckedDirectory {
        guard let state = try top.subdirectory("state", create: true, mode: 0o700) else { throw FileRefusal.unsafe("\(directory)/state cannot be made") }
        return state
    }

    /// The version `live` points at; nil when nothing is installed.
    func installedVersion() throws -> CheckedDirectory? {
        guard let top = try top(prepare: false), let live = try top.readLink("live") else { return nil }
        guard live.hasPrefix("archive/"), let version = Optional(String(live.dropFirst("archive/".count))), Self.isVersionName(version) else {
            throw FileRefusal.unsafe("\(directory)/live points at \(live), not at archive/<version>")
        }
        return try top.subdirectory("archive")?.subdirectory(version)
    }

    // MARK: Reading

    /// The installed key, or nil when none is installed. A key others can read is refused.
    public func installedKey() throws -> Certificate.PrivateKey? {
        guard let version = try installedVersion() else { return nil }
        return try readKey("key.pem", in: version)
    }

    /// The key waiting for its first certificate, if an earlier request was not answered.
    func pendingKey() throws -> Certificate.PrivateKey? {
        guard let top = try top(prepare: false), let state = try top.subdirectory("state") else { return nil }
        return try readKey("pending-key.pem", in: state)
    }

    /// The installed chain, leaf first, or nil when none is installed.
    public func installedChain() throws -> [Certificate]? {
        guard let version = try installedVersion(), let bytes = try version.read("fullchain.pem", limit: Self.fileLimit) else { return nil }
        do {
            return try PEMDocument.parseMultiple(pemString: String(decoding: bytes, as: UTF8.self)).map { try Certificate(pemDocument: $0) }
        } catch {
            throw AgentError(.badAnswer, "\(version.path)/fullchain.pem does not parse: \(error)")
        }
    }

    /// One of the agent's own small files in `state/` (the renewal cache, the state); nil when absent or unusable.
    func readStateFile(_ name: String) -> [UInt8]? {
        guard let top = try? top(prepare: false), let state = try? top.subdirectory("state") else { return nil }
        return try? state.read(name, limit: 64 * 1024)
    }

    private func readKey(_ name: String, in directory: CheckedDirectory) throws -> Certificate.PrivateKey? {
        let path = "\(directory.path)/\(name)"
        guard let bytes = try directory.read(name, limit: Self.fileLimit, check: { info in
            let mode = info.st_mode & 0o777
            let groupMayRead = productGroup.map { info.st_gid == $0 } ?? false
            guard mode & 0o077 == 0 || (groupMayRead && mode & 0o037 == 0) else {
                throw AgentError(.insecureKey, "the key \(path) is readable by others (mode \(String(mode, radix: 8)), group \(info.st_gid)); run chmod 600 \(path), or remove it to make a new key")
            }
        }) else { return nil }
        do {
            return try Certificate.PrivateKey(pemEncoded: String(decoding: bytes, as: UTF8.self))
        } catch {
            throw AgentError(.insecureKey, "the key \(path) cannot be read (\(error)); remove it to make a new key")
        }
    }

    // MARK: Writing

    /// Keeps a new key before it is sent for (so a retried `issue` asks for the same name).
    func storePendingKey(_ key: Certificate.PrivateKey) throws {
        guard let top = try top(prepare: true) else { throw FileRefusal.unsafe("\(directory) cannot be made") }
        try stateDirectory(in: top).write(Array((try key.serializeAsPEM().pemString + "\n").utf8), to: "pending-key.pem", mode: 0o600)
    }

    /// Writes one of the agent's own small files in `state/`, 0600 root.
    func writeStateFile(_ bytes: [UInt8], to name: String) throws {
        guard let top = try top(prepare: true) else { throw FileRefusal.unsafe("\(directory) cannot be made") }
        try stateDirectory(in: top).write(bytes, to: name, mode: 0o600)
    }

    /// Installs key and chain as a new version, then points `live` at it with one rename.
    /// The previous version is kept; older ones are removed.
    public func install(key: Certificate.PrivateKey, chain: [Certificate]) throws {
        guard let top = try top(prepare: true),
              let archive = try top.subdirectory("archive", create: true, mode: directoryMode, group: productGroup)
        else { throw FileRefusal.unsafe("\(directory) cannot be made") }
        let serial = chain[0].serialNumber.description.filter { $0.isHexDigit }.prefix(16)
        let version = "\(Int(Date().timeIntervalSince1970 * 1000))-\(serial)"
        guard let target = try archive.subdirectory(version, create: true, mode: directoryMode, group: productGroup) else {
            throw FileRefusal.unsafe("\(archive.path)/\(version) cannot be made")
        }
        let pem = try chain.map { try $0.serializeAsPEM().pemString + "\n" }
        try target.write(Array((try key.serializeAsPEM().pemString + "\n").utf8), to: "key.pem", mode: keyMode, group: productGroup)
        try target.write(Array(pem[0].utf8), to: "cert.pem", mode: 0o644, group: productGroup)
        try target.write(Array(pem.dropFirst().joined().utf8), to: "chain.pem", mode: 0o644, group: productGroup)
        try target.write(Array(pem.joined().utf8), to: "fullchain.pem", mode: 0o644, group: productGroup)
        // The stable names point through `live`, so they all change in the one rename below.
        for name in Self.stableNames where (try? top.readLink(name)) != "live/\(name)" {
            try top.replaceLink(name, target: "live/\(name)")
        }
        try top.replaceLink("live", target: "archive/\(version)")
        try stateDirectory(in: top).remove("pending-key.pem")  // installed now; absent is fine
        try pruneArchive(archive, keeping: version)
    }

    /// Removes all but the two newest versions. Only what the agent made is touched: directories
    /// with a version's name owned by root, and in them the four files, when they are root's.
    private func pruneArchive(_ archive: CheckedDirectory, keeping current: String) throws {
        let versions = try archive.entries().filter { entry in
            entry.info.st_mode & S_IFMT == S_IFDIR && CheckedDirectory.isTrusted(owner: entry.info.st_uid) && Self.isVersionName(entry.name)
        }.map(\.name)
        // Version names start with milliseconds, so sorting them by that number sorts by age.
        let sorted = versions.sorted { (Int($0.prefix { $0 != "-" }) ?? 0) < (Int($1.prefix { $0 != "-" }) ?? 0) }
        for old in sorted.dropLast(2) where old != current {
            guard let directory = try? archive.subdirectory(old) else { continue }
            for name in Self.stableNames {
                guard let info = try? directory.entry(name), info.st_mode & S_IFMT == S_IFREG, CheckedDirectory.isTrusted(owner: info.st_uid) else { continue }
                directory.remove(name)
            }
            archive.remove(old, directory: true)  // fails, harmlessly, if anything else is in it
        }
    }

    /// `<milliseconds>-<hex serial prefix>`, as `install` names versions.
    static func isVersionName(_ name: String) -> Bool {
        let parts = name.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        return name.count <= 64 && parts.count == 2 && !parts[0].isEmpty && parts[0].allSatisfy(\.isASCII) && parts[0].allSatisfy(\.isNumber)
            && parts[1].allSatisfy { $0.isASCII && $0.isHexDigit }
    }
}
