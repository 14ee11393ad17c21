/// Why the DNS server or its zone store refused a request or could not start.
public struct DNSServerError: Error, Hashable, Sendable, CustomStringConvertible {
    public let code: Code
    public let message: String
    public let location: String

    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String, Sendable {
            case invalidConfiguration, outsideZones, tooManyValues, valueTooLong, bindFailed, peerRefused
        }
        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// A zone or listener setting is contradictory or out of range.
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// A name given to the zone store lies in no configured zone.
        public static let outsideZones = Code(.outsideZones)
        /// A name already holds the most TXT values the store keeps for one name.
        public static let tooManyValues = Code(.tooManyValues)
        /// A TXT value is longer than the store accepts.
        public static let valueTooLong = Code(.valueTooLong)
        /// A listening socket could not be opened.
        public static let bindFailed = Code(.bindFailed)
        /// Another DNS server (a secondary, a primary) refused or mangled what we sent it.
        public static let peerRefused = Code(.peerRefused)

        public var description: String { kind.rawValue }
    }

    init(_ code: Code, _ message: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.location = "\(file):\(line)"
    }

    public var description: String { "DNSServerError.\(code): \(message)" }

    /// Equal when the codes are: the message and the location are for people, not for matching.
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
