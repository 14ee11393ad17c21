/// Why an agent command failed, and so what the caller should do: the CLI maps each code to
/// one documented exit status (see `AgentCLI/ExitStatus.swift`).
public struct AgentError: Error, Hashable, Sendable, CustomStringConvertible {
    public let code: Code
    public let message: String
    /// Where it was raised (`#fileID:#line`), for logs and bug reports, never for users.
    public let location: String
    /// When the signer said to come back, in seconds.
    public let retryAfterSeconds: Int?

    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String, Sendable {
            case configuration, refused, unreachable, temporary, cannotWrite, insecureKey, unsafeFile, badAnswer, reloadFailed
        }
        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// The configuration file or a flag is wrong.
        public static let configuration = Code(.configuration)
        /// The signer refused the request (4xx other than 429): retrying will not help.
        public static let refused = Code(.refused)
        /// The signer could not be reached, or its TLS certificate is not trusted.
        public static let unreachable = Code(.unreachable)
        /// A temporary failure (429, 503, the deadline): retry later.
        public static let temporary = Code(.temporary)
        /// The certificate files could not be written.
        public static let cannotWrite = Code(.cannotWrite)
        /// The key on disk is unsafe (readable by others) or unreadable.
        public static let insecureKey = Code(.insecureKey)
        /// A file or directory the agent would use is a link, a FIFO, a hard link, too large, or
        /// belongs to or is writable by someone else: refused, never followed.
        public static let unsafeFile = Code(.unsafeFile)
        /// The signer's answer is not a valid certificate for our key and names.
        public static let badAnswer = Code(.badAnswer)
        /// The certificate was installed but a reload method failed.
        public static let reloadFailed = Code(.reloadFailed)

        public var description: String { kind.rawValue }
    }

    public init(_ code: Code, _ message: String, retryAfterSeconds: Int? = nil, file: String = #fileID, line: Int = #line) {
        self.location = "\(file):\(line)"
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var description: String { message }

    /// Equal when the codes are: the message and the location are for people, not for matching.
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
