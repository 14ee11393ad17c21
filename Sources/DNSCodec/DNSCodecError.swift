/// Why a DNS message or one of its parts could not be read or written.
///
/// One error type for the whole codec, in the manner of swift-certificates' `CertificateError`:
/// an opaque `code` to switch on, a human `message`, and where it was raised.
public struct DNSCodecError: Error, Hashable, Sendable, CustomStringConvertible {
    public let code: Code
    public let message: String
    /// Byte offset in the message where reading failed, when known.
    public let offset: Int?
    public let location: String

    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String, Sendable {
            case truncated, pointerLoop, pointerOutOfRange, badLabelType, labelTooLong, nameTooLong
            case countsExceedMessage, rdataLengthMismatch, invalidOPT, invalidText, messageTooLarge
        }
        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// The message ends before a field it announces.
        public static let truncated = Code(.truncated)
        /// A compression pointer does not point strictly backwards, so following it could loop.
        public static let pointerLoop = Code(.pointerLoop)
        /// A compression pointer points past the end of the message.
        public static let pointerOutOfRange = Code(.pointerOutOfRange)
        /// A label length byte uses the reserved 0x40 or 0x80 prefixes.
        public static let badLabelType = Code(.badLabelType)
        /// A label is longer than 63 bytes.
        public static let labelTooLong = Code(.labelTooLong)
        /// A name is longer than 255 bytes in wire form.
        public static let nameTooLong = Code(.nameTooLong)
        /// The header counts more questions or records than the remaining bytes could hold.
        public static let countsExceedMessage = Code(.countsExceedMessage)
        /// RDATA is shorter or longer than its type's fields.
        public static let rdataLengthMismatch = Code(.rdataLengthMismatch)
        /// An OPT record is misplaced, repeated, or not owned by the root.
        public static let invalidOPT = Code(.invalidOPT)
        /// A name, address or record in presentation (text) form is not valid.
        public static let invalidText = Code(.invalidText)
        /// A message would not fit the 65,535 bytes DNS allows.
        public static let messageTooLarge = Code(.messageTooLarge)

        public var description: String { kind.rawValue }
    }

    init(_ code: Code, _ message: String, offset: Int? = nil, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.offset = offset
        self.location = "\(file):\(line)"
    }

    public var description: String {
        if let offset { return "DNSCodecError.\(code) at byte \(offset): \(message)" }
        return "DNSCodecError.\(code): \(message)"
    }

    /// Equal when the codes are: the message and the location are for people, not for matching.
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
