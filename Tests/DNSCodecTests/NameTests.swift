import DNSCodec
import Testing
import TestSupport

/// Parses text at run time; a literal argument would take the test-only literal initialiser instead.
private func parse(_ text: String) throws -> DNSName { try DNSName(text) }

struct NameTests {
    @Test func presentationFormParsesAndPrints() throws {
        let name = try parse("go.eval.example.com.")
        #expect(name.labelCount == 4)
        #expect(name.description == "go.eval.example.com.")
        #expect(try parse("go.eval.example.com") == name)
        #expect(try parse(".") == .root)
        #expect(try parse("a\\.b.example").labelCount == 2)
        #expect(try parse("a\\.b.example").description == "a\\.b.example.")
        #expect(try parse("\\065b.example").labels.first.map { Array($0) } == Array("Ab".utf8))
    }

    @Test func comparisonIgnoresCaseButBytesKeepIt() throws {
        let upper = try parse("GO.Eval.Example.COM")
        let lower = try parse("go.eval.example.com")
        #expect(upper == lower)
        #expect(upper.hashValue == lower.hashValue)
        #expect(upper.wireBytes != lower.wireBytes)
        #expect(upper.lowercased.wireBytes == lower.wireBytes)
    }

    @Test func subdomainsFollowLabelBoundaries() {
        let zone: DNSName = "eval.example.com"
        let child: DNSName = "go.eval.example.com"
        let lookalike: DNSName = "xeval.example.com"
        let parentZone: DNSName = "example.com"
        #expect(child.isSubdomain(of: zone))
        #expect(zone.isSubdomain(of: zone))
        #expect(!lookalike.isSubdomain(of: zone))
        #expect(!parentZone.isSubdomain(of: zone))
        #expect(child.isSubdomain(of: .root))
        #expect(child.parent == zone)
        #expect(DNSName.root.parent == nil)
    }

    @Test func labelAndNameLimitsAreEnforced() throws {
        let label63 = String(repeating: "a", count: 63)
        #expect(try parse("\(label63).example").labelCount == 2)
        #expect(throws: DNSCodecError.self) { try parse(String(repeating: "a", count: 64) + ".example") }
        // Four 63-byte labels make 4 * 64 + 1 = 257 bytes: over 255.
        #expect(throws: DNSCodecError.self) { try parse([label63, label63, label63, label63].joined(separator: ".")) }
        let longest = [label63, label63, label63, String(repeating: "b", count: 61)].joined(separator: ".")
        #expect(try parse(longest).wireBytes.count == 255)
        #expect(throws: DNSCodecError.self) { try parse("a..b") }
    }

    @Test func prependingBuildsChallengeNames() throws {
        let name = try parse("go.eval.example.com").prepending("_acme-challenge")
        #expect(name.description == "_acme-challenge.go.eval.example.com.")
    }

    @Test func caaPresentationFormParses() throws {
        let caa = try CAARecord(presentation: "0 issue \"letsencrypt.org; validationmethods=dns-01\"")
        #expect(caa.tag == "issue")
        #expect(String(decoding: caa.value, as: UTF8.self) == "letsencrypt.org; validationmethods=dns-01")
        #expect(!caa.isIssuerCritical)
        #expect(try CAARecord(presentation: "128 iodef \"mailto:sec@example.com\"").isIssuerCritical)
        #expect(throws: DNSCodecError.self) { try CAARecord(presentation: "0 bad-tag \"x\"") }
        #expect(throws: DNSCodecError.self) { try CAARecord(presentation: "issue only") }
    }

    @Test func addressesParseAndPrint() {
        #expect(IPv4Address("127.0.0.1")?.bytes == [127, 0, 0, 1])
        #expect(IPv6Address("::1")?.description == "::1")
        #expect(IPv6Address("2001:0db8:0:0:0:0:0:1")?.description == "2001:db8::1")
        #expect(IPv4Address("300.1.1.1") == nil)
        #expect(IPv6Address("not-an-address") == nil)
    }
}
