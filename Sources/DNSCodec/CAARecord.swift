/// CAA RDATA (RFC 8659 §4.1): which CAs may issue for a domain, and how.
public struct CAARecord: Hashable, Sendable {
    /// Bit 7 (0x80) is Issuer Critical; the other bits are reserved.
    public var flags: UInt8
    /// `issue`, `issuewild`, `iodef`, ...: 1 to 15 ASCII letters and digits.
    public var tag: String
    public var value: [UInt8]

    public init(flags: UInt8 = 0, tag: String, value: [UInt8]) throws {
        guard (1...15).contains(tag.utf8.count), tag.utf8.allSatisfy(Self.isTagByte) else {
            throw DNSCodecError(.invalidText, "CAA tag \"\(tag)\" must be 1 to 15 ASCII letters or digits")
        }
        self.flags = flags
        self.tag = tag
        self.value = value
    }

    public init(flags: UInt8 = 0, tag: String, value: String) throws {
        try self.init(flags: flags, tag: tag, value: Array(value.utf8))
    }

    /// Parses presentation form, as zone files and our configuration write it:
    /// `0 issue "letsencrypt.org; validationmethods=dns-01"`.
    public init(presentation text: String) throws {
        let trimmed = text.drop(while: { $0 == " " })
        let parts = trimmed.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        guard parts.count == 3, let flags = UInt8(parts[0]) else {
            throw DNSCodecError(.invalidText, "CAA record \"\(text)\" is not FLAGS TAG \"VALUE\"")
        }
        var value = String(parts[2])
        if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
            value = String(value.dropFirst().dropLast())
        }
        try self.init(flags: flags, tag: String(parts[1]), value: value)
    }

    public var isIssuerCritical: Bool { flags & 0x80 != 0 }

    static func isTagByte(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}

extension CAARecord: CustomStringConvertible {
    public var description: String { "\(flags) \(tag) \"\(String(decoding: value, as: UTF8.self))\"" }
}
