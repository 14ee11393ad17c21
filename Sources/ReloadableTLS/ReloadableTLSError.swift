/// Why a certificate and key were not taken into service; the identity in service stays.
public struct ReloadableTLSError: Error, Sendable, CustomStringConvertible {
    public let code: Code
    public let message: String

    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// A file is missing, or a certificate or key does not parse.
        public static let unreadable = Code("unreadable")
        /// The key is not the certificate's.
        public static let mismatch = Code("mismatch")

        public var description: String { name }
    }

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "ReloadableTLSError.\(code): \(message)" }
}
