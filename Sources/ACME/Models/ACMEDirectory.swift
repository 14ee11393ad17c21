import Foundation

/// The CA's directory (RFC 8555 §7.1.1), plus ARI's `renewalInfo` and the profiles extension.
public struct ACMEDirectory: Codable, Hashable, Sendable {
    public var newNonce: URL
    public var newAccount: URL
    public var newOrder: URL
    public var revokeCert: URL?
    public var keyChange: URL?
    /// RFC 9773 (ARI); absent when the CA does not offer renewal information.
    public var renewalInfo: URL?
    public var meta: Meta?

    public struct Meta: Codable, Hashable, Sendable {
        public var termsOfService: URL?
        public var website: URL?
        public var caaIdentities: [String]?
        public var externalAccountRequired: Bool?
        /// Profile name to description (draft-aaron-acme-profiles), e.g. `classic`, `tlsserver`.
        public var profiles: [String: String]?
    }

    /// Picks the first of `preferences` the CA offers. An empty preference list means the CA's default.
    ///
    /// - Throws: `invalidInput` when the caller asked for profiles and the CA offers none of them.
    public func selectProfile(from preferences: [String]) throws -> String? {
        guard !preferences.isEmpty else { return nil }
        let offered = meta?.profiles ?? [:]
        if let match = preferences.first(where: { offered[$0] != nil }) { return match }
        throw ACMEError(
            .invalidInput,
            "the CA offers none of the profiles \(preferences.joined(separator: ", ")); it offers: \(offered.keys.sorted().joined(separator: ", ").ifEmpty("none"))")
    }
}

extension String {
    func ifEmpty(_ replacement: String) -> String { isEmpty ? replacement : self }
}
