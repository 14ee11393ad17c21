#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An RFC 9457 problem document: what the signer answers instead of a certificate.
///
/// `type` is stable per case (see `ProblemType`) so an installer can branch on it; `detail`
/// is for the person reading the installer's output and says what to do next.
public struct Problem: Codable, Sendable, Hashable, Error, CustomStringConvertible {
    public var type: String
    public var title: String
    public var status: Int
    public var detail: String
    /// For `names-not-allowed` and `subject-not-allowed`: the names the zone does allow.
    public var allowedNames: [String]?
    /// For `ca-refused`: the CA's own problem type, sanitised to a URN.
    public var caProblemType: String?
    /// When the client may try again, for the transport to carry (HTTP's `Retry-After`); not
    /// part of the JSON document.
    public var retryAfterSeconds: Int?

    public init(_ type: ProblemType, detail: String, allowedNames: [String]? = nil, caProblemType: String? = nil, retryAfterSeconds: Int? = nil) {
        self.type = type.uri
        self.title = type.title
        self.status = type.status
        self.detail = detail
        self.allowedNames = allowedNames
        self.caProblemType = caProblemType
        self.retryAfterSeconds = retryAfterSeconds
    }

    /// The case this document is, when it is one of ours.
    public var problemType: ProblemType? { ProblemType.all.first { $0.uri == type } }

    enum CodingKeys: String, CodingKey {
        case type, title, status, detail
        case allowedNames = "allowed_names"
        case caProblemType = "ca_problem_type"
    }

    /// The media type RFC 9457 §3 registers.
    public static let mediaType = "application/problem+json"

    public var description: String { "\(status) \(title): \(detail)" }
}
