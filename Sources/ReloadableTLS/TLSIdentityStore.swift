import Synchronization

/// The identity a server hands to new TLS handshakes, swappable while it runs.
///
/// Connections already open keep the context they started with; only handshakes after a
/// `replace` see the new certificate. A replacement that fails its checks leaves the current
/// identity in service, so a broken renewal never takes a working server down.
public final class TLSIdentityStore: Sendable {
    private let identity: Mutex<TLSIdentity>

    public init(_ identity: TLSIdentity) {
        self.identity = Mutex(identity)
    }

    public var current: TLSIdentity { identity.withLock { $0 } }

    /// Puts `new` into service for the next handshakes.
    public func replace(with new: TLSIdentity) {
        identity.withLock { $0 = new }
    }

    /// Reads, checks and puts into service the pair at these paths; on any failure throws and
    /// keeps the current identity.
    @discardableResult
    public func reload(certificateChainPath: String, privateKeyPath: String) throws -> TLSIdentity {
        let new = try TLSIdentity(certificateChainPath: certificateChainPath, privateKeyPath: privateKeyPath)
        replace(with: new)
        return new
    }
}
