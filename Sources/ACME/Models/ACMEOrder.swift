import Foundation

/// Status values shared by orders, authorizations and challenges (RFC 8555 §7.1.6).
public enum ACMEStatus: String, Codable, Hashable, Sendable {
    case pending, ready, processing, valid, invalid, deactivated, expired, revoked
}

/// An order (RFC 8555 §7.1.3), with the URL it lives at.
public struct ACMEOrder: Codable, Hashable, Sendable {
    public var status: ACMEStatus
    public var expires: String?
    public var identifiers: [ACMEIdentifier]
    public var authorizations: [URL]
    public var finalize: URL
    public var certificate: URL?
    public var error: ACMEProblem?
    public var profile: String?
    public var replaces: String?
    /// From the `Location` header of newOrder; not part of the JSON.
    public var url: URL?

    enum CodingKeys: String, CodingKey {
        case status, expires, identifiers, authorizations, finalize, certificate, error, profile, replaces
    }
}

/// An authorization (RFC 8555 §7.1.4).
public struct ACMEAuthorization: Codable, Hashable, Sendable {
    public var status: ACMEStatus
    public var identifier: ACMEIdentifier
    public var challenges: [ACMEChallenge]
    public var wildcard: Bool?
    public var expires: String?
}

/// A challenge (RFC 8555 §8).
public struct ACMEChallenge: Codable, Hashable, Sendable {
    public var type: String
    public var url: URL
    public var status: ACMEStatus
    public var token: String?
    public var validated: String?
    public var error: ACMEProblem?
}

/// An account (RFC 8555 §7.1.2), with its URL, the `kid` of later requests.
public struct ACMEAccount: Hashable, Sendable {
    public var url: URL
    public var status: ACMEStatus?
    public var contact: [String]
}

struct ACMEAccountBody: Codable {
    var status: ACMEStatus?
    var contact: [String]?
}
