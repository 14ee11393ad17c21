/// Why a certificate, CSR or subject could not be read or does not satisfy a rule.
public struct CertificateSupportError: Error, Hashable, Sendable, CustomStringConvertible {
    public let code: Code
    public let message: String
    public let location: String

    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String, Sendable {
            case unreadable, unsupportedKey, unsupportedSignature, badSignature, invalidDistinguishedName, fileSystem
        }
        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// Neither PEM nor DER of the expected kind, or not parseable.
        public static let unreadable = Code(.unreadable)
        /// A well-formed CSR whose key the X.509 library refuses to load (RSA under 2048 bits, say).
        public static let unsupportedKey = Code(.unsupportedKey)
        /// The CSR is signed with a hash no public CA accepts (SHA-1, MD5).
        public static let unsupportedSignature = Code(.unsupportedSignature)
        /// The CSR's self-signature does not verify with its own key.
        public static let badSignature = Code(.badSignature)
        /// An RFC 4514 distinguished name that does not parse.
        public static let invalidDistinguishedName = Code(.invalidDistinguishedName)
        /// A file or directory could not be created, written, synced or read.
        public static let fileSystem = Code(.fileSystem)

        public var description: String { kind.rawValue }
    }

    public init(_ code: Code, _ message: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.location = "\(file):\(line)"
    }

    public var description: String { "CertificateSupportError.\(code): \(message)" }

    /// Equal when the codes are: the message and the location are for people, not for matching.
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
