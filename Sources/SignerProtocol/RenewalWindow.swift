#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The body of `GET /v1/renewal-info`: when to renew a certificate, in RFC 9773's shape so an
/// ARI-aware agent reads it the same way, plus where the window came from.
public struct RenewalWindowResponse: Codable, Sendable, Hashable {
    public struct Window: Codable, Sendable, Hashable {
        /// RFC 3339.
        public var start: String
        public var end: String
        public init(start: String, end: String) {
            self.start = start
            self.end = end
        }
    }
    public var suggestedWindow: Window
    /// `ca` when relayed from the CA's ARI, `computed` when derived from the certificate's lifetime.
    public var source: String
    public var explanationURL: String?

    public init(suggestedWindow: Window, source: String, explanationURL: String? = nil) {
        self.suggestedWindow = suggestedWindow
        self.source = source
        self.explanationURL = explanationURL
    }
}
