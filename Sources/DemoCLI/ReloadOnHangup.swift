import Logging
import ReloadableTLS
import ServiceLifecycle
import SystemdSupport
import UnixSignals

/// SIGHUP: read the key and chain again and serve them to new connections; open connections
/// keep theirs. A broken or mismatched pair is logged and the current one stays. systemd hears
/// RELOADING=1 before and READY=1 after, whatever the outcome.
struct ReloadOnHangup: Service {
    let identities: TLSIdentityStore
    let certificatePath: String
    let keyPath: String
    let notifier: SystemdNotifier
    let logger: Logger

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            notifier.reloading()
            do {
                let identity = try identities.reload(certificateChainPath: certificatePath, privateKeyPath: keyPath)
                logger.info("reloaded the certificate", metadata: ["demo.certificate": "\(identity.summary)"])
                notifier.ready(status: "serving \(identity.summary)")
            } catch {
                logger.error("kept the current certificate: the new files cannot be used", metadata: ["error": "\(error)", "demo.certificate": "\(identities.current.summary)"])
                notifier.ready(status: "reload failed, still serving \(identities.current.summary)")
            }
        }
    }
}
