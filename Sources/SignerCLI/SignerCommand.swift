import ArgumentParser

/// `csrproxy-signer`: the publisher's half of CSRProxy.
@main
struct SignerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "csrproxy-signer",
        abstract: "The CSRProxy signer: an authoritative DNS server for a delegated zone, and (soon) the CSR signing API.",
        discussion: """
            The signer is authoritative for a zone the publisher delegated to it (NS + glue). It sends \
            the well-known name to 127.0.0.1 and ::1 and publishes ACME DNS-01 challenge values.

            Exit codes: 0 success, 64 bad flags, 69 a socket could not be opened (port in use, or \
            port 53 without CAP_NET_BIND_SERVICE), 70 internal error, 78 the zone or listener settings are wrong.
            """,
        subcommands: [ServeDNSCommand.self]
    )
}
