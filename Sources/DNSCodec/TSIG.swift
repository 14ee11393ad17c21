import Crypto

/// A TSIG key (RFC 8945): its name, algorithm and shared secret.
public struct TSIGKey: Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public enum Algorithm: String, Sendable, CaseIterable {
        case hmacSHA256 = "hmac-sha256"
        case hmacSHA512 = "hmac-sha512"

        /// The algorithm's name on the wire (RFC 8945 §6).
        var name: DNSName {
            // Literal ASCII labels: always a valid name.
            (try? DNSName(rawValue)) ?? .root
        }
    }

    public let name: DNSName
    public let algorithm: Algorithm
    public let secret: [UInt8]

    /// At least 16 bytes of secret: RFC 8945 §6.2 asks for keys as long as the hash's output;
    /// shorter ones are refused rather than used.
    public init(name: DNSName, algorithm: Algorithm, secret: [UInt8]) throws {
        guard secret.count >= 16 else {
            throw DNSCodecError(.invalidText, "TSIG key \(name) has a secret of \(secret.count) bytes; use at least 32 (e.g. `keymgr -t NAME hmac-sha256`)")
        }
        self.name = name.lowercased
        self.algorithm = algorithm
        self.secret = secret
    }

    /// The name and algorithm only: a key printed into a log must not carry its secret.
    public var description: String { "TSIGKey(\(name), \(algorithm.rawValue))" }
    public var debugDescription: String { description }

    func mac(_ data: [UInt8]) -> [UInt8] {
        let key = SymmetricKey(data: secret)
        return switch algorithm {
        case .hmacSHA256: Array(HMAC<SHA256>.authenticationCode(for: data, using: key))
        case .hmacSHA512: Array(HMAC<SHA512>.authenticationCode(for: data, using: key))
        }
    }
}

/// Signing and checking DNS messages with TSIG (RFC 8945), on their wire form: the MAC covers
/// the bytes exactly as sent, so it is computed on bytes, not on a parsed message.
public enum TSIG {
    /// RFC 8945 §5.2 error codes, carried in the TSIG record and as the answer's RCODE context.
    public enum Failure: UInt16, Sendable, Error {
        case badSignature = 16
        case badKey = 17
        case badTime = 18
        case badTruncation = 22
        /// The TSIG record itself is malformed or not last: FORMERR.
        case malformed = 1
    }

    /// A checked message: who signed it, its MAC (the answer's MAC covers it), and when.
    public struct Signed: Sendable {
        public let key: TSIGKey
        public let mac: [UInt8]
        public let timeSigned: UInt64
        /// The message with the TSIG record removed and ARCOUNT and ID restored.
        public let message: [UInt8]
    }

    /// The default allowed clock difference (RFC 8945 §10: 300 s).
    public static let defaultFudge: UInt16 = 300

    /// Appends a TSIG record to `message` (wire form, without one) and returns the signed
    /// message and its MAC. For an answer, `requestMAC` is the query's MAC; for the second and
    /// later messages of a TCP transfer, pass the previous message's MAC as `requestMAC` and
    /// `timersOnly: true` (RFC 8945 §5.3.1).
    public static func sign(
        _ message: [UInt8], with key: TSIGKey, timeSigned: UInt64, fudge: UInt16 = defaultFudge,
        requestMAC: [UInt8]? = nil, timersOnly: Bool = false, error: UInt16 = 0, otherData: [UInt8] = []
    ) throws -> (message: [UInt8], mac: [UInt8]) {
        guard message.count >= DNSHeader.byteCount else { throw DNSCodecError(.truncated, "a DNS message has a 12-byte header") }
        let originalID = UInt16(message[0]) << 8 | UInt16(message[1])
        var digest: [UInt8] = []
        if let requestMAC { digest += be16(requestMAC.count) + requestMAC }
        digest += message
        if timersOnly {
            digest += be48(timeSigned) + be16(Int(fudge))
        } else {
            digest += variables(key: key, timeSigned: timeSigned, fudge: fudge, error: error, otherData: otherData)
        }
        let mac = key.mac(digest)

        var rdata = key.algorithm.name.lowercased.wireBytes
        rdata += be48(timeSigned) + be16(Int(fudge)) + be16(mac.count) + mac
        rdata += be16(Int(originalID)) + be16(Int(error)) + be16(otherData.count) + otherData
        var signed = message
        let arcount = (Int(signed[10]) << 8 | Int(signed[11])) + 1
        guard arcount <= 0xFFFF else { throw DNSCodecError(.messageTooLarge, "too many additional records to add TSIG") }
        signed[10] = UInt8(arcount >> 8)
        signed[11] = UInt8(arcount & 0xFF)
        signed += key.name.wireBytes + be16(Int(DNSRecordType.tsig.rawValue)) + be16(255) + [0, 0, 0, 0] + be16(rdata.count) + rdata
        guard signed.count <= 65_535 else { throw DNSCodecError(.messageTooLarge, "the signed message is over 65,535 bytes") }
        return (signed, mac)
    }

    /// Checks the TSIG record at the end of `message`. Nil when the message carries none;
    /// otherwise the signer, or the failure to answer with (BADKEY for an unknown key or
    /// algorithm, BADSIG for a wrong MAC, BADTIME outside the fudge, FORMERR when malformed).
    public static func verify(
        _ message: [UInt8], keys: [TSIGKey], now: UInt64, requestMAC: [UInt8]? = nil, timersOnly: Bool = false
    ) -> Result<Signed, Failure>? {
        let last: Record?
        do { last = try lastRecord(in: message) } catch { return .failure(.malformed) }
        guard let record = last, record.type == DNSRecordType.tsig.rawValue else { return nil }
        guard record.class == 255, record.ttl == 0, let fields = try? Fields(record.rdata) else { return .failure(.malformed) }
        guard let key = keys.first(where: { $0.name == record.owner && $0.algorithm.name == fields.algorithm }) else {
            return .failure(.badKey)
        }
        // The message as it was before signing: TSIG removed, ARCOUNT one less, the original ID.
        var unsigned = Array(message[..<record.start])
        let arcount = (Int(unsigned[10]) << 8 | Int(unsigned[11])) - 1
        unsigned[10] = UInt8(arcount >> 8)
        unsigned[11] = UInt8(arcount & 0xFF)
        unsigned[0] = UInt8(fields.originalID >> 8)
        unsigned[1] = UInt8(fields.originalID & 0xFF)
        var digest: [UInt8] = []
        if let requestMAC { digest += be16(requestMAC.count) + requestMAC }
        digest += unsigned
        if timersOnly {
            digest += be48(fields.timeSigned) + be16(Int(fields.fudge))
        } else {
            digest += variables(key: key, timeSigned: fields.timeSigned, fudge: fields.fudge, error: fields.error, otherData: fields.otherData)
        }
        let expected = key.mac(digest)
        // RFC 8945 §5.2.2.1: a truncated MAC must keep at least half the hash and 10 bytes;
        // we send and accept only whole ones.
        guard fields.mac.count == expected.count, constantTimeEqual(fields.mac, expected) else { return .failure(.badSignature) }
        let skew = now > fields.timeSigned ? now - fields.timeSigned : fields.timeSigned - now
        guard skew <= UInt64(fields.fudge) else { return .failure(.badTime) }
        return .success(Signed(key: key, mac: fields.mac, timeSigned: fields.timeSigned, message: unsigned))
    }

    /// Appends the TSIG record of an error answer (RFC 8945 §5.3.2) to `response`: the request's
    /// key and algorithm names, an empty MAC, the error, and for BADTIME our clock as other data,
    /// so the client can tell why. Such an answer is not signed: the key is unknown or untrusted.
    /// Returns `response` unchanged when the request's TSIG record cannot be read.
    public static func appendError(_ failure: Failure, to response: [UInt8], answering request: [UInt8], now: UInt64) -> [UInt8] {
        guard response.count >= DNSHeader.byteCount,
              let record = try? lastRecord(in: request), record.type == DNSRecordType.tsig.rawValue,
              let fields = try? Fields(record.rdata)
        else { return response }
        let otherData = failure == .badTime ? be48(now) : []
        var rdata = fields.algorithm.lowercased.wireBytes
        rdata += be48(now) + be16(Int(fields.fudge)) + be16(0)
        rdata += be16(Int(fields.originalID)) + be16(Int(failure.rawValue)) + be16(otherData.count) + otherData
        var answer = response
        let arcount = (Int(answer[10]) << 8 | Int(answer[11])) + 1
        answer[10] = UInt8(arcount >> 8 & 0xFF)
        answer[11] = UInt8(arcount & 0xFF)
        answer += record.owner.lowercased.wireBytes + be16(Int(DNSRecordType.tsig.rawValue)) + be16(255) + [0, 0, 0, 0] + be16(rdata.count) + rdata
        return answer
    }

    /// The TSIG error an answer carries (0 when none), for a client to say why it was refused.
    public static func error(in message: [UInt8]) -> UInt16? {
        guard let record = try? lastRecord(in: message), record.type == DNSRecordType.tsig.rawValue,
              let fields = try? Fields(record.rdata)
        else { return nil }
        return fields.error
    }

    // MARK: Wire details

    /// RFC 8945 §4.3.3: the TSIG variables the MAC covers after the message.
    private static func variables(key: TSIGKey, timeSigned: UInt64, fudge: UInt16, error: UInt16, otherData: [UInt8]) -> [UInt8] {
        key.name.lowercased.wireBytes + be16(255) + [0, 0, 0, 0] + key.algorithm.name.lowercased.wireBytes
            + be48(timeSigned) + be16(Int(fudge)) + be16(Int(error)) + be16(otherData.count) + otherData
    }

    private struct Fields {
        let algorithm: DNSName
        let timeSigned: UInt64
        let fudge: UInt16
        let mac: [UInt8]
        let originalID: UInt16
        let error: UInt16
        let otherData: [UInt8]

        init(_ rdata: ArraySlice<UInt8>) throws {
            var reader = WireCursor(bytes: Array(rdata))
            algorithm = try reader.uncompressedName()
            timeSigned = UInt64(try reader.uint16()) << 32 | UInt64(try reader.uint32())
            fudge = try reader.uint16()
            mac = try reader.bytes(Int(try reader.uint16()))
            originalID = try reader.uint16()
            error = try reader.uint16()
            otherData = try reader.bytes(Int(try reader.uint16()))
            guard reader.isAtEnd else { throw DNSCodecError(.rdataLengthMismatch, "TSIG RDATA has trailing bytes") }
        }
    }

    private struct Record {
        let start: Int
        let owner: DNSName
        let type: UInt16
        let `class`: UInt16
        let ttl: UInt32
        let rdata: ArraySlice<UInt8>
    }

    /// The last resource record of the message, where TSIG must be (RFC 8945 §5.1), or nil
    /// when the message has no records at all.
    private static func lastRecord(in message: [UInt8]) throws -> Record? {
        var cursor = WireCursor(bytes: message)
        guard message.count >= DNSHeader.byteCount else { throw DNSCodecError(.truncated, "short header") }
        cursor.offset = 4
        let questions = Int(try cursor.uint16())
        let records = Int(try cursor.uint16()) + Int(try cursor.uint16()) + Int(try cursor.uint16())
        for _ in 0..<questions {
            try cursor.skipName()
            _ = try cursor.bytes(4)
        }
        var last: Record?
        for _ in 0..<records {
            let start = cursor.offset
            let owner = try cursor.name(in: message)
            let type = try cursor.uint16()
            let recordClass = try cursor.uint16()
            let ttl = try cursor.uint32()
            let length = Int(try cursor.uint16())
            guard cursor.offset + length <= message.count else { throw DNSCodecError(.truncated, "RDATA runs past the message") }
            last = Record(start: start, owner: owner, type: type, class: recordClass, ttl: ttl, rdata: message[cursor.offset..<cursor.offset + length])
            cursor.offset += length
        }
        guard cursor.isAtEnd else { throw DNSCodecError(.rdataLengthMismatch, "bytes after the last record") }
        return last
    }

    private static func be16(_ value: Int) -> [UInt8] { [UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)] }
    private static func be48(_ value: UInt64) -> [UInt8] { (0..<6).reversed().map { UInt8(value >> (8 * UInt64($0)) & 0xFF) } }

    private static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

/// A bounds-checked reader over wire bytes, for TSIG's own walk of the message.
private struct WireCursor {
    let bytes: [UInt8]
    var offset = 0

    var isAtEnd: Bool { offset == bytes.count }

    mutating func uint16() throws -> UInt16 {
        let two = try self.bytes(2)
        return UInt16(two[0]) << 8 | UInt16(two[1])
    }

    mutating func uint32() throws -> UInt32 {
        let four = try self.bytes(4)
        return four.reduce(0) { $0 << 8 | UInt32($1) }
    }

    mutating func bytes(_ count: Int) throws -> [UInt8] {
        guard count >= 0, offset + count <= bytes.count else { throw DNSCodecError(.truncated, "the message ends early") }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    /// Skips a name, compressed or not.
    mutating func skipName() throws {
        while true {
            let length = try bytes(1)[0]
            if length == 0 { return }
            if length & 0xC0 == 0xC0 { _ = try bytes(1); return }
            guard length & 0xC0 == 0 else { throw DNSCodecError(.badLabelType, "reserved label type") }
            _ = try bytes(Int(length))
        }
    }

    /// Reads a name that may use compression pointers into `message`, following only
    /// pointers that go strictly backwards.
    mutating func name(in message: [UInt8]) throws -> DNSName {
        var labels: [[UInt8]] = []
        var position = offset
        var jumped = false
        var limit = position
        while true {
            guard position < message.count else { throw DNSCodecError(.truncated, "a name runs past the message") }
            let length = message[position]
            if length == 0 {
                if !jumped { offset = position + 1 }
                return try DNSName(labels: labels)
            }
            if length & 0xC0 == 0xC0 {
                guard position + 1 < message.count else { throw DNSCodecError(.truncated, "a pointer runs past the message") }
                let target = Int(length & 0x3F) << 8 | Int(message[position + 1])
                guard target < limit else { throw DNSCodecError(.pointerLoop, "a compression pointer that does not point back") }
                if !jumped { offset = position + 2 }
                jumped = true
                limit = target
                position = target
                continue
            }
            guard length & 0xC0 == 0, position + 1 + Int(length) <= message.count else { throw DNSCodecError(.badLabelType, "a bad label") }
            labels.append(Array(message[(position + 1)...(position + Int(length))]))
            position += 1 + Int(length)
        }
    }

    /// A name without compression, as TSIG's algorithm field must be.
    mutating func uncompressedName() throws -> DNSName {
        var labels: [[UInt8]] = []
        while true {
            let length = try bytes(1)[0]
            if length == 0 { return try DNSName(labels: labels) }
            guard length & 0xC0 == 0 else { throw DNSCodecError(.badLabelType, "a compressed TSIG algorithm name") }
            labels.append(try bytes(Int(length)))
        }
    }
}
