import DNSCodec
import NIOCore
import Synchronization

/// The TSIG keys this server knows and the secondaries that may transfer its zones.
///
/// A transfer needs both: a request from a secondary's address, signed with that secondary's
/// key. Anyone else is refused, as when no secondary is configured: the zone's dynamic data
/// is nobody else's business.
public struct ZoneTransferPolicy: Sendable {
    /// One standard secondary (Knot, BIND, NSD, a provider's "secondary DNS").
    public struct Secondary: Sendable, Hashable {
        /// Where it answers queries and hears NOTIFY; its transfers must come from this host.
        public var address: SocketAddress
        /// The TSIG key its transfers and our NOTIFYs are signed with.
        public var keyName: DNSName

        public init(address: SocketAddress, keyName: DNSName) {
            self.address = address
            self.keyName = keyName.lowercased
        }
    }

    public var keys: [TSIGKey]
    public var secondaries: [Secondary]

    public init(keys: [TSIGKey] = [], secondaries: [Secondary] = []) {
        self.keys = keys
        self.secondaries = secondaries
    }

    /// The key called `name`, if configured.
    public func key(named name: DNSName) -> TSIGKey? {
        keys.first { $0.name == name.lowercased }
    }

    /// True when `client` is a secondary's address and `key` that secondary's key.
    func allowsTransfer(from client: SocketAddress?, signedWith key: TSIGKey?) -> Bool {
        guard let host = client?.ipAddress, let key else { return false }
        return secondaries.contains { $0.address.ipAddress == host && $0.keyName == key.name }
    }

    public func validate() throws {
        for secondary in secondaries where key(named: secondary.keyName) == nil {
            throw DNSServerError(.invalidConfiguration, "secondary \(secondary.address) names TSIG key \(secondary.keyName), which is not configured")
        }
        guard Set(keys.map(\.name)).count == keys.count else {
            throw DNSServerError(.invalidConfiguration, "a TSIG key name is used twice")
        }
    }
}

/// The transfer policy in force, shared by the listener (who may transfer, which keys sign)
/// and the NOTIFY sender (whom to tell): set at start, replaced whole when the signer reloads
/// its configuration. Watchers hear of each replacement.
public final class TransferPolicyStore: Sendable {
    private let current: Mutex<ZoneTransferPolicy>
    private let watchers = Watchers<Void>(buffer: 1)

    public init(_ policy: ZoneTransferPolicy = ZoneTransferPolicy()) {
        current = Mutex(policy)
    }

    public var policy: ZoneTransferPolicy { current.withLock { $0 } }

    /// Puts `policy` in force for the next query and the next NOTIFY; an invalid one is refused
    /// and the current one stays.
    public func replace(with policy: ZoneTransferPolicy) throws {
        try policy.validate()
        current.withLock { $0 = policy }
        watchers.yield(())
    }

    /// One element per replacement from now on, as long as the stream is read (a reader that
    /// falls behind sees one: the current policy is what counts).
    public func changes() -> AsyncStream<Void> {
        watchers.stream()
    }
}
