import Agent
import ArgumentParser
import Logging

/// `csrproxy-agent renew`: what the systemd timer runs twice a day.
struct RenewCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "renew",
        abstract: "Renew the certificate when it is due; exit 0 at once when it is not.",
        discussion: """
            Due means inside the signer's renewal window (/v1/renewal-info, the CA's ARI or 2/3 of \
            the lifetime; asked at most twice a day and cached beside the certificate), or past 2/3 \
            of the lifetime (1/2 under 10 days) in any case. While the cached window is fresh and \
            not reached, renew touches no network. The key is kept unless --rotate-key. On failure \
            the installed files stay as they were and the exit code says whether to retry (75).
            """
    )

    @OptionGroup var options: AgentOptions

    @Flag(help: "Renew now, due or not.")
    var force = false

    @Flag(help: "Make a new key (per-install mode: this changes the name).")
    var rotateKey = false

    /// The timer's usual run, answered synchronously: true when nothing is due and the cached
    /// window says so (the line is printed unless --quiet). False for anything else, which
    /// `run()` then does in full, reporting errors there; so this logs nothing, bootstraps
    /// nothing and keeps no error of its own.
    func finishIfNotDue() -> Bool {
        guard !force, !rotateKey,
              let agent = try? options.makeAgent(logger: Logger(label: "csrproxy.agent", factory: { _ in SwiftLogNoOpLogHandler() }))
        else { return false }
        return agent.finishIfNotDue()
    }

    func run() async throws {
        do {
            let agent = try options.makeAgent()
            guard let outcome = try await agent.renew(force: force, rotateKey: rotateKey) else { return }
            try AgentOptions.report(outcome, agent: agent, options: options)
        } catch {
            throw ExitStatus.exit(for: error)
        }
    }
}
