import NIOCore
@testable import Signer
import SignerProtocol
import Synchronization
import Testing

struct RateLimiterTests {
    @Test func burstThenRefillAtTheRate() {
        let limiter = RateLimiter(.init(perMinute: 60, burst: 3))
        let start = ContinuousClock.now
        #expect((0..<3).map { _ in limiter.admit("192.0.2.1", now: start) } == [nil, nil, nil])
        #expect(limiter.admit("192.0.2.1", now: start) == 1)
        #expect(limiter.admit("192.0.2.2", now: start) == nil, "clients have their own buckets")
        #expect(limiter.admit("192.0.2.1", now: start + .seconds(1)) == nil)
        #expect(limiter.admit("192.0.2.1", now: start + .seconds(1)) == 1)
    }
}

struct ClientAddressTests {
    @Test func anonymisesToNetworks() throws {
        #expect(ClientAddress(peer: try SocketAddress(ipAddress: "198.51.100.77", port: 1), forwardedFor: [], trustedProxies: []).anonymised == "198.51.100.0/24")
        #expect(ClientAddress(peer: try SocketAddress(ipAddress: "2001:db8:abcd:12::1", port: 1), forwardedFor: [], trustedProxies: []).anonymised == "2001:db8:abcd::/48")
    }

    @Test func forwardedForIsBelievedOnlyFromTrustedProxies() throws {
        let proxy = try SocketAddress(ipAddress: "10.0.0.1", port: 1)
        #expect(ClientAddress(peer: proxy, forwardedFor: ["203.0.113.9, 10.0.0.2"], trustedProxies: ["10.0.0.1", "10.0.0.2"]).ip == "203.0.113.9")
        #expect(ClientAddress(peer: proxy, forwardedFor: ["203.0.113.9"], trustedProxies: []).ip == "10.0.0.1")
        // A client cannot hide behind a forged first hop: the last untrusted hop is the client.
        #expect(ClientAddress(peer: proxy, forwardedFor: ["1.2.3.4, 203.0.113.9"], trustedProxies: ["10.0.0.1"]).ip == "203.0.113.9")
    }
}

struct LabelTests {
    @Test func parsesAndSortsLabels() throws {
        let labels = try Label.parse(headers: ["version=1.2.3", " product=demo "])
        #expect(labels.map(\.description) == ["product=demo", "version=1.2.3"])
    }

    @Test("refuses", arguments: [["noequals"], ["Product=x"], ["p=has space"], ["p=" + String(repeating: "x", count: 65)], ["a=1", "a=2"], ["a=1", "b=1", "c=1", "d=1", "e=1"], ["p="]])
    func refuses(headers: [String]) {
        #expect(throws: LabelError.self) { try Label.parse(headers: headers) }
    }
}

struct IssuanceGateTests {
    @Test(.timeLimit(.minutes(1))) func capacityIsRespectedAndWaitersAreServedInOrder() async throws {
        let gate = InProcessIssuanceGate()
        let recorder = Recorder()
        // Each holder keeps its permit until the test releases it: no sleeps to race against a
        // busy machine, so the counts below are exact.
        let releases = (0..<12).map { _ in AsyncStream.makeStream(of: Void.self) }

        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<12 {
                group.addTask {
                    try await gate.withPermits(for: ["name:a"], capacity: 3) {
                        recorder.order.withLock { $0.append(index) }
                        recorder.peak.withLock { $0.current += 1; $0.peak = max($0.peak, $0.current) }
                        for await _ in releases[index].stream { break }
                        recorder.peak.withLock { $0.current -= 1 }
                    }
                }
                // The next one arrives only once this one holds a permit or waits in line.
                while gate.occupancy(of: "name:a").inUse + gate.occupancy(of: "name:a").waiting <= index {
                    try await Task.sleep(for: .milliseconds(1))
                }
            }
            #expect(gate.occupancy(of: "name:a") == (3, 9))
            #expect(recorder.order.withLock { $0 } == [0, 1, 2])
            // One release frees one permit, so exactly one waiter gets in before the next release.
            for index in 0..<12 {
                releases[index].continuation.yield()
                while recorder.order.withLock({ $0.count }) < min(12, index + 4) { try await Task.sleep(for: .milliseconds(1)) }
            }
            try await group.waitForAll()
        }
        #expect(recorder.peak.withLock { $0.peak } == 3)
        #expect(recorder.order.withLock { $0 } == Array(0..<12))
        #expect(gate.occupancy(of: "name:a") == (0, 0))
    }

    @Test func aCancelledWaiterLeavesTheQueue() async throws {
        let gate = InProcessIssuanceGate()
        let release = AsyncStream.makeStream(of: Void.self)
        let holder = Task {
            try await gate.withPermits(for: ["zone:z"], capacity: 1) {
                for await _ in release.stream { break }
            }
        }
        while gate.occupancy(of: "zone:z").inUse == 0 { try await Task.sleep(for: .milliseconds(1)) }
        let waiter = Task { try await gate.withPermits(for: ["zone:z"], capacity: 1) { 42 } }
        while gate.occupancy(of: "zone:z").waiting == 0 { try await Task.sleep(for: .milliseconds(1)) }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(gate.occupancy(of: "zone:z").waiting == 0)
        release.continuation.yield()
        try await holder.value
        #expect(gate.occupancy(of: "zone:z") == (0, 0))
    }
}

/// Shared counters for tasks that run at once.
final class Recorder: Sendable {
    let order = Mutex<[Int]>([])
    let peak = Mutex((current: 0, peak: 0))
}
