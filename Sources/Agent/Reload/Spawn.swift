#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import CLinuxProcess

/// Runs a program and waits for it, bounded in time. The agent runs as root, so what it starts
/// gets only the environment named here (never root's whole one) and, for a product's command,
/// the product's user: `setpriv` (util-linux, essential on Debian) drops to it before the exec.
enum Spawn {
    /// What the child's environment holds. `parent` is the agent's own environment as the
    /// agent read it once at start, never the shared `environ`, which a program embedding the
    /// agent may be changing on another thread.
    enum Environment {
        /// The parent's, with these variables set over it (for programs run on the desktop
        /// user's behalf).
        case inherited(adding: [String: String], parent: [String: String])
        /// PATH, the parent's LANG (when it has one), and these variables: nothing else.
        case minimal([String: String], parent: [String: String])
        /// These variables and nothing else (a program run in the desktop user's session).
        case exactly([String: String])
    }

    static let minimalPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// Where the child's output goes.
    enum Output {
        /// Where ours goes.
        case inherited
        /// Standard output is returned; standard error goes to /dev/null.
        case standardOutput
        /// Both are returned, interleaved as written: a product's reload, whose complaint the
        /// agent reports.
        case combined
    }

    /// Runs and returns the exit status; output goes where ours goes.
    static func run(_ arguments: [String], environment: Environment, user: ProductAccount? = nil, timeLimit: Duration = .seconds(60)) throws -> Int32 {
        try capture(arguments, environment: environment, user: user, timeLimit: timeLimit, output: .inherited).status
    }

    /// Runs and returns the exit status and the output `output` asks for (at most 1 MiB).
    /// Past `timeLimit` its process group is killed.
    static func capture(
        _ arguments: [String], environment: Environment, user: ProductAccount? = nil,
        timeLimit: Duration = .seconds(60), output outputHandling: Output = .standardOutput
    ) throws -> (status: Int32, output: String) {
        let captureOutput = outputHandling != .inherited
        var argumentList = arguments
        if let user, let uid = user.uid, geteuid() == 0 {
            let gid = user.gid ?? getpwuid(uid)?.pointee.pw_gid ?? 65534
            argumentList = ["/usr/bin/setpriv", "--reuid=\(uid)", "--regid=\(gid)", "--init-groups", "--"] + arguments
        }
        var pid: pid_t = 0
        let (argv, envp) = cStrings(argumentList, environmentList(environment))
        defer { (argv + envp).forEach { free($0) } }
        var pipeEnds: [Int32] = [-1, -1]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group, so the time limit stops everything it started.
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        if captureOutput {
            guard pipe(&pipeEnds) == 0 else { throw AgentError(.reloadFailed, "cannot make a pipe: \(String(cString: strerror(errno)))") }
            posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
            posix_spawn_file_actions_addclose(&actions, pipeEnds[0])
            if outputHandling == .combined {
                posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 2)
            } else {
                // A query's complaints ("System has not been booted with systemd" in a chroot)
                // are not for the user: the caller reads the exit status and decides what to say.
                posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
            }
        }
        let result = posix_spawnp(&pid, argumentList[0], &actions, &attributes, argv, envp)
        if captureOutput { close(pipeEnds[1]) }
        guard result == 0 else {
            if captureOutput { close(pipeEnds[0]) }
            throw AgentError(.reloadFailed, "cannot run \(arguments[0]): \(String(cString: strerror(result)))")
        }
        let deadline = ContinuousClock.now + timeLimit
        var output: [UInt8] = []
        var outputOpen = captureOutput
        defer { if captureOutput { close(pipeEnds[0]) } }
        var status: Int32 = 0
        // Until the child exits: what it writes meanwhile is read as it comes. A daemon it
        // started may keep the pipe open for ever, so its exit, not the pipe's end, ends the wait.
        while true {
            if outputOpen {
                outputOpen = readAvailable(pipeEnds[0], into: &output, waiting: .milliseconds(20), limit: 1 << 20)
            } else {
                usleep(20_000)
            }
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { break }
            if reaped < 0 && errno != EINTR { throw AgentError(.reloadFailed, "cannot wait for \(arguments[0]): \(String(cString: strerror(errno)))") }
            if ContinuousClock.now >= deadline {
                kill(-pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                throw AgentError(.reloadFailed, "\(arguments[0]) did not finish within \(timeLimit.components.seconds) s and was stopped")
            }
        }
        // What it wrote just before it exited; nothing more is waited for.
        if outputOpen { _ = readAvailable(pipeEnds[0], into: &output, waiting: .zero, limit: 1 << 20) }
        return (exitCode(status), String(decoding: output, as: UTF8.self))
    }

    /// Starts a program that is not ours to wait for (a browser): in a session of its own,
    /// input and output on /dev/null, in `directory` when given. Waits at most `settle` for it
    /// to exit and returns its status (as `capture` reports it), or nil when it is still
    /// running, which is then left to run; the kernel hands it to init when we exit.
    static func detached(_ arguments: [String], environment: Environment, directory: String? = nil, settle: Duration) throws -> Int32? {
        var pid: pid_t = 0
        let (argv, envp) = cStrings(arguments, environmentList(environment))
        defer { (argv + envp).forEach { free($0) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for descriptor: Int32 in 0...2 {
            posix_spawn_file_actions_addopen(&actions, descriptor, "/dev/null", descriptor == 0 ? O_RDONLY : O_WRONLY, 0)
        }
        if let directory { csrproxy_spawn_file_actions_addchdir(&actions, directory) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // POSIX_SPAWN_SETSID (glibc 2.26): no controlling terminal, no signal from the caller's.
        posix_spawnattr_setflags(&attributes, Int16(0x80))
        let result = posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, envp)
        guard result == 0 else { throw AgentError(.reloadFailed, "cannot run \(arguments[0]): \(String(cString: strerror(result)))") }
        let deadline = ContinuousClock.now + settle
        var status: Int32 = 0
        while ContinuousClock.now < deadline {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { return exitCode(status) }
            if reaped < 0 && errno != EINTR { return nil }
            usleep(20_000)
        }
        return nil
    }

    /// `arguments` and `variables` as NULL-terminated C arrays for posix_spawn; the caller frees them.
    private static func cStrings(_ arguments: [String], _ variables: [String]) -> ([UnsafeMutablePointer<CChar>?], [UnsafeMutablePointer<CChar>?]) {
        (arguments.map { strdup($0) } + [nil], variables.map { strdup($0) } + [nil])
    }

    /// A wait status as shells report it: the exit code, or 128 + the signal that killed it.
    private static func exitCode(_ status: Int32) -> Int32 {
        status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    }

    private static func environmentList(_ environment: Environment) -> [String] {
        switch environment {
        case .minimal(let extra, let parent):
            var variables = extra
            variables["PATH"] = minimalPath
            if let language = parent["LANG"] { variables["LANG"] = language }
            return variables.map { "\($0.key)=\($0.value)" }.sorted()
        case .inherited(let extra, let parent):
            return parent.merging(extra) { _, added in added }.map { "\($0.key)=\($0.value)" }.sorted()
        case .exactly(let variables):
            return variables.map { "\($0.key)=\($0.value)" }.sorted()
        }
    }

    /// Reads what `descriptor` has within `waiting` (and more, if it keeps coming at once) into
    /// `output`, up to `limit` bytes in all. False once it reached end of file, failed or was
    /// full; true when there is simply nothing more yet, or nothing within `waiting`.
    private static func readAvailable(_ descriptor: Int32, into output: inout [UInt8], waiting: Duration, limit: Int) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4096)
        var wait = Int32(waiting.components.seconds * 1000 + waiting.components.attoseconds / 1_000_000_000_000_000)
        while output.count < limit {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, wait)
            if ready < 0 && errno == EINTR { continue }
            guard ready >= 0 else { return false }
            if ready == 0 { return true }
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return false }
            output += chunk[..<min(count, limit - output.count)]
            wait = 0
        }
        return false
    }
}

extension String {
    var trimmingWhitespace: String {
        var text = self[...]
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }
}
