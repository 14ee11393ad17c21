/// Runs `operation` but gives up at `deadline`, throwing what `timeout` makes, so a hung
/// collaborator (a solver, a peer that never answers) cannot hang its caller. The operation
/// is cancelled when the deadline wins. Every deadline in the package goes through this.
public func withDeadline<Result: Sendable>(
    _ deadline: ContinuousClock.Instant,
    orThrow timeout: @escaping @Sendable () -> any Error,
    _ operation: @escaping @Sendable () async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Result.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(until: deadline, clock: .continuous)
            throw timeout()
        }
        defer { group.cancelAll() }
        // Two tasks were added, so the group has a first result to give.
        guard let first = try await group.next() else { throw timeout() }
        return first
    }
}

/// The ACME flow's own use: the error says what it was waiting for.
func withDeadline<Result: Sendable>(
    _ deadline: ContinuousClock.Instant, _ what: String, _ operation: @escaping @Sendable () async throws -> Result
) async throws -> Result {
    try await withDeadline(deadline, orThrow: { ACMEError(.deadlineExceeded, "the deadline passed while waiting for \(what)") }, operation)
}

/// Backoff for polling: starts at a few milliseconds, because a fast CA validates in about
/// that, and doubles to a ceiling, because a slow one needs no hammering.
struct PollingBackoff: Sendable {
    var next: Duration = .milliseconds(5)
    let ceiling: Duration = .seconds(2)

    mutating func advance() -> Duration {
        defer { next = min(next * 2, ceiling) }
        return next
    }
}
