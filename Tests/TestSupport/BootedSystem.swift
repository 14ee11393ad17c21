import Foundation
import Glibc

/// A Debian root booted with systemd as PID 1 in `systemd-nspawn`, sharing the host's network:
/// what the test starts on 127.0.0.1 (pebble, a signer) is reachable inside, and what the
/// container's services listen on is reachable from the test. Packages go in before the boot,
/// with dpkg under chroot (`root`). Needs root, and `scripts/make-test-root --boot`'s root.
///
/// The form, and why (each trap was met here):
/// - nspawn runs as PID 1 of a PID namespace of its own (`unshare --pid --fork`): however it
///   ends, the kernel then ends the container with it; nspawn killed outside such a namespace
///   leaves the container running, orphaned. `--kill-child=TERM` and `setpriv --pdeathsig TERM`
///   pass the test process's death on as a clean shutdown.
/// - One cgroup per container in each hierarchy, named `csrproxy-boot-*` (`--keep-unit` boots
///   it in the caller's); removed after the stop, and by `scripts/test` after a killed run.
/// - The console goes to a regular file (`--console=read-only`): a console nobody reads
///   fills and blocks every writer, PID 1 included. journald keeps its journal in memory, and
///   stops time out after 10 s, so a stuck unit cannot hold a shutdown.
/// - Commands enter through `nsenter` after checking, each time, that the pid is the container's
///   systemd (its `comm`, and a PID namespace that is not the test's): `nsenter` with a wrong
///   pid runs the command on the host. No pager, stdin from /dev/null, a timeout on each.
public final class BootedSystem: @unchecked Sendable {
    public let root: DebianRoot
    /// The machine and cgroup name, `csrproxy-boot-<hex>`.
    public let name: String
    public static let cgroupPrefix = "csrproxy-boot-"
    static let hierarchies = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"]

    private let lock = NSLock()
    private var launcher: ServerProcess?
    private var initPID: pid_t = 0

    /// A root unpacked from `tarball`, prepared to boot; install packages into `root` first.
    public init(tarball: String) async throws {
        root = try await DebianRoot(tarball: tarball)
        name = Self.cgroupPrefix + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        try write("[Journal]\nStorage=volatile\nRuntimeMaxUse=32M\n", to: "/etc/systemd/journald.conf.d/csrproxy-test.conf")
        try write("[Manager]\nDefaultTimeoutStopSec=10s\n", to: "/etc/systemd/system.conf.d/csrproxy-test.conf")
        // Its own machine-id, so two containers never pose as one machine.
        try write((0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined() + "\n", to: "/etc/machine-id")
        try write(name + "\n", to: "/etc/hostname")
    }

    /// Writes `text` at `path` inside the root, making its directories.
    public func write(_ text: String, to path: String, mode: Int = 0o644) throws {
        let hostPath = root.hostPath(path)
        try FileManager.default.createDirectory(atPath: (hostPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: hostPath, atomically: true, encoding: .utf8)
        chmod(hostPath, mode_t(mode))
    }

    /// Boots, and returns once `systemctl is-system-running` says `running`; a `degraded` boot
    /// throws with the failed units.
    public func boot(timeout: Duration = .seconds(60)) async throws {
        root.unmountProc()
        let script = """
            for hierarchy in \(Self.hierarchies.joined(separator: " ")); do
                mkdir -p "$hierarchy/$0" && echo $$ > "$hierarchy/$0/cgroup.procs" || exit 70
            done
            exec setpriv --pdeathsig TERM unshare --pid --fork --kill-child=TERM --mount-proc \\
                systemd-nspawn -D "$1" --machine="$0" --boot --register=no --keep-unit --console=read-only
            """
        let launcher = try ServerProcess("/bin/bash", ["-c", script, name, root.path], environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"])
        lock.withLock { self.launcher = launcher }
        let deadline = ContinuousClock.now + timeout
        var pid: pid_t?
        while pid == nil, ContinuousClock.now < deadline, launcher.isRunning {
            pid = Self.children(of: launcher.pid).lazy.flatMap { Self.children(of: $0) }.first { Self.isContainerInit($0) }
            if pid == nil { try await Task.sleep(for: .milliseconds(20)) }
        }
        guard let pid else { throw TestFailure("the container's systemd did not start: \(console.suffix(3000))") }
        lock.withLock { initPID = pid }
        var state = ""
        while ContinuousClock.now < deadline {
            // Fails at once until the bus is up; `--wait` then waits for the boot to finish.
            state = try await run("systemctl is-system-running --wait", timeout: .seconds(30)).standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
            if state == "running" { return }
            if state == "degraded" {
                let failed = try await run("systemctl --failed --no-legend").standardOutput
                throw TestFailure("the container booted degraded; failed units:\n\(failed)")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw TestFailure("the container did not finish booting (last state \(state)): \(console.suffix(3000))")
    }

    /// What the container wrote to its console.
    public var console: String { lock.withLock { launcher }.map { $0.standardOutput + $0.standardError } ?? "" }

    /// Runs `command` with /bin/sh inside the booted container, without a pager.
    public func run(_ command: String, timeout: Duration = .seconds(60)) async throws -> CommandResult {
        try await runCommand("/usr/bin/nsenter", try enter() + ["/bin/sh", "-c", command], timeout: timeout)
    }

    /// Like `run`, but a non-zero exit fails the test with what the command printed.
    @discardableResult
    public func mustRun(_ command: String, timeout: Duration = .seconds(60)) async throws -> CommandResult {
        let result = try await run(command, timeout: timeout)
        guard result.status == 0 else {
            throw TestFailure("in the container, `\(command)` exited \(result.status):\n\(result.standardOutput)\n\(result.standardError)")
        }
        return result
    }

    /// `systemctl show -p <property> --value <unit>`.
    public func property(_ property: String, of unit: String) async throws -> String {
        try await mustRun("systemctl show -p \(property) --value \(unit)").standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The `nsenter` arguments into the container, after checking the pid is still its systemd.
    private func enter() throws -> [String] {
        let pid = lock.withLock { launcher?.isRunning == true ? initPID : 0 }
        guard pid > 0, Self.isContainerInit(pid) else { throw TestFailure("the container is not running") }
        return ["-t", String(pid), "-a", "/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8",
                "SYSTEMD_PAGER=cat", "PAGER=cat", "SYSTEMD_COLORS=0"]
    }

    /// Stops the container (a clean poweroff, then nspawn's own shutdown, then its PID
    /// namespace), saves its journal beside the test's logs, and removes its cgroups.
    /// Synchronous, so a `defer` can call it; safe to call twice.
    public func stop() {
        let (launcher, pid) = lock.withLock {
            defer { self.launcher = nil; initPID = 0 }
            return (self.launcher, initPID)
        }
        if let launcher, launcher.isRunning, pid > 0, Self.isContainerInit(pid) {
            let logs = FileManager.default.temporaryDirectory.appendingPathComponent("logs")
            try? FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
            let enter = ["-t", String(pid), "-a", "/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "SYSTEMD_PAGER=cat"]
            Self.runSynchronously(enter + ["journalctl", "--no-pager", "-o", "short-iso"], output: logs.appendingPathComponent("\(name)-journal.log").path, timeout: .seconds(20))
            Self.runSynchronously(enter + ["systemctl", "poweroff"], output: "/dev/null", timeout: .seconds(15))
        }
        if let launcher, !launcher.waitForExit(within: .seconds(20)) {
            // nspawn stops the container on SIGTERM; past the grace its namespace goes with it.
            _ = launcher.stop(signal: SIGTERM, grace: .seconds(15))
        }
        Self.removeCgroups(named: name)
    }

    /// Stops the container and removes the root.
    public func remove() {
        stop()
        root.remove()
    }

    deinit { stop() }

    /// Removes a container's cgroups, innermost first, ending what is left in them.
    public static func removeCgroups(named name: String) {
        for hierarchy in hierarchies {
            let top = "\(hierarchy)/\(name)"
            guard FileManager.default.fileExists(atPath: top) else { continue }
            if hierarchy.hasSuffix("unified") {
                // cgroup v2: one write ends every process below.
                try? "1".write(toFile: "\(top)/cgroup.kill", atomically: false, encoding: .utf8)
            }
            let until = ContinuousClock.now + .seconds(5)
            while ContinuousClock.now < until {
                var directories = [top]
                if let enumerator = FileManager.default.enumerator(atPath: top) {
                    for case let relative as String in enumerator {
                        var isDirectory: ObjCBool = false
                        if FileManager.default.fileExists(atPath: "\(top)/\(relative)", isDirectory: &isDirectory), isDirectory.boolValue {
                            directories.append("\(top)/\(relative)")
                        }
                    }
                }
                for directory in directories.sorted(by: { $0.count > $1.count }) { rmdir(directory) }
                if !FileManager.default.fileExists(atPath: top) { break }
                usleep(50_000)
            }
        }
    }

    static func children(of pid: pid_t) -> [pid_t] {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8) else { return [] }
        return text.split(separator: " ").compactMap { pid_t($0) }
    }

    /// A systemd in another PID namespace than ours: the container's init, not the host's.
    static func isContainerInit(_ pid: pid_t) -> Bool {
        guard let comm = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8),
              comm.trimmingCharacters(in: .whitespacesAndNewlines) == "systemd",
              let theirs = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/pid"),
              let ours = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/pid")
        else { return false }
        return theirs != ours
    }

    /// `nsenter` with `arguments`, its output to `output`, waited for at most `timeout`.
    private static func runSynchronously(_ arguments: [String], output: String, timeout: Duration) {
        guard let child = try? ChildProcess("/usr/bin/nsenter", arguments, environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"], outputPath: output, errorPath: "/dev/null") else { return }
        if !child.waitForExit(within: timeout) { _ = child.stop(signal: SIGKILL, grace: .seconds(2)) }
    }
}
