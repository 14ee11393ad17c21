/// Decides when an order may start: `InProcessIssuanceGate` for one signer process,
/// `PostgresIssuanceGate` for the nodes of a cluster (both in State/).
protocol IssuanceGate: Sendable {
    /// Runs `body` once a permit for every key is held; permits are handed out first come, first
    /// served, at most `capacity` per key at once. Waiting ends with `CancellationError` when
    /// the task is cancelled (at the request's deadline).
    func withPermits<Result: Sendable>(for keys: [String], capacity: Int, _ body: () async throws -> Result) async throws -> Result
}
