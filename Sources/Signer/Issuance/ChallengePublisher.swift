import ACME
import DNSCodec
import DNSServer
import Logging

/// Where DNS-01 values are published. Behind a protocol so a backend shared by several signer
/// processes (a database, a DNS UPDATE primary) can replace the in-process zone store later.
protocol ChallengeStore: Sendable {
    func add(_ value: String, at name: DNSName) throws
    /// Withdraws `value`; true when it was there.
    @discardableResult
    func remove(_ value: String, at name: DNSName) -> Bool
    /// Withdraws every value this signer published, for example after a crash. A shared store
    /// would remove only this signer's; the in-process store starts empty on every start.
    func removeAll() -> Int
    /// Every value published now, for the sweep.
    func all() -> [(name: DNSName, value: String)]
}

extension ZoneStore: ChallengeStore {
    func add(_ value: String, at name: DNSName) throws { try addTXT(value, at: name) }
    func remove(_ value: String, at name: DNSName) -> Bool { removeTXT(value, at: name) }
    func removeAll() -> Int { removeAllTXT() }
    func all() -> [(name: DNSName, value: String)] { allTXT() }
}

/// The signer's DNS-01 solver: adds the value to our zone, then waits until our own listener
/// answers with it over the network before the CA is told to look.
struct ChallengePublisher: DNS01Solver {
    let store: any ChallengeStore
    let probe: ServedValueProbe
    /// The values a live order owns: registered before they are published, released when withdrawn.
    let owned: OwnedChallengeValues
    let logger: Logger

    func present(name: String, value: String) async throws {
        let dnsName = try DNSName(name)
        owned.register(value, at: dnsName)
        do {
            try store.add(value, at: dnsName)
        } catch {
            owned.release(value, at: dnsName)
            throw error
        }
        // Whatever ends the wait (the probe failing, the deadline, a cancellation), a value
        // that is not confirmed is not left behind; the flow withdraws it again, harmlessly.
        do {
            var backoff = Duration.milliseconds(2)
            while true {
                if try await probe.txtValues(at: dnsName).contains(value) { return }
                // A store and its listener share memory, so this only loops for a shared backend.
                logger.debug("challenge value not served yet", metadata: ["dns.query.name": "\(name)"])
                try await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .milliseconds(500))
            }
        } catch {
            store.remove(value, at: dnsName)
            owned.release(value, at: dnsName)
            throw error
        }
    }

    func cleanUp(name: String, value: String) async throws {
        let dnsName = try DNSName(name)
        store.remove(value, at: dnsName)
        owned.release(value, at: dnsName)
    }
}
