import Algorithms
import SwiftASN1
import X509

/// A distinguished name written as RFC 4514 text (`CN=go.eval.example.com,O=Example Corp`),
/// compared canonically with the subjects CSRs carry: attribute types by OID (so `CN` and
/// `2.5.4.3` are one), values without regard to case, surrounding spaces or runs of inner
/// spaces (RFC 4518's caseIgnoreMatch, reduced to what subjects use), and never by the string
/// encoding (PrintableString and UTF8String of the same text match).
public struct DistinguishedNamePattern: Sendable, Hashable, CustomStringConvertible {
    /// The RDNs in ASN.1 order (most general first), each a set of (type, canonical value).
    let relativeNames: [Set<CanonicalAttribute>]
    public let text: String

    struct CanonicalAttribute: Hashable, Sendable {
        let type: ASN1ObjectIdentifier
        let value: String
    }

    /// The short names RFC 4514 §3 lists, plus the two subjects use in practice.
    static let keywords: [String: ASN1ObjectIdentifier] = [
        "CN": .RDNAttributeType.commonName, "C": .RDNAttributeType.countryName,
        "L": .RDNAttributeType.localityName, "ST": .RDNAttributeType.stateOrProvinceName,
        "O": .RDNAttributeType.organizationName, "OU": .RDNAttributeType.organizationalUnitName,
        "STREET": .RDNAttributeType.streetAddress, "DC": .RDNAttributeType.domainComponent,
        "UID": [0, 9, 2342, 19_200_300, 100, 1, 1], "EMAILADDRESS": .RDNAttributeType.emailAddress,
        "SERIALNUMBER": [2, 5, 4, 5],
    ]

    /// Parses RFC 4514 text: RDNs separated by `,`, multi-valued RDNs joined by `+`, values with
    /// `\`-escapes (`\,` or `\2C`). Hex-encoded BER values (`#...`) are refused: no well-known
    /// subject needs one.
    public init(_ text: String) throws {
        self.text = text
        var rdns: [Set<CanonicalAttribute>] = []
        for rdnText in try Self.split(text, on: ",") {
            var attributes = Set<CanonicalAttribute>()
            for attributeText in try Self.split(rdnText, on: "+") {
                guard let equals = attributeText.firstIndex(of: "=") else {
                    throw CertificateSupportError(.invalidDistinguishedName, "\"\(attributeText)\" in \"\(text)\" is not TYPE=VALUE")
                }
                let typeText = String(attributeText[..<equals].trimming(while: { $0 == " " }))
                let valueText = String(attributeText[attributeText.index(after: equals)...])
                let type = try Self.attributeType(typeText, in: text)
                guard !valueText.trimming(while: { $0 == " " }).hasPrefix("#") else {
                    throw CertificateSupportError(.invalidDistinguishedName, "\(typeText) in \"\(text)\" has a #hex value; write the value as text")
                }
                let value = try Self.unescape(valueText, in: text)
                guard !value.isEmpty else {
                    throw CertificateSupportError(.invalidDistinguishedName, "\(typeText) in \"\(text)\" has an empty value")
                }
                attributes.insert(CanonicalAttribute(type: type, value: Self.canonical(value)))
            }
            rdns.append(attributes)
        }
        guard !rdns.isEmpty else {
            throw CertificateSupportError(.invalidDistinguishedName, "the distinguished name is empty")
        }
        relativeNames = rdns.reversed()  // RFC 4514 writes the most specific RDN first
    }

    /// A copy with every CN value replaced by `commonName` (per-install subjects).
    public func replacingCommonName(with commonName: String) -> DistinguishedNamePattern {
        DistinguishedNamePattern(
            relativeNames: relativeNames.map { rdn in
                Set(rdn.map { $0.type == .RDNAttributeType.commonName ? CanonicalAttribute(type: $0.type, value: Self.canonical(commonName)) : $0 })
            },
            text: text)
    }

    private init(relativeNames: [Set<CanonicalAttribute>], text: String) {
        self.relativeNames = relativeNames
        self.text = text
    }

    /// The CN values of the pattern.
    public var commonNames: [String] {
        relativeNames.flatMap { $0.filter { $0.type == .RDNAttributeType.commonName }.map(\.value) }
    }

    /// True when `name` is this pattern, attribute for attribute, in the same order.
    public func matches(_ name: DistinguishedName) -> Bool {
        let candidate = name.map { rdn in
            Set(rdn.map { CanonicalAttribute(type: $0.type, value: String($0.value).map(Self.canonical) ?? "\u{0}unreadable") })
        }
        return candidate == relativeNames
    }

    public var description: String { text }

    /// Two patterns are equal when they match the same subjects, however they were written.
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.relativeNames == rhs.relativeNames }
    public func hash(into hasher: inout Hasher) { hasher.combine(relativeNames) }

    /// Case folded, ends trimmed, inner runs of spaces reduced to one.
    static func canonical(_ value: String) -> String {
        value.lowercased().split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    }

    private static func attributeType(_ text: String, in whole: String) throws -> ASN1ObjectIdentifier {
        if let oid = keywords[text.uppercased()] { return oid }
        if let first = text.first, first.isNumber, let oid = try? ASN1ObjectIdentifier(dotRepresentation: text) { return oid }
        throw CertificateSupportError(.invalidDistinguishedName, "unknown attribute type \"\(text)\" in \"\(whole)\"; use \(keywords.keys.sorted().joined(separator: ", ")) or a dotted OID")
    }

    /// Splits on `separator` where it is not escaped with a backslash.
    private static func split(_ text: String, on separator: Character) throws -> [String] {
        var parts: [String] = []
        var current = ""
        var escaped = false
        for character in text {
            if escaped {
                current.append(character)
                escaped = false
            } else if character == "\\" {
                current.append(character)
                escaped = true
            } else if character == separator {
                parts.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        guard !escaped else { throw CertificateSupportError(.invalidDistinguishedName, "\"\(text)\" ends in a lone backslash") }
        parts.append(current)
        return parts
    }

    /// Resolves `\c` and `\hh` escapes (RFC 4514 §2.4), keeping UTF-8 sequences whole.
    private static func unescape(_ text: String, in whole: String) throws -> String {
        var bytes: [UInt8] = []
        var input = Array(text.utf8)[...]
        while let byte = input.popFirst() {
            guard byte == UInt8(ascii: "\\") else { bytes.append(byte); continue }
            guard let next = input.popFirst() else {
                throw CertificateSupportError(.invalidDistinguishedName, "\"\(whole)\" ends in a lone backslash")
            }
            if let high = hexValue(next), let low = input.first.flatMap(hexValue) {
                input.removeFirst()
                bytes.append(high << 4 | low)
            } else {
                bytes.append(next)
            }
        }
        guard let value = String(validating: bytes, as: UTF8.self) else {
            throw CertificateSupportError(.invalidDistinguishedName, "a value in \"\(whole)\" is not UTF-8 once unescaped")
        }
        return value
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
