import Agent
import ArgumentParser

/// `csrproxy-agent issue`: first install (postinst), or any time a certificate is wanted now.
struct IssueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue",
        abstract: "Get a certificate now: make the key if there is none, request, verify, install, reload.",
        discussion: """
            Retries connection failures, 429 and 503 (honouring Retry-After) with backoff and \
            jitter until the deadline. Existing files are never touched unless a new, verified \
            certificate replaces them. With --fallback self-signed, a signer that cannot be \
            reached at first install leaves a 7-day self-signed certificate so the product can \
            start; the next `renew` replaces it.
            """
    )

    @OptionGroup var options: AgentOptions

    @Flag(help: "Make a new key instead of keeping the installed one (per-install mode: a new name).")
    var rotateKey = false

    @Option(help: "self-signed: install a temporary self-signed certificate when the signer is unreachable at first install.")
    var fallback: String?

    func validate() throws {
        if let fallback, fallback != "self-signed" { throw ValidationError("--fallback only knows self-signed") }
    }

    func run() async throws {
        let agent = try options.makeAgent()
        do {
            let outcome = try await agent.issue(rotateKey: rotateKey)
            try report(outcome, agent: agent)
        } catch let error as AgentError where fallback != nil && [.unreachable, .temporary].contains(error.code) {
            options.say("csrproxy-agent: the signer cannot be reached (\(error.message)); installing the fallback")
            do {
                try report(try agent.installFallback(), agent: agent)
            } catch {
                throw ExitStatus.exit(for: error)
            }
        } catch {
            throw ExitStatus.exit(for: error)
        }
    }

    private func report(_ outcome: Agent.Outcome, agent: Agent) throws {
        try AgentOptions.report(outcome, agent: agent, options: options)
    }
}
