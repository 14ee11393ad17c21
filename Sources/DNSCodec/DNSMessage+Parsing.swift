import NIOCore

extension DNSMessage {
    /// Parses the readable bytes of `buffer` as one whole message; the buffer is not consumed.
    ///
    /// Every count, length and pointer is checked against the bytes present, so a hostile packet
    /// costs at most its own size in memory and ends in a `DNSCodecError`, never a trap.
    public init(parsing buffer: ByteBuffer) throws {
        self = try buffer.withUnsafeReadableBytes { bytes in
            var reader = DNSMessageReader(bytes: bytes)
            return try reader.readMessage()
        }
    }

    public init(parsing bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { raw in
            var reader = DNSMessageReader(bytes: raw)
            return try reader.readMessage()
        }
    }
}

/// A cursor over one message. Offsets are relative to the message's first byte, which is
/// what compression pointers count from.
struct DNSMessageReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0
    /// The upper eight RCODE bits from the OPT record's TTL field.
    private var extendedResponseCodeHigh: UInt8 = 0

    /// The smallest a question (root name, type, class) and a record (root name, type, class, TTL, RDLENGTH) can be.
    static let minimumQuestionSize = 5
    static let minimumRecordSize = 11

    init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    mutating func readMessage() throws -> DNSMessage {
        let id = try readUInt16()
        let header = DNSHeader(id: id, flags: try readUInt16())
        let questionCount = Int(try readUInt16())
        let answerCount = Int(try readUInt16())
        let authorityCount = Int(try readUInt16())
        let additionalCount = Int(try readUInt16())
        let needed = questionCount * Self.minimumQuestionSize
            + (answerCount + authorityCount + additionalCount) * Self.minimumRecordSize
        guard needed <= bytes.count - offset else {
            throw DNSCodecError(
                .countsExceedMessage,
                "header counts \(questionCount)/\(answerCount)/\(authorityCount)/\(additionalCount) need at least \(needed) bytes, \(bytes.count - offset) remain",
                offset: 4)
        }

        var message = DNSMessage(header: header)
        message.questions.reserveCapacity(questionCount)
        for _ in 0..<questionCount {
            let name = try readName()
            let type = DNSRecordType(rawValue: try readUInt16())
            let questionClass = DNSClass(rawValue: try readUInt16())
            message.questions.append(DNSQuestion(name: name, type: type, questionClass: questionClass))
        }
        message.answers = try readRecords(answerCount, section: "answer", into: &message)
        message.authorities = try readRecords(authorityCount, section: "authority", into: &message)
        message.additionals = try readRecords(additionalCount, section: "additional", into: &message)
        if message.edns != nil {
            message.responseCode = DNSResponseCode(rawValue: UInt16(extendedResponseCodeHigh) << 4 | UInt16(header.responseCodeLow))
        }
        return message
    }

    private mutating func readRecords(_ count: Int, section: String, into message: inout DNSMessage) throws -> [DNSResourceRecord] {
        var records: [DNSResourceRecord] = []
        records.reserveCapacity(count)
        for _ in 0..<count {
            let start = offset
            let name = try readName()
            let type = DNSRecordType(rawValue: try readUInt16())
            let rawClass = try readUInt16()
            let ttl = try readUInt32()
            let length = Int(try readUInt16())
            guard length <= bytes.count - offset else {
                throw DNSCodecError(.truncated, "RDATA of \(length) bytes runs past the message", offset: offset)
            }
            let end = offset + length
            if type == .opt {
                guard section == "additional" else { throw DNSCodecError(.invalidOPT, "OPT record in the \(section) section", offset: start) }
                guard message.edns == nil else { throw DNSCodecError(.invalidOPT, "more than one OPT record", offset: start) }
                guard name.isRoot else { throw DNSCodecError(.invalidOPT, "OPT record not owned by the root", offset: start) }
                message.edns = try readEDNS(payloadSize: rawClass, ttl: ttl, end: end)
                continue
            }
            let data = try readRecordData(type: type, end: end)
            guard offset == end else {
                throw DNSCodecError(.rdataLengthMismatch, "\(type) RDATA is \(length) bytes but its fields take \(offset - (end - length))", offset: end - length)
            }
            records.append(DNSResourceRecord(name: name, recordClass: DNSClass(rawValue: rawClass), ttl: ttl, data: data))
        }
        return records
    }

    private mutating func readRecordData(type: DNSRecordType, end: Int) throws -> DNSRecordData {
        switch type {
        case .a:
            return .a(IPv4Address(bytes: try readBytes(4, before: end))!)  // readBytes gives exactly 4 or throws
        case .aaaa:
            return .aaaa(IPv6Address(bytes: try readBytes(16, before: end))!)  // exactly 16 or throws
        case .ns:
            return .ns(try readName(before: end))
        case .cname:
            return .cname(try readName(before: end))
        case .soa:
            let primary = try readName(before: end)
            let mailbox = try readName(before: end)
            guard end - offset >= 20 else { throw DNSCodecError(.rdataLengthMismatch, "SOA RDATA too short for its five counters", offset: offset) }
            return .soa(SOARecord(
                primaryNameServer: primary, responsibleMailbox: mailbox, serial: try readUInt32(),
                refresh: try readUInt32(), retry: try readUInt32(), expire: try readUInt32(), minimum: try readUInt32()))
        case .txt:
            var strings: [[UInt8]] = []
            while offset < end {
                let length = Int(bytes[offset])
                offset += 1
                strings.append(try readBytes(length, before: end))
            }
            guard !strings.isEmpty else { throw DNSCodecError(.rdataLengthMismatch, "TXT RDATA with no string", offset: offset) }
            return .txt(try TXTRecord(strings: strings))
        case .caa:
            let flags = try readBytes(1, before: end)[0]
            let tagLength = Int(try readBytes(1, before: end)[0])
            let tag = try readBytes(tagLength, before: end)
            guard (1...15).contains(tag.count), tag.allSatisfy(CAARecord.isTagByte) else {
                throw DNSCodecError(.rdataLengthMismatch, "CAA tag must be 1 to 15 letters or digits", offset: offset)
            }
            let value = try readBytes(end - offset, before: end)
            return .caa(try CAARecord(flags: flags, tag: String(decoding: tag, as: UTF8.self), value: value))
        default:
            return .unknown(type: type, bytes: try readBytes(end - offset, before: end))
        }
    }

    private mutating func readEDNS(payloadSize: UInt16, ttl: UInt32, end: Int) throws -> EDNS {
        var edns = EDNS(
            udpPayloadSize: payloadSize, version: UInt8((ttl >> 16) & 0xFF),
            dnssecOK: ttl & 0x8000 != 0, reservedFlags: UInt16(ttl & 0x7FFF))
        extendedResponseCodeHigh = UInt8(ttl >> 24)
        while offset < end {
            guard end - offset >= 4 else { throw DNSCodecError(.invalidOPT, "EDNS option header cut short", offset: offset) }
            let code = try readUInt16()
            let length = Int(try readUInt16())
            edns.options.append(EDNS.Option(code: code, data: try readBytes(length, before: end)))
        }
        return edns
    }

    // MARK: Primitives

    mutating func readUInt16() throws -> UInt16 {
        guard bytes.count - offset >= 2 else { throw DNSCodecError(.truncated, "message ends inside a 16-bit field", offset: offset) }
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    mutating func readUInt32() throws -> UInt32 {
        guard bytes.count - offset >= 4 else { throw DNSCodecError(.truncated, "message ends inside a 32-bit field", offset: offset) }
        defer { offset += 4 }
        return UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }

    private mutating func readBytes(_ count: Int, before end: Int) throws -> [UInt8] {
        guard count <= end - offset else {
            throw DNSCodecError(.rdataLengthMismatch, "field of \(count) bytes runs past its RDATA", offset: offset)
        }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    private mutating func readName(before end: Int) throws -> DNSName {
        let name = try readName()
        guard offset <= end else { throw DNSCodecError(.rdataLengthMismatch, "name runs past its RDATA", offset: offset) }
        return name
    }

    /// Reads a possibly compressed name. Each pointer must point strictly before the run of labels
    /// it ends, so every jump goes backwards and no pointer chain can loop or run forever.
    mutating func readName() throws -> DNSName {
        var wire: [UInt8] = []
        wire.reserveCapacity(32)
        var position = offset
        var runStart = offset
        var resumeAt: Int?
        while true {
            guard position < bytes.count else { throw DNSCodecError(.truncated, "message ends inside a name", offset: position) }
            let length = bytes[position]
            switch length & 0xC0 {
            case 0x00:
                if length == 0 {
                    wire.append(0)
                    offset = resumeAt ?? position + 1
                    return DNSName(uncheckedWireBytes: wire)
                }
                let labelEnd = position + 1 + Int(length)
                guard labelEnd <= bytes.count else { throw DNSCodecError(.truncated, "message ends inside a label", offset: position) }
                guard wire.count + 1 + Int(length) + 1 <= DNSName.maximumWireLength else {
                    throw DNSCodecError(.nameTooLong, "name longer than 255 bytes", offset: position)
                }
                wire.append(contentsOf: bytes[position..<labelEnd])
                position = labelEnd
            case 0xC0:
                guard position + 1 < bytes.count else { throw DNSCodecError(.truncated, "message ends inside a compression pointer", offset: position) }
                let target = Int(length & 0x3F) << 8 | Int(bytes[position + 1])
                guard target < bytes.count else {
                    throw DNSCodecError(.pointerOutOfRange, "compression pointer to byte \(target) of a \(bytes.count)-byte message", offset: position)
                }
                guard target < runStart else {
                    throw DNSCodecError(.pointerLoop, "compression pointer to byte \(target) does not point backwards", offset: position)
                }
                if resumeAt == nil { resumeAt = position + 2 }
                position = target
                runStart = target
            case 0x40:
                throw DNSCodecError(.labelTooLong, "label length byte 0x\(String(length, radix: 16)) is over 63 (extended label types are not supported)", offset: position)
            default:
                throw DNSCodecError(.badLabelType, "label type 0x\(String(length >> 6, radix: 16)) is reserved", offset: position)
            }
        }
    }
}
