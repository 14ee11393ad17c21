import Synchronization

/// The ARI CertIDs that requests in progress on this node are renewing, so two requests naming
/// one certificate at once cannot both be its exempt renewal. Bounded by the requests in
/// flight: a claim lasts one request.
final class ReplacementClaims: Sendable {
    private let claimed = Mutex<Set<String>>([])

    /// True when `id` was free and is now this request's.
    func claim(_ id: String) -> Bool {
        claimed.withLock { $0.insert(id).inserted }
    }

    func release(_ id: String) {
        _ = claimed.withLock { $0.remove(id) }
    }
}
