#if canImport(Glibc)
import Glibc
#endif

/// The layout before this one gave the whole directory to the product's user (`owner`), so a
/// compromised product could steer the root agent through links, FIFOs and forged state. The next
/// `issue` or `renew` takes it over in place, without losing the key: the directory itself is
/// given to root first, which freezes its entries (no one else may add, rename or remove any), and
/// only then is what the agent made adopted, entry by entry, never through a link.
extension CertificateFiles {
    func takeOver(_ name: String, in parent: CheckedDirectory, from productUser: uid_t) throws -> CheckedDirectory {
        let descriptor = openat(parent.descriptor, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else { throw FileRefusal.systemError("open \(directory)") }
        let top = CheckedDirectory(path: directory, descriptor: descriptor)
        guard try top.status().st_uid == productUser else { throw FileRefusal.unsafe("\(directory) changed owner while it was being taken over") }
        try top.setAccess(mode: directoryMode, group: productGroup ?? getegid())

        if let archive = adoptDirectory("archive", in: top, from: productUser) {
            for entry in try archive.entries() where entry.info.st_mode & S_IFMT == S_IFDIR && Self.isVersionName(entry.name) {
                guard let version = adoptDirectory(entry.name, in: archive, from: productUser) else { continue }
                for file in Self.stableNames {
                    adoptFile(file, in: version, from: productUser, mode: file == "key.pem" ? keyMode : 0o644)
                }
            }
        }
        // The agent's own files move to state/, where only root may look. What cannot be carried
        // over (a link, a FIFO, a foreign file) is only a cache lost; the entry goes either way.
        let state = try stateDirectory(in: top)
        for side in ["pending-key.pem", "renewal-info.json", "state.json"] {
            if let bytes = try? top.read(side, limit: 64 * 1024, alsoOwnedBy: productUser) {
                try state.write(bytes, to: side, mode: 0o600)
            }
            top.remove(side, directory: false)
        }
        return top
    }

    /// A directory of the earlier layout, given to root with this layout's mode; nil when what
    /// stands there is not a directory the product's user or root made.
    private func adoptDirectory(_ name: String, in parent: CheckedDirectory, from productUser: uid_t) -> CheckedDirectory? {
        let descriptor = openat(parent.descriptor, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        let directory = CheckedDirectory(path: "\(parent.path)/\(name)", descriptor: descriptor)
        guard let info = try? directory.status(), info.st_uid == productUser || CheckedDirectory.isTrusted(owner: info.st_uid),
              (try? directory.setAccess(mode: directoryMode, group: productGroup ?? getegid())) != nil
        else { return nil }
        return directory
    }

    /// A file of the earlier layout, given to root with `mode`, when it is a regular file with one
    /// link that the product's user or root made; anything else stays as it is and is never used.
    private func adoptFile(_ name: String, in directory: CheckedDirectory, from productUser: uid_t, mode: mode_t) {
        let file = openat(directory.descriptor, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard file >= 0 else { return }
        defer { close(file) }
        var info = stat()
        guard fstat(file, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_nlink == 1,
              info.st_uid == productUser || CheckedDirectory.isTrusted(owner: info.st_uid)
        else { return }
        _ = fchown(file, geteuid(), productGroup ?? getegid())
        _ = fchmod(file, mode)
    }
}
