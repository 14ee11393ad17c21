import Logging
import ServiceLifecycle

/// Registers the ACME account at start-up, retrying with backoff while the CA is unreachable,
/// so the signer comes up (DNS answering, `/readyz` saying what it waits for) even then.
struct AccountRegistrationService: Service {
    let account: AccountManager
    let logger: Logger

    func run() async throws {
        var wait = Duration.seconds(1)
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                try await account.register(deadline: .now + .seconds(30))
                break
            } catch {
                logger.warning("cannot register the ACME account yet; retrying", metadata: ["error": "\(error)", "retry_in_s": "\(wait.components.seconds)"])
                let pause = wait
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
                wait = min(wait * 2, .seconds(60))
            }
        }
        try? await gracefulShutdown()
    }
}
