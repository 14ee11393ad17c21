#if canImport(Glibc)
import Glibc
#endif

/// Opens an absolute path from `/`, one component at a time, the way systemd's `chase()` with
/// `CHASE_SAFE` does: every directory on the way must belong to root (or the agent's user) and be
/// writable by no one else, except a sticky one like /tmp (where others cannot rename or remove
/// what is not theirs). A link on the way is followed only when a trusted user made it in a
/// trusted directory; the last component is never a link.
enum CheckedPath {
    /// The directory at `path`, checked; nil when it is absent and `createMode` is nil. With
    /// `createMode`, missing parents are made 0755 and the directory itself with that mode.
    static func directory(_ path: String, createMode: mode_t? = nil, group: gid_t? = nil) throws -> CheckedDirectory? {
        guard let (parent, name) = try parent(of: path, createMissing: createMode != nil) else { return nil }
        if name.isEmpty { return parent }  // "/" itself
        return try parent.subdirectory(name, create: createMode != nil, mode: createMode, group: group)
    }

    /// The bytes of the file at `path` (see `CheckedDirectory.read`); nil when absent.
    static func read(_ path: String, limit: Int, check: (stat) throws -> Void = { _ in }) throws -> [UInt8]? {
        guard let (parent, name) = try parent(of: path, createMissing: false), !name.isEmpty else { return nil }
        return try parent.read(name, limit: limit, check: check)
    }

    /// Whether anything stands at `path` (not followed): only to decide whether to make it.
    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// The checked directory holding the last component of `path`, and that component's name.
    static func parent(of path: String, createMissing: Bool) throws -> (CheckedDirectory, String)? {
        guard path.hasPrefix("/") else { throw FileRefusal.unsafe("\(path) is not an absolute path") }
        var pending = components(path)
        guard !pending.contains(".."), !pending.contains(".") else { throw FileRefusal.unsafe("\(path) has . or .. in it") }
        var current = try root()
        var linksFollowed = 0
        while pending.count > 1 {
            let name = pending.removeFirst()
            guard let info = try current.entry(name) else {
                guard createMissing else { return nil }
                if mkdirat(current.descriptor, name, 0o755) == 0 {
                    // 0755 whatever the umask (the renew unit's is 0077): the product must be able
                    // to pass through to its files. Only the directory just made is changed.
                    guard fchmodat(current.descriptor, name, 0o755, 0) == 0 else { throw FileRefusal.systemError("set the mode of \(current.path)/\(name)") }
                } else if errno != EEXIST {
                    throw FileRefusal.systemError("create \(current.path)/\(name)")
                }
                pending.insert(name, at: 0)
                continue
            }
            if info.st_mode & S_IFMT == S_IFLNK {
                // `current` is trusted, so only a trusted user could have put a link in it unless
                // it is sticky and shared; the link's own owner tells which.
                guard CheckedDirectory.isTrusted(owner: info.st_uid) else { throw FileRefusal.foreignOwner("the link \(current.path)/\(name)", info.st_uid) }
                linksFollowed += 1
                guard linksFollowed <= 32, let target = try current.readLink(name) else { throw FileRefusal.unsafe("too many links in \(path)") }
                pending = components(target) + pending
                guard !pending.contains(".."), !pending.contains(".") else { throw FileRefusal.unsafe("the link \(current.path)/\(name) points at \(target), with . or .. in it") }
                if target.hasPrefix("/") { current = try root() }
                continue
            }
            current = try step(from: current, into: name)
        }
        return (current, pending.first ?? "")
    }

    private static func components(_ path: String) -> [String] {
        path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    }

    private static func root() throws -> CheckedDirectory {
        let descriptor = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw FileRefusal.systemError("open /") }
        let directory = CheckedDirectory(path: "", descriptor: descriptor)
        try checkParent(directory, "/")
        return directory
    }

    private static func step(from current: CheckedDirectory, into name: String) throws -> CheckedDirectory {
        let place = "\(current.path)/\(name)"
        let descriptor = openat(current.descriptor, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOTDIR || errno == ELOOP { throw FileRefusal.unsafe("\(place) is not a directory") }
            throw FileRefusal.systemError("open \(place)")
        }
        let next = CheckedDirectory(path: place, descriptor: descriptor)
        try checkParent(next, place)
        return next
    }

    /// A directory on the way: trusted owner, and writable by others only when sticky.
    private static func checkParent(_ directory: CheckedDirectory, _ place: String) throws {
        let info = try directory.status()
        guard CheckedDirectory.isTrusted(owner: info.st_uid) else { throw FileRefusal.foreignOwner(place, info.st_uid) }
        guard info.st_mode & 0o022 == 0 || info.st_mode & S_ISVTX != 0 else {
            throw FileRefusal.unsafe("\(place) is writable by others (mode \(String(info.st_mode & 0o7777, radix: 8)))")
        }
    }
}
