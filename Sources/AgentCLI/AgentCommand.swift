import ArgumentParser

/// `csrproxy-agent`: the product's half of CSRProxy (started by `AgentMain`).
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "csrproxy-agent",
        abstract: "Gets, installs and renews the product's browser-trusted HTTPS certificate.",
        discussion: """
            The agent makes the product's key on this machine (it never leaves it), sends only a \
            CSR to the publisher's signer, checks the certificate it gets back, installs key and \
            certificate atomically under the stable paths key.pem, cert.pem, chain.pem and \
            fullchain.pem, and reloads the product. A package's postinst runs `issue` and `open`; \
            a systemd timer runs `renew --quiet` twice a day.

              csrproxy-agent issue
              csrproxy-agent renew --quiet
              csrproxy-agent status --json

            Settings come from /etc/csrproxy/agent.toml (see packaging/agent.example.toml); flags override them.

            The agent runs as root; the product's user owns nothing it uses. Every file is opened \
            without following links and refused when it is a link, a FIFO, a hard link, too \
            large, or someone else's (see the README, "Files and who may read them").

            Exit codes: 0 done, or not due; 64 bad flags; 65 the signer refused the request or \
            sent something that is not our certificate (not worth retrying); 69 the signer is \
            unreachable or its TLS certificate is not trusted; 73 the files cannot be written; 75 \
            temporary failure (429, 503, deadline, or the product's reload failed or was refused): \
            retry later; 78 bad configuration, a key others can read, or a file the agent refuses.
            """,
        subcommands: [IssueCommand.self, RenewCommand.self, StatusCommand.self, OpenCommand.self, DoctorCommand.self]
    )
}
