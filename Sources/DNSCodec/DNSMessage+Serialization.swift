import NIOCore

extension DNSMessage {
    /// Appends the message in wire form to `buffer`, compressing names (RFC 1035 §4.1.4).
    ///
    /// Names are compressed in owner names and in the RDATA of NS, CNAME and SOA, the types
    /// RFC 3597 §4 allows; compression matches case-insensitively, so a later name may point
    /// at an earlier spelling of it with other case, as every server does.
    public func write(into buffer: inout ByteBuffer) throws {
        guard responseCode.rawValue <= 0x0F || edns != nil else {
            throw DNSCodecError(.invalidOPT, "response code \(responseCode) needs an OPT record to carry its upper bits")
        }
        let counts = [questions.count, answers.count, authorities.count, additionals.count + (edns == nil ? 0 : 1)]
        guard counts.allSatisfy({ $0 <= Int(UInt16.max) }) else {
            throw DNSCodecError(.messageTooLarge, "a section holds more than 65,535 entries")
        }
        var writer = DNSMessageWriter(buffer: buffer)
        var flagsHeader = header
        flagsHeader.responseCodeLow = UInt8(responseCode.rawValue & 0x0F)
        writer.writeUInt16(header.id)
        writer.writeUInt16(flagsHeader.flags)
        for count in counts { writer.writeUInt16(UInt16(count)) }
        for question in questions {
            writer.writeName(question.name)
            writer.writeUInt16(question.type.rawValue)
            writer.writeUInt16(question.questionClass.rawValue)
        }
        for record in answers { try writer.writeRecord(record) }
        for record in authorities { try writer.writeRecord(record) }
        for record in additionals { try writer.writeRecord(record) }
        if let edns { try writer.writeOPT(edns, responseCodeHigh: UInt8(responseCode.rawValue >> 4)) }
        guard writer.buffer.writerIndex - writer.start <= DNSMessage.maximumSize else {
            throw DNSCodecError(.messageTooLarge, "message of \(writer.buffer.writerIndex - writer.start) bytes is over 65,535")
        }
        buffer = writer.buffer
    }

    /// The message in wire form.
    public func serialized() throws -> [UInt8] {
        var buffer = ByteBuffer()
        try write(into: &buffer)
        return Array(buffer.readableBytesView)
    }
}

/// Writes one message into a buffer, remembering where each name suffix was written.
struct DNSMessageWriter {
    var buffer: ByteBuffer
    /// Where the message starts in `buffer`: pointers count from here.
    let start: Int
    /// Offsets of name suffixes already written; keys compare case-insensitively.
    private var suffixOffsets: [DNSName: Int] = [:]

    /// Compression pointers have 14 bits.
    static let maximumPointerOffset = 0x3FFF

    init(buffer: ByteBuffer) {
        self.buffer = buffer
        self.start = buffer.writerIndex
    }

    mutating func writeUInt16(_ value: UInt16) { buffer.writeInteger(value) }
    mutating func writeUInt32(_ value: UInt32) { buffer.writeInteger(value) }

    mutating func writeName(_ name: DNSName, compress: Bool = true) {
        let wire = name.wireBytes
        var index = 0
        while wire[index] != 0 {
            if compress {
                let suffix = DNSName(uncheckedWireBytes: Array(wire[index...]))
                if let target = suffixOffsets[suffix] {
                    buffer.writeInteger(UInt16(0xC000) | UInt16(target))
                    return
                }
                let here = buffer.writerIndex - start
                if here <= Self.maximumPointerOffset { suffixOffsets[suffix] = here }
            }
            let labelEnd = index + 1 + Int(wire[index])
            buffer.writeBytes(wire[index..<labelEnd])
            index = labelEnd
        }
        buffer.writeInteger(UInt8(0))
    }

    mutating func writeRecord(_ record: DNSResourceRecord) throws {
        writeName(record.name)
        writeUInt16(record.type.rawValue)
        writeUInt16(record.recordClass.rawValue)
        writeUInt32(record.ttl)
        try writeLengthPrefixed { writer in writer.writeRecordData(record.data) }
    }

    mutating func writeOPT(_ edns: EDNS, responseCodeHigh: UInt8) throws {
        buffer.writeInteger(UInt8(0))
        writeUInt16(DNSRecordType.opt.rawValue)
        writeUInt16(edns.udpPayloadSize)
        var flags = UInt32(responseCodeHigh) << 24 | UInt32(edns.version) << 16 | UInt32(edns.reservedFlags & 0x7FFF)
        if edns.dnssecOK { flags |= 0x8000 }
        writeUInt32(flags)
        try writeLengthPrefixed { writer in
            for option in edns.options {
                writer.writeUInt16(option.code)
                writer.writeUInt16(UInt16(clamping: option.data.count))
                writer.buffer.writeBytes(option.data)
            }
        }
    }

    private mutating func writeRecordData(_ data: DNSRecordData) {
        switch data {
        case .a(let address):
            buffer.writeBytes(address.bytes)
        case .aaaa(let address):
            buffer.writeBytes(address.bytes)
        case .ns(let name), .cname(let name):
            writeName(name)
        case .soa(let soa):
            writeName(soa.primaryNameServer)
            writeName(soa.responsibleMailbox)
            for value in [soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum] { writeUInt32(value) }
        case .txt(let txt):
            for string in txt.strings {
                buffer.writeInteger(UInt8(string.count))
                buffer.writeBytes(string)
            }
        case .caa(let caa):
            buffer.writeInteger(caa.flags)
            buffer.writeInteger(UInt8(caa.tag.utf8.count))
            buffer.writeString(caa.tag)
            buffer.writeBytes(caa.value)
        case .unknown(_, let bytes):
            buffer.writeBytes(bytes)
        }
    }

    /// Writes RDLENGTH, then the body, then goes back to fill the length in.
    private mutating func writeLengthPrefixed(_ body: (inout DNSMessageWriter) -> Void) throws {
        let lengthAt = buffer.writerIndex
        writeUInt16(0)
        body(&self)
        let length = buffer.writerIndex - lengthAt - 2
        guard length <= Int(UInt16.max) else { throw DNSCodecError(.messageTooLarge, "RDATA of \(length) bytes is over 65,535") }
        buffer.setInteger(UInt16(length), at: lengthAt)
    }
}
