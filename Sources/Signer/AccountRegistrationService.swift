import ACME
import Logging
import ServiceLifecycle

/// Registers the ACME account at start-up, retrying with backoff while the CA is unreachable,
/// so the signer comes up (DNS answering, `/readyz` saying what it waits for) even then.
struct AccountRegistrationService: Service {
    let account: AccountManager
    let logger: Logger

    func run() async throws {
        var backoff = Backoff(first: .seconds(1), ceiling: .seconds(60))
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                try await account.register(deadline: .now + .seconds(30))
                break
            } catch {
                let wait = backoff.advance()
                logger.warning("cannot register the ACME account yet; retrying", metadata: ["error": "\(error)", "retry_in_s": "\(wait.components.seconds)"])
                await sleepUnlessShuttingDown(for: wait)
            }
        }
        try? await gracefulShutdown()
    }
}

/// Sleeps for `duration`, waking at once when the service group shuts down gracefully.
func sleepUnlessShuttingDown(for duration: Duration) async {
    try? await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
}
