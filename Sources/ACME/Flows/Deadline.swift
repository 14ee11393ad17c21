/// Runs `operation` but gives up at `deadline`, so a hung collaborator (a solver, say) cannot
/// hang the flow. The operation is cancelled when the deadline wins.
func withDeadline<Result: Sendable>(
    _ deadline: ContinuousClock.Instant, _ what: String, _ operation: @escaping @Sendable () async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Result.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(until: deadline, clock: .continuous)
            throw ACMEError(.deadlineExceeded, "the deadline passed while waiting for \(what)")
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
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
