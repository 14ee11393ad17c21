/// Why the signer cannot start or run: bad configuration (with the file's line when known),
/// an unusable account key, a listener that cannot bind. Per-request failures are `Problem`s.
public struct SignerError: Error, Hashable, Sendable, CustomStringConvertible {
    public let code: Code
    public let message: String
    /// The configuration file's line at fault, when the error is about one.
    public let configurationLine: Int?
    /// What a requester may be told of it, when the kind alone says too little. `message` is
    /// for the log and the operator: it names hosts, keys and database errors, which an
    /// anonymous requester must never see.
    public let publicDetail: String?
    public let location: String

    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String, Sendable {
            case configuration, accountKey, stateFile, bindFailed, dnsPublishing, stateUnavailable
        }
        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// The configuration file is unreadable, not TOML, or has a wrong value.
        public static let configuration = Code(.configuration)
        /// The ACME account key cannot be read or written.
        public static let accountKey = Code(.accountKey)
        /// A file in the state directory (the issuance ledger) cannot be written.
        public static let stateFile = Code(.stateFile)
        /// A listener could not be opened.
        public static let bindFailed = Code(.bindFailed)
        /// A challenge value could not be published: a nameserver did not serve it in time, or
        /// the external primary refused the update.
        public static let dnsPublishing = Code(.dnsPublishing)
        /// The shared state (PostgreSQL) cannot be reached or is not as this signer expects.
        public static let stateUnavailable = Code(.stateUnavailable)

        public var description: String { kind.rawValue }
    }

    public init(_ code: Code, _ message: String, configurationLine: Int? = nil, publicDetail: String? = nil, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.configurationLine = configurationLine
        self.publicDetail = publicDetail
        self.location = "\(file):\(line)"
    }

    public var description: String {
        if let configurationLine { return "line \(configurationLine): \(message)" }
        return message
    }

    /// Equal when the codes are: the message and the location are for people, not for matching.
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
