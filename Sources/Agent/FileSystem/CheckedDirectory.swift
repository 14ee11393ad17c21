#if canImport(Glibc)
import Glibc
#endif

/// A directory the agent opened itself and checked, held by its descriptor. Everything below it
/// is reached with `*at` calls relative to that descriptor and `O_NOFOLLOW`, and checked with
/// `fstat` before use (systemd's `chase()`, OpenSSH's `safe_path()`): a symbolic link, a FIFO, a
/// device, a hard link, a file of a foreign owner or an oversized file is refused, never followed,
/// never read, never blocked on, never deleted.
///
/// "Trusted" owners are root and the user the agent runs as: whoever else owns an entry could
/// have put anything there.
final class CheckedDirectory: Sendable {
    /// Where it is, for messages only: nothing is ever opened by this path again.
    let path: String
    let descriptor: Int32

    init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// Root and the agent's own user.
    static func isTrusted(owner: uid_t) -> Bool { owner == 0 || owner == geteuid() }

    /// What one entry is, without following it (nil when absent).
    func entry(_ name: String) throws -> stat? {
        var info = stat()
        guard fstatat(descriptor, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return nil }
            throw FileRefusal.systemError("inspect \(path)/\(name)")
        }
        return info
    }

    // MARK: Reading

    /// The bytes of `name`: a regular file with one link, owned by a trusted user (or `alsoOwnedBy`),
    /// at most `limit` bytes. Nil when absent. `check` sees the file's `stat` and may refuse it.
    func read(_ name: String, limit: Int, alsoOwnedBy extraOwner: uid_t? = nil, check: (stat) throws -> Void = { _ in }) throws -> [UInt8]? {
        guard let before = try entry(name) else { return nil }
        let where_ = "\(path)/\(name)"
        try FileRefusal.requireRegularFile(before, where_, limit: limit, owners: extraOwner)
        try check(before)
        // O_NONBLOCK: had it become a FIFO since the fstatat, opening must not hang.
        let file = openat(descriptor, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard file >= 0 else { throw FileRefusal.systemError("open \(where_)") }
        defer { close(file) }
        var info = stat()
        guard fstat(file, &info) == 0 else { throw FileRefusal.systemError("inspect \(where_)") }
        guard info.st_dev == before.st_dev, info.st_ino == before.st_ino else { throw FileRefusal.unsafe("\(where_) was replaced while it was being read") }
        try FileRefusal.requireRegularFile(info, where_, limit: limit, owners: extraOwner)
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while bytes.count <= limit {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(file, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw FileRefusal.systemError("read \(where_)") }
            if count == 0 { return bytes }
            bytes += chunk[..<count]
        }
        throw FileRefusal.unsafe("\(where_) is larger than \(limit) bytes")
    }

    /// The target of the symbolic link `name`; nil when absent. Anything but a link is refused.
    func readLink(_ name: String) throws -> String? {
        guard let info = try entry(name) else { return nil }
        guard info.st_mode & S_IFMT == S_IFLNK else { throw FileRefusal.unsafe("\(path)/\(name) is not the symbolic link the agent made") }
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlinkat(descriptor, name, &buffer, buffer.count - 1)
        guard count >= 0 else { throw FileRefusal.systemError("read the link \(path)/\(name)") }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The names in the directory with what each is (not followed), at most `limit` of them.
    func entries(limit: Int = 4096) throws -> [(name: String, info: stat)] {
        let copy = dup(descriptor)
        guard copy >= 0, let handle = fdopendir(copy) else {
            if copy >= 0 { close(copy) }
            throw FileRefusal.systemError("list \(path)")
        }
        defer { closedir(handle) }
        rewinddir(handle)
        var result: [(String, stat)] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name != ".", name != ".." else { continue }
            guard result.count < limit else { throw FileRefusal.unsafe("\(path) holds more than \(limit) entries") }
            if let info = try self.entry(name) { result.append((name, info)) }
        }
        return result
    }

    // MARK: Directories

    /// The subdirectory `name`, opened without following links and checked: owned by a trusted
    /// user and writable by nobody else. `create` makes it when absent; `mode`/`group`, when
    /// given, are applied (so an old layout's modes are corrected). Nil when absent and not created.
    func subdirectory(_ name: String, create: Bool = false, mode: mode_t? = nil, group: gid_t? = nil) throws -> CheckedDirectory? {
        let where_ = "\(path)/\(name)"
        if try entry(name) == nil {
            guard create else { return nil }
            guard mkdirat(descriptor, name, 0o700) == 0 || errno == EEXIST else { throw FileRefusal.systemError("create \(where_)") }
        }
        let child = openat(descriptor, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard child >= 0 else {
            if errno == ELOOP || errno == ENOTDIR { throw FileRefusal.unsafe("\(where_) is not a directory (a symbolic link or a file stands there)") }
            throw FileRefusal.systemError("open \(where_)")
        }
        let directory = CheckedDirectory(path: where_, descriptor: child)
        let info = try directory.status()
        guard Self.isTrusted(owner: info.st_uid) else { throw FileRefusal.foreignOwner(where_, info.st_uid) }
        try directory.setAccess(mode: mode, group: group)
        guard try directory.status().st_mode & 0o022 == 0 else { throw FileRefusal.unsafe("\(where_) is writable by others (mode \(String(info.st_mode & 0o7777, radix: 8)))") }
        return directory
    }

    func status() throws -> stat {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw FileRefusal.systemError("inspect \(path)") }
        return info
    }

    /// Gives the directory to the agent's user and `group` (when given) and sets `mode` (when given).
    func setAccess(mode: mode_t?, group: gid_t?) throws {
        if let group {
            guard fchown(descriptor, geteuid(), group) == 0 else { throw FileRefusal.systemError("give \(path) to group \(group)") }
        }
        if let mode {
            guard fchmod(descriptor, mode) == 0 else { throw FileRefusal.systemError("set the mode of \(path)") }
        }
    }

    // MARK: Writing

    /// Replaces `name` atomically: a new file (O_EXCL, never through a link), owned by the agent's
    /// user and `group`, `mode`, written, fsynced, renamed over the old entry, directory fsynced.
    func write(_ bytes: [UInt8], to name: String, mode: mode_t, group: gid_t? = nil) throws {
        let temporary = ".\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let file = openat(descriptor, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard file >= 0 else { throw FileRefusal.systemError("create \(path)/\(temporary)") }
        var renamed = false
        defer { if !renamed { unlinkat(descriptor, temporary, 0) } }
        do {
            defer { close(file) }
            if let group { guard fchown(file, geteuid(), group) == 0 else { throw FileRefusal.systemError("give \(path)/\(name) to group \(group)") } }
            // After the chown: changing the group clears nothing we set, but set the mode last anyway.
            guard fchmod(file, mode) == 0 else { throw FileRefusal.systemError("set the mode of \(path)/\(name)") }
            var remaining = bytes[...]
            while !remaining.isEmpty {
                let written = remaining.withUnsafeBytes { Glibc.write(file, $0.baseAddress, $0.count) }
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { throw FileRefusal.systemError("write \(path)/\(name)") }
                remaining = remaining.dropFirst(written)
            }
            guard fsync(file) == 0 else { throw FileRefusal.systemError("fsync \(path)/\(name)") }
        }
        guard renameat(descriptor, temporary, descriptor, name) == 0 else { throw FileRefusal.systemError("rename into \(path)/\(name)") }
        renamed = true
        sync()
    }

    /// Points the link `name` at `target` atomically (a new link renamed over the old entry).
    func replaceLink(_ name: String, target: String) throws {
        let temporary = ".\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard symlinkat(target, descriptor, temporary) == 0 else { throw FileRefusal.systemError("create the link \(path)/\(temporary)") }
        guard renameat(descriptor, temporary, descriptor, name) == 0 else {
            let error = FileRefusal.systemError("rename the link into \(path)/\(name)")
            unlinkat(descriptor, temporary, 0)
            throw error
        }
        sync()
    }

    /// Removes the entry `name` itself (a link is removed, never followed); absent is fine.
    func remove(_ name: String, directory: Bool = false) {
        unlinkat(descriptor, name, directory ? AT_REMOVEDIR : 0)
    }

    /// fsync of the directory, so a rename in it survives a crash.
    func sync() {
        fsync(descriptor)
    }
}
