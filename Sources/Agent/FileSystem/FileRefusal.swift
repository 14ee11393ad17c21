#if canImport(Glibc)
import Glibc
#endif

/// The errors of the checked file layer: a refusal names the path and what is wrong with it
/// (`unsafeFile`, exit 78); a failing system call is `cannotWrite` (exit 73).
enum FileRefusal {
    static func unsafe(_ message: String) -> AgentError {
        AgentError(.unsafeFile, "refused: \(message); the agent follows no link and reads nothing it does not own (see README, \"Files and who may read them\")")
    }

    static func foreignOwner(_ path: String, _ owner: uid_t) -> AgentError {
        unsafe("\(path) belongs to uid \(owner), not to root")
    }

    static func systemError(_ what: String) -> AgentError {
        AgentError(.cannotWrite, "cannot \(what): \(String(cString: strerror(errno)))")
    }

    /// A regular file with one link, owned by a trusted user (or `owners`), at most `limit` bytes.
    static func requireRegularFile(_ info: stat, _ path: String, limit: Int, owners extraOwner: uid_t?) throws {
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFLNK: throw unsafe("\(path) is a symbolic link")
        case S_IFIFO: throw unsafe("\(path) is a FIFO")
        case S_IFDIR: throw unsafe("\(path) is a directory")
        default: throw unsafe("\(path) is not a regular file")
        }
        guard CheckedDirectory.isTrusted(owner: info.st_uid) || info.st_uid == extraOwner else { throw foreignOwner(path, info.st_uid) }
        // A second name for the file may sit where its real owner keeps it: a hard link to a
        // root-only key planted here must not be read as ours.
        guard info.st_nlink == 1 else { throw unsafe("\(path) has \(info.st_nlink) hard links") }
        guard info.st_size <= limit else { throw unsafe("\(path) is \(info.st_size) bytes, more than the \(limit) allowed") }
    }
}
