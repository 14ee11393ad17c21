#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import CLinuxProcess

/// Who a `signal` reload may reach. A pid is data until checked: it is trusted as it stands only
/// when it comes from the configuration or from a pidfile that root owns and no one else can
/// write, along a path no one else can change. A pid from any other pidfile (one the product
/// writes itself, the usual case) is signalled only when the process is the product: it runs as
/// the product's user (which could signal it anyway), or it is in the configured unit's cgroup.
/// The signal goes through a pidfd opened before the checks, so a pid reused in between is never hit.
struct SignalTarget {
    let pidFile: String?
    let pid: Int32?
    /// `unit` of the reload: the process must be in this systemd unit's cgroup.
    let unit: String?
    let product: ProductAccount

    /// What happened: signalled, or nothing to do because the product is not running.
    enum Outcome: Equatable { case signalled(pid_t), notRunning(String) }

    func send(_ signal: Int32) throws -> Outcome {
        let claimed: pid_t
        var trusted: Bool
        if let pid {
            claimed = pid
            trusted = true
        } else if let pidFile {
            guard let read = try Self.readPIDFile(pidFile) else { return .notRunning("no pidfile \(pidFile)") }
            (claimed, trusted) = read
        } else {
            throw AgentError(.configuration, "a signal reload needs pidfile or pid")
        }
        guard PIDRange.contains(claimed), claimed != getpid() else {
            throw AgentError(.reloadFailed, "refused to signal pid \(claimed): not a process id a product can have")
        }
        let handle = csrproxy_pidfd_open(claimed)
        guard handle >= 0 else {
            if errno == ESRCH { return .notRunning("no process \(claimed)") }
            throw AgentError(.reloadFailed, "cannot open process \(claimed): \(String(cString: strerror(errno)))")
        }
        defer { close(handle) }
        if let unit {
            guard Self.cgroup(of: claimed)?.split(separator: "/").contains(where: { $0 == unit }) == true else {
                throw AgentError(.reloadFailed, "refused to signal pid \(claimed): it is not in \(unit)'s cgroup")
            }
            trusted = true
        }
        if !trusted {
            guard let uid = product.uid else {
                throw AgentError(.reloadFailed, "refused to signal pid \(claimed) from \(pidFile ?? "?"): the pidfile is not root's alone, and no owner or unit is configured to check the process against")
            }
            guard let ids = Self.userIDs(of: claimed), ids.allSatisfy({ $0 == uid }) else {
                throw AgentError(.reloadFailed, "refused to signal pid \(claimed) from \(pidFile ?? "?"): it does not run as the product's user (uid \(uid))")
            }
        }
        guard csrproxy_pidfd_send_signal(handle, signal) == 0 else {
            if errno == ESRCH { return .notRunning("process \(claimed) exited") }
            throw AgentError(.reloadFailed, "cannot signal process \(claimed): \(String(cString: strerror(errno)))")
        }
        return .signalled(claimed)
    }

    /// The pid in `path` and whether the file is root's alone; nil when there is no such file.
    static func readPIDFile(_ path: String) throws -> (pid_t, trusted: Bool)? {
        let bytes: [UInt8]
        var trusted = true
        do {
            guard let checked = try CheckedPath.read(path, limit: 32, check: { info in
                guard info.st_mode & 0o022 == 0 else { throw FileRefusal.unsafe("\(path) is writable by others") }
            }) else { return nil }
            bytes = checked
        } catch let error as AgentError where error.code == .unsafeFile {
            // Someone else could have written it: read it, never through a link at its end and
            // never blocking, and treat the number as a claim to check.
            trusted = false
            guard let claimed = try readUnchecked(path) else { return nil }
            bytes = claimed
        }
        guard let pid = Int32(String(decoding: bytes, as: UTF8.self).trimmingWhitespace) else {
            throw AgentError(.reloadFailed, "no process id in \(path)")
        }
        return (pid, trusted)
    }

    private static func readUnchecked(_ path: String) throws -> [UInt8]? {
        let file = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard file >= 0 else {
            if errno == ENOENT { return nil }
            throw AgentError(.reloadFailed, "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(file) }
        var info = stat()
        guard fstat(file, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { throw AgentError(.reloadFailed, "\(path) is not a regular file") }
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { read(file, $0.baseAddress, $0.count) }
        guard count > 0 else { throw AgentError(.reloadFailed, "no process id in \(path)") }
        return Array(buffer[..<count])
    }

    /// The real, effective, saved and filesystem uids (`Uid:` of /proc/PID/status).
    static func userIDs(of pid: pid_t) -> [uid_t]? {
        guard let text = ProcFile.read("/proc/\(pid)/status") else { return nil }
        guard let line = String(decoding: text, as: UTF8.self).split(separator: "\n").first(where: { $0.hasPrefix("Uid:") }) else { return nil }
        let ids = line.dropFirst(4).split(whereSeparator: { $0 == "\t" || $0 == " " }).compactMap { uid_t($0) }
        return ids.count == 4 ? ids : nil
    }

    /// The cgroup v2 path of the process (`0::/system.slice/x.service`).
    static func cgroup(of pid: pid_t) -> String? {
        guard let text = ProcFile.read("/proc/\(pid)/cgroup") else { return nil }
        return String(decoding: text, as: UTF8.self).split(separator: "\n").first(where: { $0.hasPrefix("0::") }).map { String($0.dropFirst(3)) }
    }
}

/// The process ids a product can have: 2 up to the kernel's pid_max (never 0, -1 or init).
enum PIDRange {
    static func contains(_ pid: Int) -> Bool { (2...maximum).contains(pid) }
    static func contains(_ pid: Int32) -> Bool { contains(Int(pid)) }

    static var maximum: Int {
        guard let bytes = ProcFile.read("/proc/sys/kernel/pid_max"),
              let value = Int(String(decoding: bytes, as: UTF8.self).trimmingWhitespace)
        else { return 4_194_304 }  // the kernel's limit on 64-bit machines
        return value
    }
}

/// The kernel's own files under /proc: owned by the process they describe and sized 0, so not
/// for `CheckedPath`; read bounded, never through a link at the end.
enum ProcFile {
    static func read(_ path: String, limit: Int = 64 * 1024) -> [UInt8]? {
        guard path.hasPrefix("/proc/") else { return nil }
        let file = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard file >= 0 else { return nil }
        defer { close(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < limit {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(file, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += chunk[..<count]
        }
        return bytes
    }
}
