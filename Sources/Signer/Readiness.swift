import Synchronization

/// What `/readyz` waits for besides the account: both listeners bound.
final class Readiness: Sendable {
    private let state = Mutex((dns: false, http: false))

    func dnsBound() { state.withLock { $0.dns = true } }
    func httpBound() { state.withLock { $0.http = true } }

    /// The parts not ready yet, named for the `/readyz` answer.
    func missing(accountRegistered: Bool) -> [String] {
        let (dns, http) = state.withLock { ($0.dns, $0.http) }
        var missing: [String] = []
        if !dns { missing.append("the DNS listeners") }
        if !http { missing.append("the HTTP listener") }
        if !accountRegistered { missing.append("the ACME account (is the CA reachable?)") }
        return missing
    }
}
