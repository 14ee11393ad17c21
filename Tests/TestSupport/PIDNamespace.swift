import Foundation
import Glibc

/// Starts a program as the first process of a PID namespace of its own, for process trees that
/// must not outlive the test (a booted container, a database with its workers): util-linux's
/// `unshare --pid --fork --kill-child --mount-proc`. When that first process dies the kernel
/// kills everything left in the namespace, whatever re-parented or detached itself, and
/// `--kill-child` makes the first process die when `unshare` itself is killed, even by SIGKILL.
/// The returned process is `unshare`; stopping it stops the whole tree. Needs root.
public func startInPIDNamespace(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> ServerProcess {
    guard geteuid() == 0 else { throw TestFailure("a PID namespace needs root: run the tests as root (CI does)") }
    return try ServerProcess("/usr/bin/unshare", ["--pid", "--fork", "--kill-child", "--mount-proc", "--", executable] + arguments, environment: environment)
}
