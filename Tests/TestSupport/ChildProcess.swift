import Foundation
import Glibc

/// A program a test started: in a process group of its own (so one signal reaches everything it
/// started), with an explicit environment, standard input from /dev/null and its output in files.
///
/// Not Foundation's `Process`: that copies the shared `environ` when no environment is given
/// (a crash when anything changes it at the same time), and its pipes make a reader wait for
/// every grandchild that inherited them. Files cannot block anyone.
///
/// When `scripts/test` runs the tests outside a PID namespace it sets `CSRPROXY_TEST_CHILDREN`,
/// and each child is recorded there (pid and start time) until it is reaped, so that the next
/// run can stop the groups a killed test process left behind, and nothing else.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    public let executable: String
    private let lock = NSLock()
    private var status: Int32?
    private let record: String?

    /// Starts `executable` (a path, or a name looked up in PATH) with `arguments`; output goes to
    /// the files at `outputPath` and `errorPath` (created or truncated).
    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, outputPath: String, errorPath: String) throws {
        self.executable = executable
        let variables = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = variables.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0o644)
        // Nothing else of the test process's: its other children's files and sockets, which a
        // child would otherwise hold open (and count, and keep alive) for as long as it runs.
        closeInheritedDescriptors(&actions)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own group, default signal handling and an empty mask whatever the test runner set.
        var everySignal = sigset_t()
        sigfillset(&everySignal)
        var noSignal = sigset_t()
        sigemptyset(&noSignal)
        posix_spawnattr_setsigdefault(&attributes, &everySignal)
        posix_spawnattr_setsigmask(&attributes, &noSignal)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var child: pid_t = 0
        let result = executable.hasPrefix("/")
            ? posix_spawn(&child, executable, &actions, &attributes, argv, envp)
            : posix_spawnp(&child, executable, &actions, &attributes, argv, envp)
        guard result == 0 else { throw TestFailure("cannot start \(executable): \(String(cString: strerror(result)))") }
        pid = child
        record = Self.recordStart(of: child)
    }

    /// True until the child has exited and been reaped.
    public var isRunning: Bool { poll() == nil }

    /// The exit status once it has exited: the code, or 128 + the signal that ended it.
    public var exitStatus: Int32? { poll() }

    /// The signal that ended it, if one did.
    public var terminatingSignal: Int32? {
        _ = poll()
        return lock.withLock { endingSignal }
    }

    private var endingSignal: Int32?

    /// Reaps the child if it has exited. At that moment whatever it left in its group is killed
    /// too: later the group's id may name someone else's processes, so it is never signalled again.
    private func poll() -> Int32? {
        lock.withLock {
            if let status { return status }
            var value: Int32 = 0
            let reaped = waitpid(pid, &value, WNOHANG)
            let failure = errno
            if reaped == 0 || (reaped < 0 && failure == EINTR) { return nil }
            if reaped == pid {
                // Reaped just now by us: the group's id is still this child's, for this instant.
                kill(-pid, SIGKILL)
                endingSignal = value & 0x7F == 0 ? nil : value & 0x7F
                status = endingSignal.map { 128 + $0 } ?? (value >> 8) & 0xFF
                if let signal = endingSignal, !sentSignals.contains(signal) {
                    warnOnStandardError("\((executable as NSString).lastPathComponent) \(pid) was ended by signal \(signal), which the harness did not send")
                }
            } else {
                // Someone else reaped it: its pid, and so its group's id, may be another's now.
                warnOnStandardError("\((executable as NSString).lastPathComponent) \(pid) was reaped elsewhere (\(String(cString: strerror(failure)))); its group is left alone")
                status = -1
            }
            if let record { unlink(record) }
            return status
        }
    }

    /// Sends `signal` to the child alone, while it has not been reaped (its pid is still its own).
    public func signal(_ signal: Int32) {
        lock.withLock {
            guard status == nil else { return }
            sentSignals.insert(signal)
            kill(pid, signal)
        }
    }

    /// Sends `signal` to the child's whole group, while the child has not been reaped.
    public func signalGroup(_ signal: Int32) {
        lock.withLock {
            guard status == nil else { return }
            sentSignals.insert(signal)
            kill(-pid, signal)
        }
    }

    /// Signals the harness sent, so that one it did not send can be reported.
    private var sentSignals: Set<Int32> = []

    /// Notes that a test sent `signal` to the child itself (with `kill`), as some tests do.
    public func noteSignalSent(_ signal: Int32) {
        lock.withLock { _ = sentSignals.insert(signal) }
    }

    /// Polls until the child has exited or `limit` has passed; true once it has exited.
    public func waitForExit(within limit: Duration) -> Bool {
        let deadline = ContinuousClock.now + limit
        while isRunning {
            guard ContinuousClock.now < deadline else { return false }
            usleep(5_000)
        }
        return true
    }

    /// Stops the child and everything it started: `signal` to the child, up to `grace` for it to
    /// exit, then SIGKILL to the whole group, then a bounded wait. Returns the exit status, or
    /// nil when the child never reported its exit.
    @discardableResult
    public func stop(signal: Int32 = SIGTERM, grace: Duration = .seconds(10)) -> Int32? {
        if isRunning {
            self.signal(signal)
            if !waitForExit(within: grace) {
                warnOnStandardError("\((executable as NSString).lastPathComponent) \(pid) ignored signal \(signal) for \(grace): sending SIGKILL to its group")
            }
        }
        // Whatever it started in its group (a daemon's workers, a background job) goes with it.
        signalGroup(SIGKILL)
        guard waitForExit(within: .seconds(5)) else {
            warnOnStandardError("child \(pid) never reported its exit after SIGKILL; giving up on it")
            return nil
        }
        return exitStatus
    }

    deinit {
        if isRunning { stop(grace: .seconds(2)) }
    }

    /// Writes "pid starttime" to `$CSRPROXY_TEST_CHILDREN/pid` when the run keeps such records.
    private static func recordStart(of pid: pid_t) -> String? {
        guard let directory = ProcessInfo.processInfo.environment["CSRPROXY_TEST_CHILDREN"], !directory.isEmpty,
              let start = processStartTime(pid) else { return nil }
        let path = "\(directory)/\(pid)"
        guard (try? "\(pid) \(start)\n".write(toFile: path, atomically: true, encoding: .utf8)) != nil else { return nil }
        return path
    }
}

/// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), which Swift's Glibc module does
/// not import: looked up once.
private let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
    return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
}()

/// Makes the spawn close every descriptor from 3 up in the child.
private func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
    if let addCloseFrom, addCloseFrom(&actions, 3) == 0 { return }
    // Without it: every descriptor open now (one opened meanwhile may slip through).
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? [] {
        if let descriptor = Int32(entry), descriptor > 2 { posix_spawn_file_actions_addclose(&actions, descriptor) }
    }
}

/// Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot. With the pid
/// it names one process for good (a pid alone may be reused).
public func processStartTime(_ pid: pid_t) -> UInt64? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return nil }
    // The fields after the command name, which may hold spaces and parentheses itself.
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    return fields.count > 19 ? UInt64(fields[19]) : nil
}

/// The pids of every process whose parent chain reaches `pid` (not `pid` itself), from /proc.
public func descendants(of pid: pid_t) -> [pid_t] {
    var parents: [pid_t: pid_t] = [:]
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let child = pid_t(entry),
              let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { continue }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        if fields.count > 1, let parent = pid_t(fields[1]) { parents[child] = parent }
    }
    var found: [pid_t] = []
    var frontier = [pid]
    while let next = frontier.popLast() {
        let children = parents.filter { $0.value == next }.map(\.key)
        found += children
        frontier += children
    }
    return found
}
