import ACME
import DNSCodec
import DNSServer
import Logging

/// Where DNS-01 values are published: the in-process zone store our DNS listener serves, or
/// an external primary by RFC 2136 (`DynamicUpdateStore`). Chosen in the composition root.
protocol ChallengeStore: Sendable {
    func add(_ value: String, at name: DNSName) async throws
    /// Withdraws `value`; true when it was there.
    @discardableResult
    func remove(_ value: String, at name: DNSName) async -> Bool
    /// Withdraws every value this signer published, for example after a crash.
    func removeAll() async -> Int
    /// Every value published now, for the sweep.
    func all() async -> [(name: DNSName, value: String)]
}

extension ZoneStore: ChallengeStore {
    func add(_ value: String, at name: DNSName) throws { try addTXT(value, at: name) }
    func remove(_ value: String, at name: DNSName) -> Bool { removeTXT(value, at: name) }
    func removeAll() -> Int { removeAllTXT() }
    func all() -> [(name: DNSName, value: String)] { allTXT() }
}

/// The signer's DNS-01 solver: adds the value to the zone, then waits until every nameserver
/// the CA may ask answers with it over the network before the CA is told to look.
struct ChallengePublisher: DNS01Solver {
    let store: any ChallengeStore
    let probe: ServedValueProbe
    /// The values a live order owns: registered before they are published, released when withdrawn.
    let owned: OwnedChallengeValues
    /// How long the nameservers have, together, to serve a new value; then the order fails.
    var propagationTimeout: Duration = .seconds(10)
    /// Where the time each nameserver took is shown; nil in tests of the publisher alone.
    var metrics: SignerMetrics?
    let logger: Logger

    func present(name: String, value: String) async throws {
        let dnsName = try DNSName(name)
        owned.register(value, at: dnsName)
        do {
            try await store.add(value, at: dnsName)
        } catch {
            owned.release(value, at: dnsName)
            throw error
        }
        // Whatever ends the wait (a nameserver too slow, the deadline, a cancellation), a value
        // that is not confirmed is not left behind; the flow withdraws it again, harmlessly.
        do {
            let started = ContinuousClock.now
            let giveUp = started + propagationTimeout
            try await withThrowingTaskGroup(of: Void.self) { group in
                for server in probe.servers {
                    group.addTask {
                        try await waitUntilServed(value, at: dnsName, by: server, giveUpAt: giveUp)
                        metrics?.recordPropagation(server: server.name, duration: .now - started)
                    }
                }
                try await group.waitForAll()
            }
        } catch {
            await store.remove(value, at: dnsName)
            owned.release(value, at: dnsName)
            throw error
        }
    }

    /// Asks `server` until it answers with `value`, until `giveUpAt`. A nameserver that answers
    /// without it is waited for (a secondary may be mid-transfer); one that has not answered at
    /// all for `silenceAllowed` is left out, as resolvers leave out a nameserver that does not
    /// answer (a node of a cluster that died), and one that answers SERVFAIL (a node cut off
    /// from the shared state) at once — but never our own listener.
    private func waitUntilServed(_ value: String, at name: DNSName, by server: ServedValueProbe.Server, giveUpAt: ContinuousClock.Instant) async throws {
        // Fine steps at first: a peer or a cluster node usually serves the value within a few
        // milliseconds, and a coarse doubling (2, 4, 8 ms) would make the order wait for the
        // next step, not for the value.
        var backoff = Duration.milliseconds(1)
        var lastProblem = "it served other values"
        var silentSince: ContinuousClock.Instant?
        while true {
            let asked = ContinuousClock.now
            do {
                if try await probe.txtValues(at: name, from: server.address).contains(value) { return }
                silentSince = nil
                lastProblem = "it served other values"
            } catch let error as ServedValueProbe.CannotAnswer where server.name != ServedValueProbe.ownListenerName {
                logger.warning("a nameserver of the zone says it cannot answer; going ahead without it, as resolvers do", metadata: [
                    "dns.server": "\(server.name)", "error": "\(error)",
                ])
                return
            } catch {
                if error is CancellationError { throw error }
                lastProblem = "\(error)"
                let since = silentSince ?? asked
                silentSince = since
                if server.name != ServedValueProbe.ownListenerName, ContinuousClock.now - since >= Self.silenceAllowed {
                    logger.warning("a nameserver of the zone does not answer; going ahead without it, as resolvers do", metadata: [
                        "dns.server": "\(server.name)", "error": "\(lastProblem)",
                    ])
                    return
                }
            }
            try Task.checkCancellation()
            guard ContinuousClock.now + backoff < giveUpAt else {
                throw SignerError(.dnsPublishing, "nameserver \(server.name) did not serve the challenge at \(name) within \(propagationTimeout.components.seconds) s (\(lastProblem)); check that it transfers the zone from this signer")
            }
            logger.debug("challenge value not served yet", metadata: ["dns.query.name": "\(name)", "dns.server": "\(server.name)"])
            try await Task.sleep(for: backoff)
            backoff = min(backoff * 1.25, .milliseconds(200))
        }
    }

    /// How long a nameserver other than ours may not answer at all before it is left out.
    static let silenceAllowed = Duration.seconds(2)

    func cleanUp(name: String, value: String) async throws {
        let dnsName = try DNSName(name)
        await store.remove(value, at: dnsName)
        owned.release(value, at: dnsName)
    }
}
