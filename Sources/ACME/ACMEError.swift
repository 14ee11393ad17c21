import Foundation

/// Why an ACME operation failed, with the CA's problem document when it sent one.
///
/// `code` says what kind of failure it is and so what a caller should do: retry later
/// (`rateLimited`, `unavailable`, `deadlineExceeded`), give up on this request (`refused`,
/// `validationFailed`), or fix configuration (`invalidInput`).
public struct ACMEError: Error, Hashable, Sendable, CustomStringConvertible {
    public let code: Code
    public let message: String
    /// The CA's RFC 7807/9457 problem document, when the CA explained itself.
    public let problem: ACMEProblem?
    /// When the CA says to try again (`Retry-After` on 429 and 503), if it said.
    public let retryAfter: Date?
    public let location: String

    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String, Sendable {
            case refused, rateLimited, unavailable, validationFailed, deadlineExceeded
            case badNonceExhausted, protocolViolation, invalidInput
        }
        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// The CA answered with an error about this request (4xx other than rate limits and bad nonces).
        public static let refused = Code(.refused)
        /// The CA rate-limited the request; see `retryAfter`.
        public static let rateLimited = Code(.rateLimited)
        /// The CA could not be reached, timed out, or answered 5xx; see `retryAfter`.
        public static let unavailable = Code(.unavailable)
        /// The CA could not validate a challenge (the TXT record was absent or wrong).
        public static let validationFailed = Code(.validationFailed)
        /// The whole flow ran past its deadline.
        public static let deadlineExceeded = Code(.deadlineExceeded)
        /// The CA rejected every nonce offered, more times than the retry bound.
        public static let badNonceExhausted = Code(.badNonceExhausted)
        /// The CA's answer did not follow RFC 8555 (missing header, unparsable body, wrong status).
        public static let protocolViolation = Code(.protocolViolation)
        /// The caller asked for something impossible (an unknown profile, an empty order).
        public static let invalidInput = Code(.invalidInput)

        public var description: String { kind.rawValue }
    }

    init(_ code: Code, _ message: String, problem: ACMEProblem? = nil, retryAfter: Date? = nil, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.problem = problem
        self.retryAfter = retryAfter
        self.location = "\(file):\(line)"
    }

    /// True when trying the same thing later may succeed.
    public var isTransient: Bool {
        [.rateLimited, .unavailable, .deadlineExceeded, .badNonceExhausted].contains(code)
    }

    /// The CA refused `replaces` because that certificate was replaced already (RFC 9773 §5).
    public var isAlreadyReplaced: Bool {
        problem?.acmeErrorName == "alreadyReplaced"
    }

    public var description: String {
        var text = "ACMEError.\(code): \(message)"
        if let problem { text += " [\(problem)]" }
        if let retryAfter { text += " (retry after \(retryAfter))" }
        return text
    }

    /// Equal when the codes are: the message and the location are for people, not for matching.
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
