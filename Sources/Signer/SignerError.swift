/// Why the signer cannot start or run: bad configuration (with the file's line when known),
/// an unusable account key, a listener that cannot bind. Per-request failures are `Problem`s.
public struct SignerError: Error, Sendable, CustomStringConvertible {
    public let code: Code
    public let message: String
    /// The configuration file's line at fault, when the error is about one.
    public let line: Int?
    public let location: String

    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// The configuration file is unreadable, not TOML, or has a wrong value.
        public static let configuration = Code("configuration")
        /// The ACME account key cannot be read or written.
        public static let accountKey = Code("accountKey")
        /// A listener could not be opened.
        public static let bindFailed = Code("bindFailed")

        public var description: String { name }
    }

    public init(_ code: Code, _ message: String, line: Int? = nil, file: String = #fileID, lineInSource: Int = #line) {
        self.code = code
        self.message = message
        self.line = line
        self.location = "\(file):\(lineInSource)"
    }

    public var description: String {
        if let line { return "line \(line): \(message)" }
        return message
    }
}
