import DNSCodec
import Foundation
import Testing
import TestSupport

/// Real packets: queries `dig` sent and responses Knot DNS gave for scripts/example-zone
/// (recorded by scripts/capture-dns-fixtures).
struct FixtureTests {
    static let cases = [
        "a-go", "aaaa-go", "txt-challenge", "caa-apex", "soa-apex", "ns-apex",
        "nxdomain", "nodata", "wildcard", "cookie-noedns", "tcp-txt",
    ]

    static func fixture(_ name: String) throws -> [UInt8] {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: "bin", subdirectory: "Fixtures"))
        return Array(try Data(contentsOf: url))
    }

    @Test("dig's queries parse and serialise back to the same bytes", arguments: cases)
    func queriesRoundTripExactly(name: String) throws {
        let bytes = try Self.fixture("\(name).query")
        let message = try DNSMessage(parsing: bytes)
        #expect(message.questions.count == 1)
        #expect(!message.header.isResponse)
        #expect(try message.serialized() == bytes)
    }

    @Test("Knot's responses parse, and survive our serialisation unchanged in meaning and no larger", arguments: cases)
    func responsesRoundTrip(name: String) throws {
        let bytes = try Self.fixture("\(name).response")
        let message = try DNSMessage(parsing: bytes)
        #expect(message.header.isResponse)
        let ours = try message.serialized()
        #expect(try DNSMessage(parsing: ours) == message)
        #expect(ours.count <= bytes.count)
    }

    @Test func answerContentsMatchTheZone() throws {
        let a = try DNSMessage(parsing: Self.fixture("a-go.response"))
        #expect(a.header.isAuthoritative)
        #expect(a.answers == [DNSResourceRecord(name: "go.eval.example.com", ttl: 300, data: .a(.loopback))])
        #expect(a.edns?.udpPayloadSize == 1232)

        let aaaa = try DNSMessage(parsing: Self.fixture("aaaa-go.response"))
        #expect(aaaa.answers.map(\.data) == [.aaaa(.loopback)])

        let txt = try DNSMessage(parsing: Self.fixture("txt-challenge.response"))
        let values = txt.answers.compactMap { record -> String? in
            if case .txt(let txt) = record.data { return txt.value }
            return nil
        }
        #expect(Set(values) == ["LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0", "a-second-value-from-another-order-xxxxxxxxx"])
        #expect(txt.answers.allSatisfy { $0.ttl == 10 })

        let caa = try DNSMessage(parsing: Self.fixture("caa-apex.response"))
        #expect(caa.answers.map(\.data) == [.caa(try CAARecord(flags: 0, tag: "issue", value: "letsencrypt.org; validationmethods=dns-01"))])

        let wildcard = try DNSMessage(parsing: Self.fixture("wildcard.response"))
        #expect(wildcard.answers.map(\.name) == ["abc123.go.eval.example.com"])
    }

    @Test func negativeAnswersCarryTheSOA() throws {
        let nxdomain = try DNSMessage(parsing: Self.fixture("nxdomain.response"))
        #expect(nxdomain.responseCode == .nameError)
        #expect(nxdomain.answers.isEmpty)
        guard case .soa(let soa) = try #require(nxdomain.authorities.first).data else {
            Issue.record("authority is not an SOA")
            return
        }
        #expect(soa.minimum == 60)
        #expect(soa.primaryNameServer == "ns.eval.example.com")

        let nodata = try DNSMessage(parsing: Self.fixture("nodata.response"))
        #expect(nodata.responseCode == .noError)
        #expect(nodata.answers.isEmpty)
        #expect(nodata.authorities.map(\.type) == [.soa])
    }

    @Test func digSendsACookieOptionWithEDNS() throws {
        let query = try DNSMessage(parsing: Self.fixture("a-go.query"))
        let edns = try #require(query.edns)
        #expect(edns.options.map(\.code) == [10])  // COOKIE, RFC 7873
        #expect(try DNSMessage(parsing: Self.fixture("cookie-noedns.query")).edns == nil)
    }
}
