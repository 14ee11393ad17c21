/// Publishes DNS-01 challenge values (RFC 8555 §8.4). The signer implements it with its own
/// authoritative DNS server; this module never sees how.
///
/// Two methods, in the manner of go-acme/lego's `challenge.Provider`.
public protocol DNS01Solver: Sendable {
    /// Publishes `value` as a TXT record at `name` (for example `_acme-challenge.go.eval.example.com`)
    /// and returns once the record is served, so the CA can be told to look.
    func present(name: String, value: String) async throws

    /// Withdraws what `present` published for this name and value, leaving other values alone.
    /// Called for every value `present` was called with, also when `present` failed, so it must
    /// accept a value that was never published.
    func cleanUp(name: String, value: String) async throws
}
