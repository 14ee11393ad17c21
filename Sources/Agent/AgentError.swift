/// Why an agent command failed, and so what the caller should do: the CLI maps each code to
/// one documented exit status (see `AgentCLI/ExitStatus.swift`).
public struct AgentError: Error, Sendable, CustomStringConvertible {
    public let code: Code
    public let message: String
    /// When the signer said to come back, in seconds.
    public let retryAfterSeconds: Int?

    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// The configuration file or a flag is wrong.
        public static let configuration = Code("configuration")
        /// The signer refused the request (4xx other than 429): retrying will not help.
        public static let refused = Code("refused")
        /// The signer could not be reached, or its TLS certificate is not trusted.
        public static let unreachable = Code("unreachable")
        /// A temporary failure (429, 503, the deadline): retry later.
        public static let temporary = Code("temporary")
        /// The certificate files could not be written.
        public static let cannotWrite = Code("cannotWrite")
        /// The key on disk is unsafe (readable by others) or unreadable.
        public static let insecureKey = Code("insecureKey")
        /// A file or directory the agent would use is a link, a FIFO, a hard link, too large, or
        /// belongs to or is writable by someone else: refused, never followed.
        public static let unsafeFile = Code("unsafeFile")
        /// The signer's answer is not a valid certificate for our key and names.
        public static let badAnswer = Code("badAnswer")
        /// The certificate was installed but a reload method failed.
        public static let reloadFailed = Code("reloadFailed")

        public var description: String { name }
    }

    public init(_ code: Code, _ message: String, retryAfterSeconds: Int? = nil) {
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var description: String { message }
}
