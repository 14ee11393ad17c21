#if canImport(Glibc)
import Glibc
#endif

/// The account the product runs as (`owner`, `group` in agent.toml): its group may read the
/// files, its user runs `exec` reloads and is the only one a claimed pid may belong to.
public struct ProductAccount: Sendable, Equatable {
    /// The product's user; nil when the product runs as root.
    public let uid: uid_t?
    /// The group that may read key and certificates: `group`, else `owner`'s primary group.
    public let gid: gid_t?

    /// Looks the names up in the user and group databases.
    public init(user: String?, group: String?) throws {
        var uid: uid_t?
        var gid: gid_t?
        if let user {
            guard let entry = getpwnam(user) else { throw AgentError(.configuration, "no such user \(user) (owner)") }
            uid = entry.pointee.pw_uid
            gid = entry.pointee.pw_gid
        }
        if let group {
            guard let entry = getgrnam(group) else { throw AgentError(.configuration, "no such group \(group) (group)") }
            gid = entry.pointee.gr_gid
        }
        // Root's own account needs no sharing: the layout stays root-only.
        self.uid = uid == 0 ? nil : uid
        self.gid = gid == 0 ? nil : gid
    }
}
