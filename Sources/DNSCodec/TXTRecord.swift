/// TXT RDATA: one or more character-strings of at most 255 bytes each (RFC 1035 §3.3.14).
public struct TXTRecord: Hashable, Sendable {
    public let strings: [[UInt8]]

    public static let maximumStringLength = 255

    /// Checks each string's length; RDATA needs at least one string, possibly empty.
    public init(strings: [[UInt8]]) throws {
        guard !strings.isEmpty else { throw DNSCodecError(.invalidText, "TXT RDATA needs at least one string") }
        guard strings.allSatisfy({ $0.count <= Self.maximumStringLength }) else {
            throw DNSCodecError(.invalidText, "a TXT character-string is longer than 255 bytes")
        }
        self.strings = strings
    }

    /// One logical value, split into 255-byte strings when it is longer (RFC 7208 §3.3 style).
    public init(value: String) {
        let bytes = Array(value.utf8)
        if bytes.isEmpty {
            self.strings = [[]]
        } else {
            self.strings = stride(from: 0, to: bytes.count, by: Self.maximumStringLength).map {
                Array(bytes[$0..<min($0 + Self.maximumStringLength, bytes.count)])
            }
        }
    }

    /// The strings joined, as consumers such as ACME validators read a value.
    public var value: String { String(decoding: strings.joined(), as: UTF8.self) }
}
