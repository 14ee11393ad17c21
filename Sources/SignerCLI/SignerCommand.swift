import ArgumentParser

/// `csrproxy-signer`: the publisher's half of CSRProxy.
@main
struct SignerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "csrproxy-signer",
        abstract: "The CSRProxy signer: turns installers' CSRs into browser-trusted certificates.",
        discussion: """
            The signer is authoritative for a zone the publisher delegated to it (NS + glue). It sends \
            the well-known name to 127.0.0.1 and ::1 and publishes ACME DNS-01 challenge values. Its \
            API takes a CSR whose subject and names its zone table allows, obtains the certificate \
            from an ACME CA through DNS-01 in its own zone, and answers with the chain.

              csrproxy-signer check-config -c /etc/csrproxy/signer.toml
              csrproxy-signer serve -c /etc/csrproxy/signer.toml

            Exit codes: 0 success, 64 bad flags, 69 a socket could not be opened (port in use, or \
            port 53 without CAP_NET_BIND_SERVICE), 70 internal error, 73 the account key cannot be \
            created, 78 the configuration is wrong (the message names the line).
            """,
        subcommands: [ServeCommand.self, CheckConfigCommand.self, MigrateCommand.self, ServeDNSCommand.self]
    )
}
