import DNSCodec
import DNSServer
import NIOCore
import Testing
import TestSupport

struct QueryResponderTests {
    let store: ZoneStore
    let responder: QueryResponder

    init() throws {
        store = try TestZone.store()
        responder = QueryResponder(store: store)
    }

    @Test func theWellKnownNameGoesToLoopbackAuthoritatively() throws {
        let a = try TestZone.ask(responder, TestZone.wellKnown, .a)
        #expect(a.header.isResponse && a.header.isAuthoritative && !a.header.recursionAvailable)
        #expect(a.header.recursionDesired, "RD is copied from the query")
        #expect(a.header.id == 0x4242)
        #expect(a.responseCode == .noError)
        #expect(a.answers.map(\.data) == [.a(.loopback)])
        let aaaa = try TestZone.ask(responder, TestZone.wellKnown, .aaaa)
        #expect(aaaa.answers.map(\.data) == [.aaaa(.loopback)])
    }

    @Test func aWildcardCoversPerInstallNamesUnderTheWellKnownName() throws {
        let response = try TestZone.ask(responder, "abc123.go.eval.example.com", .a)
        #expect(response.answers.map(\.name) == ["abc123.go.eval.example.com"])
        #expect(response.answers.map(\.data) == [.a(.loopback)])
        let deeper = try TestZone.ask(responder, "x.abc123.go.eval.example.com", .aaaa)
        #expect(deeper.answers.map(\.data) == [.aaaa(.loopback)])
        // The wildcard does not reach sideways: other names in the zone do not exist.
        #expect(try TestZone.ask(responder, "other.eval.example.com", .a).responseCode == .nameError)
    }

    @Test func anExistingNameWithoutTheTypeIsNoDataWithTheSOA() throws {
        let response = try TestZone.ask(responder, TestZone.wellKnown, .caa)
        #expect(response.responseCode == .noError)
        #expect(response.answers.isEmpty)
        #expect(response.authorities.map(\.type) == [.soa])
        #expect(response.authorities.first?.ttl == 60)
        #expect(response.header.isAuthoritative)
    }

    @Test func aMissingNameIsNXDomainWithTheSOA() throws {
        let response = try TestZone.ask(responder, "missing.eval.example.com", .a)
        #expect(response.responseCode == .nameError)
        guard case .soa(let soa) = try #require(response.authorities.first).data else {
            Issue.record("no SOA in authority")
            return
        }
        #expect(soa.minimum == 60)
    }

    /// A store that cannot vouch for its run-time TXT values (a cluster node cut off from the
    /// shared state) answers TXT questions SERVFAIL, and everything configured as before.
    @Test func staleRunTimeValuesMakeTXTQuestionsServfailOnly() throws {
        try store.addTXT("value", at: TestZone.challenge)
        store.setRunTimeValuesCurrent(false)
        let stale = try TestZone.ask(responder, TestZone.challenge, .txt)
        #expect(stale.responseCode == .serverFailure)
        #expect(stale.answers.isEmpty && !stale.header.isAuthoritative)
        #expect(try TestZone.ask(responder, TestZone.wellKnown, .a).answers.map(\.data) == [.a(.loopback)])
        #expect(try TestZone.ask(responder, "eval.example.com", .ns).responseCode == .noError)
        #expect(try TestZone.ask(responder, "missing.eval.example.com", .a).responseCode == .nameError)
        store.setRunTimeValuesCurrent(true)
        let current = try TestZone.ask(responder, TestZone.challenge, .txt)
        #expect(current.responseCode == .noError && current.answers.count == 1)
    }

    @Test func theNegativeTTLIsConfigurable() throws {
        let store = try ZoneStore(zones: [TestZone.configuration(negativeTTL: 5)])
        let response = try TestZone.ask(QueryResponder(store: store), "missing.eval.example.com", .a)
        #expect(response.authorities.first?.ttl == 5)
    }

    @Test func anEmptyNonTerminalIsNoDataNotNXDomain() throws {
        // `_acme-challenge.go` exists only once a value is published; `x.y.eval.example.com` makes `y` an empty non-terminal.
        let store = try ZoneStore(zones: [TestZone.configuration()])
        try store.addTXT("token", at: "_acme-challenge.x.y.eval.example.com")
        let responder = QueryResponder(store: store)
        let response = try TestZone.ask(responder, "y.eval.example.com", .a)
        #expect(response.responseCode == .noError)
        #expect(response.authorities.map(\.type) == [.soa])
    }

    @Test func theApexServesSOANSAndCAA() throws {
        let soa = try TestZone.ask(responder, TestZone.origin, .soa)
        #expect(soa.answers.map(\.type) == [.soa])
        let ns = try TestZone.ask(responder, TestZone.origin, .ns)
        #expect(ns.answers.map(\.data) == [.ns("ns.eval.example.com")])
        #expect(ns.additionals.map(\.data) == [.a(IPv4Address("192.0.2.53")!)], "glue for the in-zone name server")
        let caa = try TestZone.ask(responder, TestZone.origin, .caa)
        #expect(caa.answers.map(\.data) == [.caa(try CAARecord(flags: 0, tag: "issue", value: "letsencrypt.org; validationmethods=dns-01"))])
    }

    @Test func namesOutsideTheZonesAreRefused() throws {
        let response = try TestZone.ask(responder, "example.org", .a)
        #expect(response.responseCode == .refused)
        #expect(!response.header.isAuthoritative)
        #expect(try TestZone.ask(responder, "example.com", .ns).responseCode == .refused)
        #expect(try TestZone.ask(responder, TestZone.wellKnown, .a, questionClass: .chaos).responseCode == .refused)
    }

    @Test func zoneTransfersAreRefused() throws {
        #expect(try TestZone.ask(responder, TestZone.origin, .axfr, transport: .tcp).responseCode == .refused)
        #expect(try TestZone.ask(responder, TestZone.origin, .ixfr).responseCode == .refused)
    }

    @Test func otherOpcodesAreNotImplemented() throws {
        for opcode in [DNSOpcode.status, .notify, .update, DNSOpcode(rawValue: 3)] {
            let response = try TestZone.ask(responder, TestZone.wellKnown, .a, opcode: opcode)
            #expect(response.responseCode == .notImplemented)
            #expect(response.header.opcode == opcode)
        }
    }

    @Test func theQuestionIsEchoedByteForByte() throws {
        let mixedCase = try DNSName(labels: ["gO", "EvAl", "eXaMpLe", "cOm"].map { Array($0.utf8) })
        let query = TestZone.query(mixedCase, .a, id: 0xA1B2)
        let response = try #require(responder.respond(to: query, transport: .udp))
        let bytes = Array(response.bytes.readableBytesView)
        let questionEnd = 12 + mixedCase.wireBytes.count + 4
        #expect(bytes[0..<2] == [0xA1, 0xB2])
        #expect(bytes[12..<questionEnd] == Array(query.readableBytesView)[12..<questionEnd])
    }

    @Test func anyGetsOneRRSet() throws {
        let response = try TestZone.ask(responder, TestZone.origin, .any)
        #expect(Set(response.answers.map(\.type)).count == 1)
        #expect(!response.answers.isEmpty)
    }

    @Test func ednsIsAnsweredWithOPTOnlyWhenAsked() throws {
        let plain = try TestZone.ask(responder, TestZone.wellKnown, .a)
        #expect(plain.edns == nil)
        let withEDNS = try TestZone.ask(responder, TestZone.wellKnown, .a, edns: EDNS(udpPayloadSize: 4096))
        #expect(withEDNS.edns?.udpPayloadSize == 1232)
        let badVersion = try TestZone.ask(responder, TestZone.wellKnown, .a, edns: EDNS(version: 1))
        #expect(badVersion.responseCode == .badVersion)
        #expect(badVersion.answers.isEmpty)
    }

    @Test func largeAnswersTruncateOverUDPWithinWhatTheClientInvited() throws {
        for index in 0..<40 { try store.addTXT(String(repeating: "\(index % 10)", count: 43) + "\(index)", at: TestZone.challenge) }
        for (edns, limit) in [(nil, 512), (EDNS(udpPayloadSize: 512), 512), (EDNS(udpPayloadSize: 1232), 1232), (EDNS(udpPayloadSize: 65000), 1232)] {
            let bytes = TestZone.query(TestZone.challenge, .txt, edns: edns)
            let response = try #require(responder.respond(to: bytes, transport: .udp))
            #expect(response.bytes.readableBytes <= limit)
            let message = try DNSMessage(parsing: response.bytes)
            #expect(message.header.isTruncated)
            #expect(message.answers.isEmpty)
            #expect(message.questions.first?.name == TestZone.challenge)
        }
        let overTCP = try TestZone.ask(responder, TestZone.challenge, .txt, transport: .tcp)
        #expect(!overTCP.header.isTruncated)
        #expect(overTCP.answers.count == 40)
    }

    @Test func aBrokenBodyWithAReadableHeaderIsFormErr() throws {
        var bytes = Array(TestZone.query(TestZone.wellKnown, .a, id: 0x0102).readableBytesView)
        bytes[12] = 0xC0  // the question name becomes a pointer to itself
        bytes[13] = 12
        let response = try #require(responder.respond(to: ByteBuffer(bytes: bytes), transport: .udp))
        let message = try DNSMessage(parsing: response.bytes)
        #expect(message.responseCode == .formatError)
        #expect(message.header.id == 0x0102)
        #expect(message.questions.isEmpty)
    }

    @Test func queriesWithNoneOrManyQuestionsAreFormErr() throws {
        let none = DNSMessage(header: DNSHeader(id: 1))
        let two = DNSMessage(header: DNSHeader(id: 2), questions: [DNSQuestion(name: TestZone.wellKnown, type: .a), DNSQuestion(name: TestZone.origin, type: .ns)])
        for message in [none, two] {
            let response = try #require(responder.respond(to: ByteBuffer(bytes: try message.serialized()), transport: .udp))
            #expect(try DNSMessage(parsing: response.bytes).responseCode == .formatError)
        }
    }

    @Test func packetsWithoutAHeaderAndResponsesAreDropped() throws {
        for length in 0..<12 {
            #expect(responder.respond(to: ByteBuffer(bytes: [UInt8](repeating: 0, count: length)), transport: .udp) == nil)
        }
        let response = DNSMessage(header: DNSHeader(id: 1, isResponse: true), questions: [DNSQuestion(name: TestZone.wellKnown, type: .a)])
        #expect(responder.respond(to: ByteBuffer(bytes: try response.serialized()), transport: .udp) == nil)
    }

    @Test func aResponseIsNeverLargerThanInvited() throws {
        // Without EDNS nothing over 512 bytes may leave over UDP, whatever is asked.
        for index in 0..<100 { try store.addTXT("value-\(index)-" + String(repeating: "z", count: 200), at: TestZone.challenge) }
        for type in [DNSRecordType.txt, .any, .a, .ns, .caa, .soa] {
            let response = try #require(responder.respond(to: TestZone.query(TestZone.challenge, type), transport: .udp))
            #expect(response.bytes.readableBytes <= 512)
        }
    }
}

extension QueryResponder.Response: Equatable {
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.bytes == rhs.bytes }
}
