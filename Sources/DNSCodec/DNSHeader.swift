import NIOCore

/// The fixed 12-byte header, without its section counts: those follow from the sections.
///
/// Kept separate from the message so a server can read just the header of a packet whose
/// body is malformed and still answer FORMERR with the right ID.
public struct DNSHeader: Hashable, Sendable {
    public var id: UInt16
    public var isResponse: Bool
    public var opcode: DNSOpcode
    public var isAuthoritative: Bool
    public var isTruncated: Bool
    public var recursionDesired: Bool
    public var recursionAvailable: Bool
    /// The reserved Z bit; must be zero on send, ignored on receipt.
    public var zeroBit: Bool
    public var authenticData: Bool
    public var checkingDisabled: Bool
    /// The low four bits of the RCODE; `DNSMessage.responseCode` combines them with EDNS.
    public var responseCodeLow: UInt8

    public static let byteCount = 12

    public init(
        id: UInt16 = 0, isResponse: Bool = false, opcode: DNSOpcode = .query, isAuthoritative: Bool = false,
        isTruncated: Bool = false, recursionDesired: Bool = false, recursionAvailable: Bool = false,
        zeroBit: Bool = false, authenticData: Bool = false, checkingDisabled: Bool = false, responseCodeLow: UInt8 = 0
    ) {
        self.id = id
        self.isResponse = isResponse
        self.opcode = opcode
        self.isAuthoritative = isAuthoritative
        self.isTruncated = isTruncated
        self.recursionDesired = recursionDesired
        self.recursionAvailable = recursionAvailable
        self.zeroBit = zeroBit
        self.authenticData = authenticData
        self.checkingDisabled = checkingDisabled
        self.responseCodeLow = responseCodeLow & 0x0F
    }

    /// The 16 flag bits as they stand on the wire after the ID.
    public var flags: UInt16 {
        var value = UInt16(opcode.rawValue) << 11 | UInt16(responseCodeLow & 0x0F)
        if isResponse { value |= 0x8000 }
        if isAuthoritative { value |= 0x0400 }
        if isTruncated { value |= 0x0200 }
        if recursionDesired { value |= 0x0100 }
        if recursionAvailable { value |= 0x0080 }
        if zeroBit { value |= 0x0040 }
        if authenticData { value |= 0x0020 }
        if checkingDisabled { value |= 0x0010 }
        return value
    }

    public init(id: UInt16, flags: UInt16) {
        self.init(
            id: id,
            isResponse: flags & 0x8000 != 0,
            opcode: DNSOpcode(rawValue: UInt8((flags >> 11) & 0x0F)),
            isAuthoritative: flags & 0x0400 != 0,
            isTruncated: flags & 0x0200 != 0,
            recursionDesired: flags & 0x0100 != 0,
            recursionAvailable: flags & 0x0080 != 0,
            zeroBit: flags & 0x0040 != 0,
            authenticData: flags & 0x0020 != 0,
            checkingDisabled: flags & 0x0010 != 0,
            responseCodeLow: UInt8(flags & 0x000F)
        )
    }

    /// Reads the header at the buffer's reader index without moving it; `nil` when fewer than 12 bytes.
    public init?(peekingAt buffer: ByteBuffer) {
        guard let id = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self),
              let flags = buffer.getInteger(at: buffer.readerIndex + 2, as: UInt16.self),
              buffer.readableBytes >= Self.byteCount
        else { return nil }
        self.init(id: id, flags: flags)
    }
}
