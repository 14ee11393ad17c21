import Synchronization

/// The gate of one signer process: counting semaphores by key, each with a FIFO queue of
/// waiters. Beside `PostgresIssuanceGate`, which queues here first within a node.
final class InProcessIssuanceGate: IssuanceGate {
    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct Slot {
        var inUse = 0
        var waiters: [Waiter] = []
    }

    private struct State {
        var slots: [String: Slot] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    func withPermits<Result: Sendable>(for keys: [String], capacity: Int, _ body: () async throws -> Result) async throws -> Result {
        // Sorted, so two requests needing overlapping keys always take them in the same order.
        let ordered = Array(Set(keys)).sorted()
        var held: [String] = []
        defer { for key in held.reversed() { release(key) } }
        for key in ordered {
            try await acquire(key, capacity: capacity)
            held.append(key)
        }
        return try await body()
    }

    /// How many hold or wait for `key`; for tests and metrics.
    func occupancy(of key: String) -> (inUse: Int, waiting: Int) {
        state.withLock { ($0.slots[key]?.inUse ?? 0, $0.slots[key]?.waiters.count ?? 0) }
    }

    private func acquire(_ key: String, capacity: Int) async throws {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome: Result<Void, any Error>? = state.withLock { state in
                    // Checked under the lock: a cancellation that came before we queued is seen here,
                    // one that comes after finds the waiter in the queue.
                    if Task.isCancelled { return .failure(CancellationError()) }
                    var slot = state.slots[key, default: Slot()]
                    defer { state.slots[key] = slot }
                    if slot.inUse < capacity, slot.waiters.isEmpty {
                        slot.inUse += 1
                        return .success(())
                    }
                    slot.waiters.append(Waiter(id: id, continuation: continuation))
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard let index = state.slots[key]?.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.slots[key]?.waiters.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Hands the permit to the first waiter, or returns it.
    private func release(_ key: String) {
        let next = state.withLock { state -> Waiter? in
            guard var slot = state.slots[key] else { return nil }
            if slot.waiters.isEmpty {
                slot.inUse -= 1
                state.slots[key] = slot.inUse == 0 ? nil : slot
                return nil
            }
            let waiter = slot.waiters.removeFirst()
            state.slots[key] = slot
            return waiter
        }
        next?.continuation.resume()
    }
}
