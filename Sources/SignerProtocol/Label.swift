import Algorithms
/// A `key=value` label an installer attaches to a request, for segmenting logs and metrics
/// (product, version, channel). Bounded on both sides so labels cannot blow up metric cardinality
/// or log lines: at most 4 per request, keys of 1–32 characters `[a-z0-9_]` starting with a
/// letter, values of 1–64 characters `[A-Za-z0-9._-]`.
public struct Label: Sendable, Hashable, CustomStringConvertible {
    public let key: String
    public let value: String

    public static let maximumCount = 4
    public static let maximumKeyLength = 32
    public static let maximumValueLength = 64

    public init(key: String, value: String) throws(LabelError) {
        guard (1...Self.maximumKeyLength).contains(key.utf8.count),
              let first = key.utf8.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first),
              key.utf8.allSatisfy(Self.isKeyByte)
        else {
            throw LabelError(.malformed, "label key \"\(key.prefix(40))\" must be 1-\(Self.maximumKeyLength) characters of a-z, 0-9 and _, starting with a letter")
        }
        guard (1...Self.maximumValueLength).contains(value.utf8.count), value.utf8.allSatisfy(Self.isValueByte) else {
            throw LabelError(.malformed, "label \(key) has value \"\(value.prefix(70))\"; values must be 1-\(Self.maximumValueLength) characters of A-Z, a-z, 0-9, '.', '_' and '-'")
        }
        self.key = key
        self.value = value
    }

    /// Parses one header value, `key=value`.
    public init(header: String) throws(LabelError) {
        let trimmed = header.trimming(while: { $0 == " " })  // HTTP allows spaces around header values
        guard let equals = trimmed.firstIndex(of: "=") else {
            throw LabelError(.malformed, "label \"\(trimmed.prefix(40))\" is not key=value")
        }
        try self.init(key: String(trimmed[..<equals]), value: String(trimmed[trimmed.index(after: equals)...]))
    }

    /// Parses every label header of a request, refusing too many or a key given twice.
    public static func parse(headers: [String]) throws(LabelError) -> [Label] {
        guard headers.count <= maximumCount else {
            throw LabelError(.tooMany, "\(headers.count) labels sent; at most \(maximumCount) are accepted")
        }
        var labels: [Label] = []
        for header in headers {
            let label = try Label(header: header)
            guard !labels.contains(where: { $0.key == label.key }) else {
                throw LabelError(.repeated, "label \(label.key) is given twice")
            }
            labels.append(label)
        }
        return labels.sorted { $0.key < $1.key }
    }

    public var description: String { "\(key)=\(value)" }

    private static func isKeyByte(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
    }

    private static func isValueByte(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || [UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-")].contains(byte)
    }
}

/// Why a label was refused; the message is meant for the installer's author.
public struct LabelError: Error, Hashable, Sendable, CustomStringConvertible {
    public let code: Code
    public let message: String
    public let location: String

    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String, Sendable {
            case malformed, tooMany, repeated
        }
        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// A key or value breaks the character rules, or the header is not key=value.
        public static let malformed = Code(.malformed)
        /// More labels than a request may carry.
        public static let tooMany = Code(.tooMany)
        /// The same key twice.
        public static let repeated = Code(.repeated)

        public var description: String { kind.rawValue }
    }

    init(_ code: Code, _ message: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.location = "\(file):\(line)"
    }

    public var description: String { message }

    /// Equal when the codes are: the message and the location are for people, not for matching.
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
