import Synchronization

/// What `/readyz` waits for besides the account: both listeners bound and, with
/// `tls = "auto"`, the API's own certificate.
final class Readiness: Sendable {
    private struct State {
        var dns = false
        var http = false
        var apiCertificate: Bool
    }
    private let state: Mutex<State>
    /// With a shared state (PostgreSQL), whether it is reachable.
    let postgres: PostgresHealth?

    init(needsAPICertificate: Bool, postgres: PostgresHealth? = nil) {
        state = Mutex(State(apiCertificate: !needsAPICertificate))
        self.postgres = postgres
    }

    /// False while the shared state is unreachable: a new order could not publish its value.
    var canTakeOrders: Bool { postgres?.isConnected ?? true }

    func dnsBound() { state.withLock { $0.dns = true } }
    func httpBound() { state.withLock { $0.http = true } }
    func apiCertificateReady() { state.withLock { $0.apiCertificate = true } }

    /// Returns once the DNS listeners are bound: a CA can only validate through them.
    func waitForDNS() async throws {
        while !state.withLock({ $0.dns }) { try await Task.sleep(for: .milliseconds(20)) }
    }

    /// The parts not ready yet, named for the `/readyz` answer.
    func missing(accountRegistered: Bool) -> [String] {
        let current = state.withLock { $0 }
        var missing: [String] = []
        if !current.dns { missing.append("the DNS listeners") }
        if !current.http { missing.append("the HTTP listener") }
        if !current.apiCertificate { missing.append("the API's certificate from the CA") }
        if !canTakeOrders { missing.append("the shared state (PostgreSQL)") }
        if !accountRegistered { missing.append("the ACME account (is the CA reachable?)") }
        return missing
    }
}
