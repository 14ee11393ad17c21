import NIOCore
@testable import Signer
import SignerProtocol
import Synchronization
import Testing

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
