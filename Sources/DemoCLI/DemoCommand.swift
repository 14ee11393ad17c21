import ArgumentParser
import CommandLineSupport
import Foundation
import Hummingbird
import Logging
import NIOCore
import ReloadableTLS
import ServiceLifecycle
import SystemdSupport

/// `csrproxy-demo`: a stand-in for the evaluated product. An HTTPS page that shows which
/// certificate it serves, reloaded on SIGHUP without dropping a connection.
@main
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "csrproxy-demo",
        abstract: "A small HTTPS product that shows the certificate it serves and reloads it on SIGHUP.",
        discussion: """
            Serves / (an HTML page) and /certificate.json (the same facts: names, serial, not-after) \
            over TLS with the key and chain the agent installs. On SIGHUP it reads them again; a \
            broken or mismatched pair is logged and the old one stays. Under systemd it says \
            READY=1, RELOADING=1 with MONOTONIC_USEC and READY=1 around each reload, and STOPPING=1: \
            Type=notify with ExecReload=/bin/kill -HUP $MAINPID on Debian 12 (systemd 252), \
            Type=notify-reload on systemd 253 and later.

            Exit codes: 0 stopped cleanly; 64 bad flags; 69 the port cannot be bound; 78 the \
            certificate or key cannot be used at start.
            """
    )

    @Option(help: "The certificate chain (the agent's fullchain.pem).")
    var certificate = "/var/lib/csrproxy/tls/fullchain.pem"

    @Option(help: "The private key (the agent's key.pem).")
    var key = "/var/lib/csrproxy/tls/key.pem"

    @Option(help: "HOST:PORT to serve HTTPS on.")
    var listen = "127.0.0.1:8443"

    @Option(help: "Write the process id here (for the agent's signal reload method).")
    var pidfile: String?

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.bootstrap(label: "csrproxy.demo", environment: ProcessInfo.processInfo.environment)
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
            throw ValidationError("--listen \(listen) is not HOST:PORT")
        }
        let host = String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        let identities: TLSIdentityStore
        do {
            identities = TLSIdentityStore(try TLSIdentity(certificateChainPath: certificate, privateKeyPath: key))
        } catch {
            throw Sysexit.configuration.exit("csrproxy-demo", reason: "\(error); run csrproxy-agent issue first, or pass --certificate and --key")
        }
        if let pidfile { try "\(getpid())\n".write(toFile: pidfile, atomically: true, encoding: .utf8) }
        defer { if let pidfile { unlink(pidfile) } }

        let (ready, readyContinuation) = AsyncStream.makeStream(of: String.self)
        let notifier = SystemdNotifier()
        let router = Router()
        DemoPage(identities: identities).register(on: router)
        let application = Application(
            router: router, server: .reloadableTLS(identities: identities),
            configuration: .init(address: .hostname(host, port: port), serverName: "csrproxy-demo"),
            services: [
                SystemdLifecycleService(notifier: notifier, ready: ready),
                ReloadOnHangup(identities: identities, certificatePath: certificate, keyPath: key, notifier: notifier, logger: logger),
            ],
            onServerRunning: { channel in
                let bound = "\(host):\(channel.localAddress?.port ?? port)"
                FileDescriptorOutput.standardOutput.write("csrproxy-demo listening: https=\(bound)\n")
                readyContinuation.yield("serving https://\(bound)/ with \(identities.current.summary)")
            },
            logger: logger)
        do {
            try await application.runService()
        } catch let error as IOError {
            throw Sysexit.unavailable.exit("csrproxy-demo", reason: "cannot listen on \(listen): \(error)")
        }
    }
}
