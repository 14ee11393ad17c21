/// A resource record TYPE (or QTYPE) value; unknown values are kept, never rejected.
public struct DNSRecordType: RawRepresentable, Hashable, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let a = DNSRecordType(rawValue: 1)
    public static let ns = DNSRecordType(rawValue: 2)
    public static let cname = DNSRecordType(rawValue: 5)
    public static let soa = DNSRecordType(rawValue: 6)
    public static let txt = DNSRecordType(rawValue: 16)
    public static let aaaa = DNSRecordType(rawValue: 28)
    public static let opt = DNSRecordType(rawValue: 41)
    /// RFC 8945: a transaction signature, always the last additional record.
    public static let tsig = DNSRecordType(rawValue: 250)
    public static let ixfr = DNSRecordType(rawValue: 251)
    public static let axfr = DNSRecordType(rawValue: 252)
    public static let any = DNSRecordType(rawValue: 255)
    public static let caa = DNSRecordType(rawValue: 257)

    private static let mnemonics: [UInt16: String] = [
        1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 16: "TXT", 28: "AAAA", 41: "OPT",
        250: "TSIG", 251: "IXFR", 252: "AXFR", 255: "ANY", 257: "CAA",
    ]

    /// Parses a mnemonic such as `TXT` or the generic `TYPE65` form (RFC 3597).
    public init?(mnemonic: String) {
        let upper = mnemonic.uppercased()
        if let known = Self.mnemonics.first(where: { $0.value == upper }) {
            self.init(rawValue: known.key)
        } else if upper.hasPrefix("TYPE"), let value = UInt16(upper.dropFirst(4)) {
            self.init(rawValue: value)
        } else {
            return nil
        }
    }
}

extension DNSRecordType: CustomStringConvertible {
    public var description: String { Self.mnemonics[rawValue] ?? "TYPE\(rawValue)" }
}

/// A CLASS value; this project serves IN only but reads any.
public struct DNSClass: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let internet = DNSClass(rawValue: 1)
    public static let chaos = DNSClass(rawValue: 3)
    /// RFC 2136 §2.5.4: in an update, deletes one record (with TTL 0).
    public static let none = DNSClass(rawValue: 254)
    public static let any = DNSClass(rawValue: 255)

    public var description: String {
        switch rawValue {
        case 1: "IN"
        case 3: "CH"
        case 254: "NONE"
        case 255: "ANY"
        default: "CLASS\(rawValue)"
        }
    }
}

/// RCODE, including the upper eight bits carried in an OPT record (RFC 6891 §6.1.3).
public struct DNSResponseCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue & 0x0FFF }

    public static let noError = DNSResponseCode(rawValue: 0)
    public static let formatError = DNSResponseCode(rawValue: 1)
    public static let serverFailure = DNSResponseCode(rawValue: 2)
    public static let nameError = DNSResponseCode(rawValue: 3)
    public static let notImplemented = DNSResponseCode(rawValue: 4)
    public static let refused = DNSResponseCode(rawValue: 5)
    /// RFC 2136 §2.2: a name that should not exist does, an RRset that should exist does not, ...
    public static let nameExists = DNSResponseCode(rawValue: 6)
    public static let rrsetExists = DNSResponseCode(rawValue: 7)
    public static let rrsetMissing = DNSResponseCode(rawValue: 8)
    /// RFC 8945 §5.3.2: the TSIG did not check out (the TSIG record's error says why).
    public static let notAuthorized = DNSResponseCode(rawValue: 9)
    /// RFC 2136: a name in the update is outside the zone.
    public static let notZone = DNSResponseCode(rawValue: 10)
    public static let badVersion = DNSResponseCode(rawValue: 16)

    public var description: String {
        switch rawValue {
        case 0: "NOERROR"
        case 1: "FORMERR"
        case 2: "SERVFAIL"
        case 3: "NXDOMAIN"
        case 4: "NOTIMP"
        case 5: "REFUSED"
        case 6: "YXDOMAIN"
        case 7: "YXRRSET"
        case 8: "NXRRSET"
        case 9: "NOTAUTH"
        case 10: "NOTZONE"
        case 16: "BADVERS"
        default: "RCODE\(rawValue)"
        }
    }
}

/// OPCODE from the header; only QUERY (0) is answered by this project.
public struct DNSOpcode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue & 0x0F }

    public static let query = DNSOpcode(rawValue: 0)
    public static let status = DNSOpcode(rawValue: 2)
    public static let notify = DNSOpcode(rawValue: 4)
    public static let update = DNSOpcode(rawValue: 5)

    public var description: String {
        switch rawValue {
        case 0: "QUERY"
        case 2: "STATUS"
        case 4: "NOTIFY"
        case 5: "UPDATE"
        default: "OPCODE\(rawValue)"
        }
    }
}
