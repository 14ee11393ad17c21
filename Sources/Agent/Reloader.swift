#if canImport(Glibc)
import Glibc
#endif
import Logging

/// Tells the product that new files are in place, by each configured method in order. A failed
/// method is reported (the files stay installed either way); the others still run.
struct Reloader: Sendable {
    let methods: [AgentConfiguration.ReloadMethod]
    let files: CertificateFiles
    let logger: Logger

    /// Runs every method; returns the failures, described.
    func reload() -> [String] {
        var failures: [String] = []
        for method in methods {
            do {
                if try run(method) {
                    logger.info("reloaded the product", metadata: ["agent.reload": "\(method)"])
                }
            } catch {
                failures.append("\(method): \(error)")
            }
        }
        return failures
    }

    /// Runs one method; false when there was nothing to reload.
    private func run(_ method: AgentConfiguration.ReloadMethod) throws -> Bool {
        switch method {
        case .signal(let pidFile, let pid, let signal):
            // No pidfile, or a pid that is gone: the product is not running (a first install
            // before its start), so it will read the new files when it starts.
            if let pidFile, access(pidFile, F_OK) != 0 {
                logger.info("the product is not running (no pidfile): nothing to reload", metadata: ["agent.reload.pidfile": "\(pidFile)"])
                return false
            }
            let target = try pid ?? Self.readPID(pidFile!)
            guard kill(target, signal) == 0 else {
                if errno == ESRCH {
                    logger.info("the product is not running (no process \(target)): nothing to reload")
                    return false
                }
                throw AgentError(.reloadFailed, "kill(\(target), \(signal)) failed: \(String(cString: strerror(errno)))")
            }
        case .systemd(let unit):
            // Without a running systemd (a chroot, a container, a package built into an image)
            // no unit is running, so there is nothing to reload: the same as try-reload-or-restart
            // on a stopped unit, and no reason to fail a package's postinst.
            guard access("/run/systemd/system", F_OK) == 0 else {
                logger.info("systemd is not running here: no unit to reload", metadata: ["agent.reload.unit": "\(unit)"])
                return false
            }
            let status = try Spawn.run(["systemctl", "try-reload-or-restart", unit], environment: [:])
            guard status == 0 else { throw AgentError(.reloadFailed, "systemctl try-reload-or-restart \(unit) exited \(status)") }
        case .exec(let command):
            let status = try Spawn.run(command, environment: [
                "CSRPROXY_KEY": files.keyPath, "CSRPROXY_CERT": files.certificatePath,
                "CSRPROXY_CHAIN": files.chainPath, "CSRPROXY_FULLCHAIN": files.fullChainPath,
            ])
            guard status == 0 else { throw AgentError(.reloadFailed, "\(command.joined(separator: " ")) exited \(status)") }
        }
        return true
    }

    static func readPID(_ path: String) throws -> pid_t {
        guard let bytes = try? readFile(path),
              let pid = Int32(String(decoding: bytes, as: UTF8.self).trimmingWhitespace), pid > 0
        else { throw AgentError(.reloadFailed, "no process id in \(path)") }
        return pid
    }
}

/// Runs a program (looked up on PATH) and waits for it, with extra environment variables.
enum Spawn {
    /// Runs and returns the exit status; output goes where ours goes.
    static func run(_ arguments: [String], environment extra: [String: String]) throws -> Int32 {
        try capture(arguments, environment: extra, captureOutput: false).status
    }

    /// Runs and returns the exit status and, when `captureOutput`, what it wrote to standard output
    /// (its standard error then goes to /dev/null).
    static func capture(_ arguments: [String], environment extra: [String: String] = [:], captureOutput: Bool = true) throws -> (status: Int32, output: String) {
        var environment = extra.map { "\($0.key)=\($0.value)" }
        var index = 0
        while let entry = environ[index] {
            let text = String(cString: entry)
            if !extra.keys.contains(where: { text.hasPrefix("\($0)=") }) { environment.append(text) }
            index += 1
        }
        var pid: pid_t = 0
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pipeEnds: [Int32] = [-1, -1]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if captureOutput {
            guard pipe(&pipeEnds) == 0 else { throw AgentError(.reloadFailed, "cannot make a pipe: \(String(cString: strerror(errno)))") }
            posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
            posix_spawn_file_actions_addclose(&actions, pipeEnds[0])
            // A query's complaints ("System has not been booted with systemd" in a chroot) are
            // not for the user: the caller reads the exit status and decides what to say.
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        }
        let result = posix_spawnp(&pid, arguments[0], &actions, nil, argv, envp)
        if captureOutput { close(pipeEnds[1]) }
        guard result == 0 else {
            if captureOutput { close(pipeEnds[0]) }
            throw AgentError(.reloadFailed, "cannot run \(arguments[0]): \(String(cString: strerror(result)))")
        }
        var output: [UInt8] = []
        if captureOutput {
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = chunk.withUnsafeMutableBytes { read(pipeEnds[0], $0.baseAddress, $0.count) }
                if count > 0 { output += chunk[..<count] } else if count == 0 || errno != EINTR { break }
            }
            close(pipeEnds[0])
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // Exited normally: its code; killed: 128 + the signal, as shells report it.
        let code = status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return (code, String(decoding: output, as: UTF8.self))
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
