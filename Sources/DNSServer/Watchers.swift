import Synchronization

/// Streams that hear of each change, for as long as they are read: what `ZoneStore.changes()`
/// and `TransferPolicyStore.changes()` hand out. A reader that falls behind keeps only the
/// newest `buffer` elements.
final class Watchers<Element: Sendable>: Sendable {
    private let buffer: Int
    private let state = Mutex<(nextID: Int, streams: [Int: AsyncStream<Element>.Continuation])>((0, [:]))

    init(buffer: Int) {
        self.buffer = buffer
    }

    func stream() -> AsyncStream<Element> {
        let (stream, continuation) = AsyncStream.makeStream(of: Element.self, bufferingPolicy: .bufferingNewest(buffer))
        let id = state.withLock { state in
            defer { state.nextID += 1 }
            state.streams[state.nextID] = continuation
            return state.nextID
        }
        continuation.onTermination = { [weak self] _ in self?.state.withLock { _ = $0.streams.removeValue(forKey: id) } }
        return stream
    }

    func yield(_ element: Element) {
        state.withLock { state in
            for continuation in state.streams.values { continuation.yield(element) }
        }
    }
}
