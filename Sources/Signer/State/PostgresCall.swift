import PostgresNIO

/// `body`, with a PostgreSQL failure turned into the signer's `stateUnavailable` (a 503 that
/// says so): what the node was doing and the server's message, never the statement. The one
/// place the PostgreSQL backends map the driver's errors.
func postgresCall<T: Sendable>(_ what: String, _ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as PSQLError {
        throw SignerError(.stateUnavailable, "could not \(what) (PostgreSQL): \(error.serverInfo?[.message] ?? "\(error.code)")")
    }
}
