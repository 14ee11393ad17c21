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
/// belong together, whenever the agent is stopped (certbot's archive/live idea):
///
///     key.pem, cert.pem, chain.pem, fullchain.pem   -> live/<same name>   (stable paths for products)
///     live                                          -> archive/<version>  (swapped by one rename)
///     archive/<version>/{key,cert,chain,fullchain}.pem                    (written, fsynced, never changed)
///     pending-key.pem                               a key made for a request not answered yet
///     renewal-info.json, state.json                 the renewal window cache, the last outcome
///
/// Every file is written with `SecureFile` (temporary file, fsync, rename, fsync directory);
/// the directory is 0700, keys 0600.
public struct CertificateFiles: Sendable {
    public let directory: String

    public static let stableNames = ["key.pem", "cert.pem", "chain.pem", "fullchain.pem"]

    public init(directory: String) {
        self.directory = directory
    }

    public var keyPath: String { "\(directory)/key.pem" }
    public var certificatePath: String { "\(directory)/cert.pem" }
    public var chainPath: String { "\(directory)/chain.pem" }
    public var fullChainPath: String { "\(directory)/fullchain.pem" }
    var pendingKeyPath: String { "\(directory)/pending-key.pem" }
    var renewalCachePath: String { "\(directory)/renewal-info.json" }
    var statePath: String { "\(directory)/state.json" }

    // MARK: Reading

    /// The installed key, or nil when none is installed. A key others can read is refused.
    public func installedKey() throws -> Certificate.PrivateKey? {
        try readKey(at: keyPath)
    }

    /// The key waiting for its first certificate, if an earlier request was not answered.
    func pendingKey() throws -> Certificate.PrivateKey? {
        try readKey(at: pendingKeyPath)
    }

    /// The installed chain, leaf first, or nil when none is installed.
    public func installedChain() throws -> [Certificate]? {
        guard SecureFile.permissions(of: fullChainPath) != nil else { return nil }
        let text: String
        do {
            text = String(decoding: try SecureFile.read(fullChainPath), as: UTF8.self)
        } catch {
            throw AgentError(.cannotWrite, "cannot read \(fullChainPath): \(error)")
        }
        do {
            return try PEMDocument.parseMultiple(pemString: text).map { try Certificate(pemDocument: $0) }
        } catch {
            throw AgentError(.badAnswer, "\(fullChainPath) does not parse: \(error)")
        }
    }

    private func readKey(at path: String) throws -> Certificate.PrivateKey? {
        guard let mode = SecureFile.permissions(of: path) else { return nil }
        guard mode & 0o077 == 0 else {
            throw AgentError(.insecureKey, "the key \(path) is readable by others (mode \(String(mode, radix: 8))); run chmod 600 \(path), or remove it to make a new key")
        }
        do {
            return try Certificate.PrivateKey(pemEncoded: String(decoding: try SecureFile.read(path), as: UTF8.self))
        } catch {
            throw AgentError(.insecureKey, "the key \(path) cannot be read (\(error)); remove it to make a new key")
        }
    }

    // MARK: Writing

    /// Keeps a new key before it is sent for (so a retried `issue` asks for the same name).
    func storePendingKey(_ key: Certificate.PrivateKey, owner: FileOwner?) throws {
        try write(try key.serializeAsPEM().pemString + "\n", to: pendingKeyPath, mode: 0o600, owner: owner)
    }

    /// Installs key and chain as a new version, then points `live` at it with one rename.
    /// The previous version is kept; older ones are removed.
    public func install(key: Certificate.PrivateKey, chain: [Certificate], owner: FileOwner?) throws {
        try createDirectory(directory, owner: owner)
        try createDirectory("\(directory)/archive", owner: owner)
        let version = "\(Int(Date().timeIntervalSince1970 * 1000))-\(chain[0].serialNumber.description.replacing(":", with: "").prefix(16))"
        let versionDirectory = "\(directory)/archive/\(version)"
        try createDirectory(versionDirectory, owner: owner)
        let pem = try chain.map { try $0.serializeAsPEM().pemString + "\n" }
        try write(try key.serializeAsPEM().pemString + "\n", to: "\(versionDirectory)/key.pem", mode: 0o600, owner: owner)
        try write(pem[0], to: "\(versionDirectory)/cert.pem", mode: 0o644, owner: owner)
        try write(pem.dropFirst().joined(), to: "\(versionDirectory)/chain.pem", mode: 0o644, owner: owner)
        try write(pem.joined(), to: "\(versionDirectory)/fullchain.pem", mode: 0o644, owner: owner)
        // The stable names point through `live`, so they all change in the one rename below.
        for name in Self.stableNames where readLink("\(directory)/\(name)") != "live/\(name)" {
            try replaceSymlink(at: "\(directory)/\(name)", target: "live/\(name)")
        }
        try replaceSymlink(at: "\(directory)/live", target: "archive/\(version)")
        unlink(pendingKeyPath)  // installed now; absent is fine
        try pruneArchive(keeping: version)
    }

    /// Writes a small file next to the certificates (the renewal cache, the state), 0600.
    func writeSideFile(_ bytes: [UInt8], to path: String, owner: FileOwner?) throws {
        do {
            try SecureFile.write(bytes, to: path)
        } catch {
            throw AgentError(.cannotWrite, "cannot write \(path): \(error)")
        }
    }

    private func write(_ text: String, to path: String, mode: mode_t, owner: FileOwner?) throws {
        do {
            try SecureFile.write(Array(text.utf8), to: path, mode: mode)
            try owner?.apply(to: path)
        } catch let error as AgentError {
            throw error
        } catch {
            throw AgentError(.cannotWrite, "cannot write \(path): \(error); check the directory's owner and free space")
        }
    }

    private func createDirectory(_ path: String, owner: FileOwner?) throws {
        do {
            try SecureFile.createDirectory(path)
            try owner?.apply(to: path)
        } catch let error as AgentError {
            throw error
        } catch {
            throw AgentError(.cannotWrite, "cannot create \(path): \(error)")
        }
    }

    /// Points `path` at `target` atomically: a new link under a temporary name, renamed over it.
    private func replaceSymlink(at path: String, target: String) throws {
        let temporary = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard symlink(target, temporary) == 0 else { throw failure("create the link \(temporary)") }
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw failure("rename \(temporary) to \(path)")
        }
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if descriptor >= 0 {
            fsync(descriptor)
            close(descriptor)
        }
    }

    private func pruneArchive(keeping current: String) throws {
        let archive = "\(directory)/archive"
        guard let handle = opendir(archive) else { return }
        defer { closedir(handle) }
        var versions: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != ".", name != ".." { versions.append(name) }
        }
        // Version names start with milliseconds, so sorting them sorts by age.
        let sorted = versions.sorted { (Int($0.prefix { $0 != "-" }) ?? 0) < (Int($1.prefix { $0 != "-" }) ?? 0) }
        for old in sorted.dropLast(2) where old != current {
            for name in Self.stableNames { unlink("\(archive)/\(old)/\(name)") }
            rmdir("\(archive)/\(old)")
        }
    }

    private func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count >= 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private func failure(_ what: String) -> AgentError {
        AgentError(.cannotWrite, "cannot \(what): \(String(cString: strerror(errno)))")
    }
}

/// The user and group that own the files, for a product running as another user than the agent.
public struct FileOwner: Sendable {
    public let uid: uid_t
    public let gid: gid_t

    /// Looks the names up in the user and group databases.
    public init(user: String?, group: String?) throws {
        var uid = getuid()
        var gid = getgid()
        if let user {
            guard let entry = getpwnam(user) else { throw AgentError(.configuration, "no such user \(user) (owner)") }
            uid = entry.pointee.pw_uid
            gid = entry.pointee.pw_gid
        }
        if let group {
            guard let entry = getgrnam(group) else { throw AgentError(.configuration, "no such group \(group) (group)") }
            gid = entry.pointee.gr_gid
        }
        self.uid = uid
        self.gid = gid
    }

    func apply(to path: String) throws {
        guard lchown(path, uid, gid) == 0 else {
            throw AgentError(.cannotWrite, "cannot give \(path) to uid \(uid) gid \(gid): \(String(cString: strerror(errno)))")
        }
    }
}
