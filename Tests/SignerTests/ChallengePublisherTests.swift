import DNSCodec
import DNSServer
import Logging
import NIOCore
import NIOPosix
@testable import Signer
import Testing
import TestSupport

/// Challenge values are owned and always withdrawn: a present that fails or is cancelled
/// leaves nothing published, a truncated answer is asked again over TCP, and the sweep
/// withdraws what no live order owns.
struct ChallengePublisherTests {
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    static let value = String(repeating: "v", count: 43)

    static func publisher(store: ZoneStore, probePort: Int, owned: OwnedChallengeValues = OwnedChallengeValues()) throws -> ChallengePublisher {
        let probe = try ServedValueProbe(listener: ListenAddress(host: "127.0.0.1", port: probePort), eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        return ChallengePublisher(store: store, probe: probe, owned: owned, propagationTimeout: .seconds(1), logger: logger)
    }

    /// No listener answers the probe: present fails, and the value it added is gone again.
    @Test func aFailedPresentLeavesNothingPublished() async throws {
        let store = try TestZone.store()
        let owned = OwnedChallengeValues()
        let publisher = try Self.publisher(store: store, probePort: try freeDNSPort(), owned: owned)
        await #expect(throws: (any Error).self) {
            try await publisher.present(name: TestZone.challenge.description, value: Self.value)
        }
        #expect(store.allTXT().isEmpty)
        #expect(owned.registered(Self.value, at: TestZone.challenge) == nil)
        // And what a resolver sees: no value at the name.
        try await withRunningDNSServer(store: store) { port in
            let answer = try await Dig.query(port: port, TestZone.challenge.description, "TXT")
            #expect(answer.answer.isEmpty, "\(answer.raw)")
        }
    }

    /// Cancelled while it waits for the probe: the value is withdrawn all the same.
    @Test func aCancelledPresentLeavesNothingPublished() async throws {
        let store = try TestZone.store()
        let publisher = try Self.publisher(store: store, probePort: try freeDNSPort())
        let task = Task { try await publisher.present(name: TestZone.challenge.description, value: Self.value) }
        while store.allTXT().isEmpty { try await Task.sleep(for: .milliseconds(1)) }
        task.cancel()
        _ = await task.result
        #expect(store.allTXT().isEmpty)
    }

    /// 30 values do not fit 1232 bytes: the listener answers TC over UDP, and the probe reads
    /// the whole set over TCP rather than taking the truncated answer for "none".
    @Test func aTruncatedAnswerIsAskedAgainOverTCP() async throws {
        let store = try TestZone.store()
        let values = (0..<30).map { String(repeating: Character(UnicodeScalar(UInt8(65 + $0 % 26))), count: 42) + "\($0 % 10)" }
        for value in values { try store.addTXT(value, at: TestZone.challenge) }
        try await withRunningDNSServer(store: store) { port in
            let probe = try ServedValueProbe(listener: ListenAddress(host: "127.0.0.1", port: port), eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
            let udp = try await Dig.query(port: port, TestZone.challenge.description, "TXT", options: ["+ignore", "+bufsize=1232"])
            #expect(udp.flags.contains("tc"), "the UDP answer should be truncated: \(udp.raw)")
            // A generous timeout: this checks what is read, not how fast, on a machine that may be busy.
            let served = try await probe.txtValues(at: TestZone.challenge, timeout: .seconds(5))
            #expect(Set(served) == Set(values))
        }
    }

    /// Another nameserver of the zone that answers SERVFAIL (a cluster node cut off from the
    /// shared state) is left out at once, as resolvers do: the value is served by ours and
    /// `present` goes ahead; before, it waited for the peer until the propagation timeout.
    @Test func aPeerThatAnswersServfailIsLeftOut() async throws {
        let store = try TestZone.store()
        let peerStore = try TestZone.store()
        peerStore.setRunTimeValuesCurrent(false)
        try await withRunningDNSServer(store: store) { port in
            try await withRunningDNSServer(store: peerStore) { peerPort in
                let probe = try ServedValueProbe(
                    listener: ListenAddress(host: "127.0.0.1", port: port),
                    others: [.init(name: "peer", address: try SocketAddress(ipAddress: "127.0.0.1", port: peerPort))],
                    eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
                let publisher = ChallengePublisher(store: store, probe: probe, owned: OwnedChallengeValues(), propagationTimeout: .seconds(5), logger: Self.logger)
                try await publisher.present(name: TestZone.challenge.description, value: Self.value)
                #expect(store.txtValues(at: TestZone.challenge) == [Self.value])
            }
        }
    }

    /// What fits: 20 values for the usual name, fewer for longer ones, and the answer of that
    /// many really is under 1232 bytes.
    @Test func theCapIsWhatFitsOneAnswer() throws {
        #expect(ChallengeAnswerSize.valuesFitting(at: TestZone.challenge) == 20)
        let longest = try DNSName("_acme-challenge." + Array(repeating: String(repeating: "a", count: 60), count: 3).joined(separator: ".") + ".eval.example.com")
        #expect(ChallengeAnswerSize.valuesFitting(at: longest) < 20)
    }

    /// The sweep leaves owned values alone, withdraws unowned and overdue ones, and counts them.
    @Test func theSweepWithdrawsWhatNoLiveOrderOwns() async throws {
        let store = try TestZone.store()
        let owned = OwnedChallengeValues()
        let metrics = SignerMetrics(labelKeys: [])
        let sweep = ChallengeSweep(store: store, owned: owned, maximumAge: .seconds(60), interval: .seconds(30), metrics: metrics, logger: Self.logger)
        owned.register("owned", at: TestZone.challenge)
        try store.addTXT("owned", at: TestZone.challenge)
        try store.addTXT("stray", at: TestZone.challenge)
        #expect(await sweep.sweep() == 1)
        #expect(store.txtValues(at: TestZone.challenge) == ["owned"])
        #expect(await sweep.sweep(now: .now + .seconds(61)) == 1, "owned for longer than an order may live")
        #expect(store.allTXT().isEmpty)
        #expect(String(decoding: metrics.exposition(), as: UTF8.self).contains("csrproxy_challenge_values_swept_total 2"))
    }
}
