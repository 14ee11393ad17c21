import ACME
import DNSCodec
import DNSServer

/// A DNS-01 solver over our own zone store, as the signer will have: present adds the value to
/// the TXT set the DNS server serves; clean-up removes that one value.
public struct ZoneStoreSolver: DNS01Solver {
    public let store: ZoneStore

    public init(store: ZoneStore) {
        self.store = store
    }

    public func present(name: String, value: String) async throws {
        try store.addTXT(value, at: try DNSName(name))
        guard store.isServing(txt: value, at: try DNSName(name)) else {
            throw TestFailure("\(value) at \(name) is not served after adding it")
        }
    }

    public func cleanUp(name: String, value: String) async throws {
        store.removeTXT(value, at: try DNSName(name))
    }
}
