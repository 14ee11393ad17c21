/// A domain name, kept in uncompressed wire form with the case it arrived in.
///
/// Equality and hashing ignore ASCII case (RFC 4343), while `wireBytes` keeps the original
/// bytes so a question can be echoed byte for byte (resolvers randomise case as a 0x20 check).
public struct DNSName: Hashable, Sendable {
    /// Length-prefixed labels ending in the zero-length root label.
    public let wireBytes: [UInt8]

    public static let maximumWireLength = 255
    public static let maximumLabelLength = 63
    public static let root = DNSName(uncheckedWireBytes: [0])

    /// Wraps bytes already known to be a valid uncompressed name.
    init(uncheckedWireBytes: [UInt8]) {
        self.wireBytes = uncheckedWireBytes
    }

    /// Builds a name from labels (without the root label).
    public init<Labels: Sequence>(labels: Labels) throws where Labels.Element == [UInt8] {
        var wire: [UInt8] = []
        for label in labels {
            guard !label.isEmpty else { throw DNSCodecError(.invalidText, "empty label") }
            guard label.count <= Self.maximumLabelLength else {
                throw DNSCodecError(.labelTooLong, "label of \(label.count) bytes; at most 63 are allowed")
            }
            wire.append(UInt8(label.count))
            wire.append(contentsOf: label)
        }
        wire.append(0)
        guard wire.count <= Self.maximumWireLength else {
            throw DNSCodecError(.nameTooLong, "name of \(wire.count) bytes; at most 255 are allowed")
        }
        self.wireBytes = wire
    }

    /// Parses presentation form: `go.eval.example.com` or `go.eval.example.com.`; `.` is the root.
    /// Backslash escapes (`\.`, `\DDD`) are read as in RFC 1035 §5.1.
    public init(_ text: String) throws {
        if text == "." || text.isEmpty {
            self = .root
            return
        }
        var labels: [[UInt8]] = []
        var current: [UInt8] = []
        var bytes = Array(text.utf8)[...]
        if bytes.last == UInt8(ascii: ".") && !(bytes.count >= 2 && bytes[bytes.endIndex - 2] == UInt8(ascii: "\\")) {
            bytes = bytes.dropLast()
        }
        while let byte = bytes.popFirst() {
            switch byte {
            case UInt8(ascii: "."):
                labels.append(current)
                current = []
            case UInt8(ascii: "\\"):
                guard let next = bytes.popFirst() else { throw DNSCodecError(.invalidText, "name ends in a lone backslash: \(text)") }
                if (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(next) {
                    guard bytes.count >= 2 else { throw DNSCodecError(.invalidText, "short \\DDD escape in \(text)") }
                    let digits = [next, bytes.removeFirst(), bytes.removeFirst()]
                    guard digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
                          let value = Int(String(decoding: digits, as: UTF8.self)), value <= 255
                    else { throw DNSCodecError(.invalidText, "bad \\DDD escape in \(text)") }
                    current.append(UInt8(value))
                } else {
                    current.append(next)
                }
            default:
                current.append(byte)
            }
        }
        labels.append(current)
        do {
            try self.init(labels: labels)
        } catch let error as DNSCodecError {
            throw DNSCodecError(error.code, "\(error.message) in \"\(text)\"")
        }
    }

    /// The labels, most specific first, without the root label.
    public var labels: [ArraySlice<UInt8>] {
        var result: [ArraySlice<UInt8>] = []
        var index = 0
        while wireBytes[index] != 0 {
            let length = Int(wireBytes[index])
            result.append(wireBytes[(index + 1)..<(index + 1 + length)])
            index += 1 + length
        }
        return result
    }

    public var labelCount: Int {
        var count = 0
        var index = 0
        while wireBytes[index] != 0 {
            count += 1
            index += 1 + Int(wireBytes[index])
        }
        return count
    }

    public var isRoot: Bool { wireBytes.count == 1 }

    /// The name with its first label removed; the root's parent is `nil`.
    public var parent: DNSName? {
        guard !isRoot else { return nil }
        return DNSName(uncheckedWireBytes: Array(wireBytes[(Int(wireBytes[0]) + 1)...]))
    }

    /// The same name with ASCII letters folded to lower case.
    public var lowercased: DNSName {
        DNSName(uncheckedWireBytes: wireBytes.map(Self.foldCase))
    }

    /// `label.self`, for example `_acme-challenge` prepended to `go.eval.example.com`.
    public func prepending(_ label: String) throws -> DNSName {
        let bytes = Array(label.utf8)
        guard !bytes.isEmpty, bytes.count <= Self.maximumLabelLength else {
            throw DNSCodecError(.labelTooLong, "label \"\(label)\" must be 1 to 63 bytes")
        }
        let wire = [UInt8(bytes.count)] + bytes + wireBytes
        guard wire.count <= Self.maximumWireLength else { throw DNSCodecError(.nameTooLong, "\(label).\(self) is longer than 255 bytes") }
        return DNSName(uncheckedWireBytes: wire)
    }

    /// True when `self` equals `other` or lies below it (case-insensitive).
    public func isSubdomain(of other: DNSName) -> Bool {
        let offset = wireBytes.count - other.wireBytes.count
        guard offset >= 0 else { return false }
        // The suffix must start on a label boundary, so walk the labels rather than compare tails blindly.
        var index = 0
        while index < offset {
            index += 1 + Int(wireBytes[index])
        }
        guard index == offset else { return false }
        return Self.equalFoldingCase(wireBytes[offset...], other.wireBytes[...])
    }

    public static func == (lhs: DNSName, rhs: DNSName) -> Bool {
        lhs.wireBytes.count == rhs.wireBytes.count && equalFoldingCase(lhs.wireBytes[...], rhs.wireBytes[...])
    }

    public func hash(into hasher: inout Hasher) {
        // One combine over a folded copy: names are hashed on every lookup, byte-wise combining is slow.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: wireBytes.count) { folded in
            for index in wireBytes.indices { folded[index] = Self.foldCase(wireBytes[index]) }
            hasher.combine(bytes: UnsafeRawBufferPointer(folded))
        }
    }

    /// Folds A-Z to a-z; label length bytes (0...63) are never letters, so folding them is harmless.
    @inline(__always)
    static func foldCase(_ byte: UInt8) -> UInt8 {
        (byte &- 0x41) < 26 ? byte | 0x20 : byte
    }

    static func equalFoldingCase(_ lhs: ArraySlice<UInt8>, _ rhs: ArraySlice<UInt8>) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var right = rhs.startIndex
        for byte in lhs {
            guard byte == rhs[right] || foldCase(byte) == foldCase(rhs[right]) else { return false }
            right += 1
        }
        return true
    }
}

extension DNSName: CustomStringConvertible {
    /// Presentation form with a trailing dot; dots, backslashes and unprintable bytes are escaped.
    public var description: String {
        guard !isRoot else { return "." }
        var text = ""
        for label in labels {
            for byte in label {
                switch byte {
                case UInt8(ascii: "."), UInt8(ascii: "\\"), UInt8(ascii: "\""):
                    text.append("\\")
                    text.append(Character(Unicode.Scalar(byte)))
                case 0x21...0x7E:
                    text.append(Character(Unicode.Scalar(byte)))
                default:
                    let digits = String(byte)
                    text.append("\\" + String(repeating: "0", count: 3 - digits.count) + digits)
                }
            }
            text.append(".")
        }
        return text
    }
}

extension Collection where Element == DNSName {
    /// The deepest of these zones that holds `name` (at its apex or below): the zone a name
    /// belongs to when zones nest (`eval.example.com` inside `example.com`).
    public func deepestZone(containing name: DNSName) -> DNSName? {
        filter { name.isSubdomain(of: $0) }.max { $0.labelCount < $1.labelCount }
    }
}
