/// Why a certificate and key were not taken into service; the identity in service stays.
public struct ReloadableTLSError: Error, Hashable, Sendable, CustomStringConvertible {
    public let code: Code
    public let message: String
    /// Where it was raised (`#fileID:#line`), for logs and bug reports, never for users.
    public let location: String

    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String, Sendable {
            case unreadable, mismatch
        }
        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// A file is missing, or a certificate or key does not parse.
        public static let unreadable = Code(.unreadable)
        /// The key is not the certificate's.
        public static let mismatch = Code(.mismatch)

        public var description: String { kind.rawValue }
    }

    public init(_ code: Code, _ message: String, file: String = #fileID, line: Int = #line) {
        self.location = "\(file):\(line)"
        self.code = code
        self.message = message
    }

    public var description: String { "ReloadableTLSError.\(code): \(message)" }

    /// Equal when the codes are: the message and the location are for people, not for matching.
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
