/// Why a certificate, CSR or subject could not be read or does not satisfy a rule.
public struct CertificateSupportError: Error, Sendable, CustomStringConvertible {
    public let code: Code
    public let message: String
    public let location: String

    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// Neither PEM nor DER of the expected kind, or not parseable.
        public static let unreadable = Code("unreadable")
        /// A well-formed CSR whose key the X.509 library refuses to load (RSA under 2048 bits, say).
        public static let unsupportedKey = Code("unsupportedKey")
        /// The CSR is signed with a hash no public CA accepts (SHA-1, MD5).
        public static let unsupportedSignature = Code("unsupportedSignature")
        /// The CSR's self-signature does not verify with its own key.
        public static let badSignature = Code("badSignature")
        /// An RFC 4514 distinguished name that does not parse.
        public static let invalidDistinguishedName = Code("invalidDistinguishedName")
        /// A file or directory could not be created, written, synced or read.
        public static let fileSystem = Code("fileSystem")

        public var description: String { name }
    }

    public init(_ code: Code, _ message: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.location = "\(file):\(line)"
    }

    public var description: String { "CertificateSupportError.\(code): \(message)" }
}
