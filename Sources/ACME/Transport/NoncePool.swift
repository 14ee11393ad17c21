import Synchronization

/// Anti-replay nonces (RFC 8555 §7.2) saved from every response, so most requests need no
/// extra round trip to newNonce.
final class NoncePool: Sendable {
    /// Old nonces go stale on the CA; keep only the freshest few.
    static let capacity = 16
    private let nonces = Mutex<[String]>([])

    func add(_ nonce: String?) {
        guard let nonce, !nonce.isEmpty else { return }
        nonces.withLock { pool in
            pool.append(nonce)
            if pool.count > Self.capacity { pool.removeFirst(pool.count - Self.capacity) }
        }
    }

    /// The freshest nonce, or nil when the pool is empty.
    func take() -> String? {
        nonces.withLock { $0.popLast() }
    }

    var count: Int { nonces.withLock { $0.count } }
}
