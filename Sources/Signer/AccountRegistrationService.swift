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
                // A stop must not wait for a CA that is slow to answer: the registration is
                // cancelled when the group shuts down (and done again at the next start).
                try await cancelWhenGracefulShutdown { [account] in try await account.register(deadline: .now + .seconds(30)) }
                break
            } catch where Task.isShuttingDownGracefully || Task.isCancelled {
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
