import DNSCodec
import Testing
import TestSupport

struct RoundTripTests {
    static let soa = SOARecord(
        primaryNameServer: "ns.eval.example.com", responsibleMailbox: "hostmaster.eval.example.com",
        serial: 2026113001, refresh: 3600, retry: 600, expire: 604_800, minimum: 60)

    static let records: [DNSRecordData] = [
        .a(IPv4Address("192.0.2.1")!),
        .aaaa(IPv6Address("2001:db8::1")!),
        .ns("ns.eval.example.com"),
        .cname("go.eval.example.com"),
        .soa(soa),
        .txt(TXTRecord(value: "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0")),
        .txt(TXTRecord(value: String(repeating: "v", count: 600))),
        .txt(TXTRecord(value: "")),
        .caa(try! CAARecord(flags: 128, tag: "issue", value: "letsencrypt.org; validationmethods=dns-01")),
        .unknown(type: DNSRecordType(rawValue: 65), bytes: [0, 1, 0, 0]),
        .unknown(type: DNSRecordType(rawValue: 999), bytes: []),
    ]

    @Test("every record type survives a round trip", arguments: records)
    func recordRoundTrip(data: DNSRecordData) throws {
        let message = DNSMessage(
            header: DNSHeader(id: 0xBEEF, isResponse: true, isAuthoritative: true),
            questions: [DNSQuestion(name: "go.eval.example.com", type: data.type)],
            answers: [DNSResourceRecord(name: "Go.Eval.Example.com", ttl: 300, data: data)],
            authorities: [DNSResourceRecord(name: "eval.example.com", ttl: 60, data: .soa(Self.soa))],
            additionals: [DNSResourceRecord(name: "ns.eval.example.com", ttl: 300, data: .a(.loopback))])
        let bytes = try message.serialized()
        let parsed = try DNSMessage(parsing: bytes)
        #expect(parsed == message)
        #expect(parsed.answers[0].data == data)
        #expect(try parsed.serialized() == bytes)
    }

    @Test func ednsRoundTripWithOptionsAndExtendedResponseCode() throws {
        let edns = EDNS(udpPayloadSize: 4096, version: 0, dnssecOK: true, options: [
            EDNS.Option(code: 10, data: Array(0..<8)),
            EDNS.Option(code: 12, data: []),
        ])
        let message = DNSMessage(header: DNSHeader(id: 7, isResponse: true), edns: edns, responseCode: .badVersion)
        let bytes = try message.serialized()
        let parsed = try DNSMessage(parsing: bytes)
        #expect(parsed.edns == edns)
        #expect(parsed.responseCode == .badVersion)
        // The low four bits of BADVERS (16) are zero in the header; the rest ride in OPT's TTL.
        #expect(bytes[3] & 0x0F == 0)
    }

    @Test func anExtendedResponseCodeWithoutEDNSCannotBeWritten() {
        let message = DNSMessage(header: DNSHeader(id: 7, isResponse: true), responseCode: .badVersion)
        #expect(throws: DNSCodecError.self) { try message.serialized() }
    }

    @Test func headerFlagsRoundTrip() throws {
        let header = DNSHeader(
            id: 0x1234, isResponse: true, opcode: .notify, isAuthoritative: true, isTruncated: true,
            recursionDesired: true, recursionAvailable: true, zeroBit: true, authenticData: true,
            checkingDisabled: true, responseCodeLow: 5)
        #expect(DNSHeader(id: header.id, flags: header.flags) == header)
        let parsed = try DNSMessage(parsing: DNSMessage(header: header).serialized())
        #expect(parsed.header == header)
        #expect(parsed.responseCode == .refused)
    }

    @Test func namesAreCompressedAndPointAtTheQuestion() throws {
        let name: DNSName = "_acme-challenge.go.eval.example.com"
        let message = DNSMessage(
            header: DNSHeader(id: 1, isResponse: true),
            questions: [DNSQuestion(name: name, type: .txt)],
            answers: (0..<3).map { DNSResourceRecord(name: name, ttl: 10, data: .txt(TXTRecord(value: "v\($0)"))) })
        let bytes = try message.serialized()
        // Each answer's owner is a two-byte pointer to offset 12, where the question name starts.
        let pointerCount = zip(bytes, bytes.dropFirst()).filter { $0 == 0xC0 && $1 == 0x0C }.count
        #expect(pointerCount == 3)
        let uncompressedSize = 12 + (name.wireBytes.count + 4) + 3 * (name.wireBytes.count + 10 + 3)
        #expect(bytes.count == uncompressedSize - 3 * (name.wireBytes.count - 2))
        #expect(try DNSMessage(parsing: bytes) == message)
    }

    @Test func theQuestionKeepsItsCaseByteForByte() throws {
        let name: DNSName = "gO.EvAl.eXample.COM"
        let bytes = try DNSMessage(header: DNSHeader(id: 9), questions: [DNSQuestion(name: name, type: .a)]).serialized()
        let parsed = try DNSMessage(parsing: bytes)
        #expect(parsed.questions[0].name.wireBytes == name.wireBytes)
        #expect(parsed.questions[0].name == "go.eval.example.com")
    }

    @Test func longTXTValuesAreSplitInto255ByteStrings() {
        let txt = TXTRecord(value: String(repeating: "x", count: 600))
        #expect(txt.strings.map(\.count) == [255, 255, 90])
        #expect(txt.value.count == 600)
    }
}
