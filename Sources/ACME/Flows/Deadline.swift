/// Runs `operation` but gives up at `deadline`, throwing what `timeout` makes, so a hung
/// collaborator (a solver, a peer that never answers) cannot hang its caller. The operation
/// is cancelled when the deadline wins. Every deadline in the package goes through this.
package func withDeadline<Result: Sendable>(
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

/// Waits that double from `first` up to `ceiling`: ACME polling starts at a few milliseconds,
/// because a fast CA validates in about that, and a retry loop at seconds; neither hammers a
/// peer that is slow or down.
package struct Backoff: Sendable {
    package let first: Duration
    package let ceiling: Duration
    private var upcoming: Duration

    package init(first: Duration, ceiling: Duration) {
        self.first = first
        self.ceiling = ceiling
        upcoming = first
    }

    /// The wait to take now; the one after it is twice as long, up to the ceiling.
    package mutating func advance() -> Duration {
        defer { upcoming = min(upcoming * 2, ceiling) }
        return upcoming
    }

    /// Back to `first`, after a success.
    package mutating func reset() { upcoming = first }

    /// For polling an order or an authorization.
    static var polling: Backoff { Backoff(first: .milliseconds(5), ceiling: .seconds(2)) }
}
