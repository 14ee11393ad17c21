import Foundation
import Glibc

/// A fresh Debian root unpacked from the tarball `scripts/make-test-root` makes, with /proc
/// mounted and the host's /etc/hosts, to install packages into with dpkg under chroot. It shares
/// the host's loopback, where the test's signer and pebble listen. Needs root.
public final class DebianRoot: @unchecked Sendable {
    public let path: String

    public init(tarball: String) async throws {
        guard getuid() == 0 else { throw TestFailure("chroot needs root: run the package tests as root (CI does)") }
        path = FileManager.default.temporaryDirectory.appendingPathComponent("debian-root-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        // "/" of the root must be 0755 whatever the tarball's "." says (older ones say 0700), or no
        // user but root can run anything inside it.
        for step in [["/bin/tar", "-C", path, "-xf", tarball], ["/bin/chmod", "0755", path], ["/bin/cp", "/etc/hosts", "\(path)/etc/hosts"], ["/bin/mount", "-t", "proc", "proc", "\(path)/proc"]] {
            let result = try await runCommand(step[0], Array(step.dropFirst()), timeout: .seconds(120))
            guard result.status == 0 else { throw TestFailure("\(step.joined(separator: " ")) failed: \(result.standardError)") }
        }
    }

    /// Runs `command` with /bin/sh inside the root, in a clean environment.
    public func run(_ command: String, timeout: Duration = .seconds(180)) async throws -> CommandResult {
        try await runCommand("/usr/bin/env", ["-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND=noninteractive", "LANG=C.UTF-8",
                                              "/usr/sbin/chroot", path, "/bin/sh", "-c", command], timeout: timeout)
    }

    /// Like `run`, but a non-zero exit fails the test with what the command printed.
    @discardableResult
    public func mustRun(_ command: String, timeout: Duration = .seconds(180)) async throws -> CommandResult {
        let result = try await run(command, timeout: timeout)
        guard result.status == 0 else {
            throw TestFailure("in the Debian root, `\(command)` exited \(result.status):\n\(result.standardOutput)\n\(result.standardError)")
        }
        return result
    }

    /// A path inside the root, as the host sees it.
    public func hostPath(_ inside: String) -> String { path + inside }

    /// Unmounts the /proc that chroot commands use (a booted container mounts its own).
    public func unmountProc() {
        _ = umount2("\(path)/proc", Int32(MNT_DETACH))
    }

    /// Unmounts /proc and deletes the root. Synchronous so that a `defer` can call it.
    public func remove() {
        _ = umount2("\(path)/proc", Int32(MNT_DETACH))
        try? FileManager.default.removeItem(atPath: path)
    }
}
