#if canImport(Glibc)
import Glibc
#endif
import Logging

/// Tells the product that new files are in place, by each configured method in order. A failed
/// or refused method is reported (the files stay installed either way); the others still run.
struct Reloader: Sendable {
    let methods: [AgentConfiguration.ReloadMethod]
    let files: CertificateFiles
    let product: ProductAccount
    /// The agent's environment as it read it at start: what a command's LANG comes from.
    let environment: [String: String]
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
        case .signal(let pidFile, let pid, let signal, let unit):
            // No pidfile, or a pid that is gone: the product is not running (a first install
            // before its start), so it will read the new files when it starts.
            let target = SignalTarget(pidFile: pidFile, pid: pid, unit: unit, product: product)
            if case .notRunning(let why) = try target.send(signal) {
                logger.info("the product is not running (\(why)): nothing to reload")
                return false
            }
        case .systemd(let unit):
            // Without a running systemd (a chroot, a container, a package built into an image)
            // no unit is running, so there is nothing to reload: the same as try-reload-or-restart
            // on a stopped unit, and no reason to fail a package's postinst.
            guard access("/run/systemd/system", F_OK) == 0 else {
                logger.info("systemd is not running here: no unit to reload", metadata: ["agent.reload.unit": "\(unit)"])
                return false
            }
            let command = ["systemctl", "try-reload-or-restart", "--", unit]
            let (status, output) = try Spawn.capture(command, environment: .minimal([:], parent: environment), output: .combined)
            try Self.check(status: status, output: output)
        case .exec(let command, let timeLimit):
            let (status, output) = try Spawn.capture(command, environment: .minimal([
                "CSRPROXY_KEY": files.keyPath, "CSRPROXY_CERT": files.certificatePath,
                "CSRPROXY_CHAIN": files.chainPath, "CSRPROXY_FULLCHAIN": files.fullChainPath,
            ], parent: environment), user: product, timeLimit: timeLimit, output: .combined)
            try Self.check(status: status, output: output)
        }
        return true
    }

    /// A reload that failed is reported with its exit status and the end of what it said
    /// (nginx's "nginx: [emerg] ..." line, systemctl's pointer to the journal), made safe for a
    /// terminal and bounded.
    static func check(status: Int32, output: String) throws {
        guard status != 0 else { return }
        let said = TerminalText.clean(String(output.suffix(2000)).trimmingWhitespace.replacing("\n", with: " | "), limit: 600)
        // The method's own line names the command already.
        throw AgentError(.reloadFailed, "exited \(status)\(said.isEmpty ? "" : ": \(said)")")
    }
}
