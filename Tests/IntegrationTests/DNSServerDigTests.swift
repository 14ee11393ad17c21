import DNSCodec
import DNSServer
import Testing
import TestSupport

/// Our server on 127.0.0.1, asked by Debian's `dig` over UDP and TCP.
@Suite(.timeLimit(.minutes(2)))
struct DNSServerDigTests {
    static let transports = [false, true]

    @Test("the well-known name is 127.0.0.1, authoritatively", arguments: transports)
    func wellKnownName(tcp: Bool) async throws {
        try await withRunningDNSServer(store: TestZone.store()) { port in
            let response = try await Dig.query(port: port, "go.eval.example.com", "A", tcp: tcp)
            #expect(response.status == "NOERROR")
            #expect(response.flags.isSuperset(of: ["qr", "aa"]))
            #expect(!response.flags.contains("ra"))
            #expect(response.answer == [DigRecord(name: "go.eval.example.com.", ttl: 300, type: "A", data: "127.0.0.1")])
            let aaaa = try await Dig.query(port: port, "go.eval.example.com", "AAAA", tcp: tcp)
            #expect(aaaa.answer.map(\.data) == ["::1"])
        }
    }

    @Test("three TXT values added concurrently are all served; removing one leaves two", arguments: transports)
    func concurrentChallengeValues(tcp: Bool) async throws {
        let store = try TestZone.store()
        let values = ["order-one-LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfow", "order-two-9ihDbjxEg8PS0pTgKpaU6oMGtNp9E2PcL", "order-three-QF1m2Vqm8yqoTcsl0RMBHPsI0qHCbN"]
        await withThrowingTaskGroup(of: Void.self) { group in
            for value in values { group.addTask { try store.addTXT(value, at: TestZone.challenge) } }
        }
        try await withRunningDNSServer(store: store) { port in
            let all = try await Dig.query(port: port, "_acme-challenge.go.eval.example.com", "TXT", tcp: tcp)
            #expect(Set(all.answer.map(\.data)) == Set(values.map { "\"\($0)\"" }))
            #expect(all.answer.allSatisfy { $0.ttl == 10 })
            #expect(store.removeTXT(values[1], at: TestZone.challenge))
            let two = try await Dig.query(port: port, "_acme-challenge.go.eval.example.com", "TXT", tcp: tcp)
            #expect(Set(two.answer.map(\.data)) == ["\"\(values[0])\"", "\"\(values[2])\""])
        }
    }

    @Test("a name without the asked type is NODATA with the SOA", arguments: transports)
    func noData(tcp: Bool) async throws {
        try await withRunningDNSServer(store: TestZone.store()) { port in
            for (name, type) in [("ns.eval.example.com", "AAAA"), ("go.eval.example.com", "CAA"), ("eval.example.com", "TXT")] {
                let response = try await Dig.query(port: port, name, type, tcp: tcp)
                #expect(response.status == "NOERROR", "\(name) \(type)")
                #expect(response.answer.isEmpty)
                #expect(response.authority.map(\.type) == ["SOA"])
                #expect(response.authority.first?.ttl == 60)
                #expect(response.flags.contains("aa"))
            }
        }
    }

    @Test("a missing name is NXDOMAIN with the SOA", arguments: transports)
    func nxDomain(tcp: Bool) async throws {
        try await withRunningDNSServer(store: TestZone.store()) { port in
            let response = try await Dig.query(port: port, "nothing-here.eval.example.com", "TXT", tcp: tcp)
            #expect(response.status == "NXDOMAIN")
            #expect(response.authority.map(\.type) == ["SOA"])
            #expect(response.authority.first?.data.hasSuffix(" 60") == true, "SOA MINIMUM is the negative TTL: \(response.authority)")
        }
    }

    @Test("names outside the zone are REFUSED", arguments: transports)
    func refused(tcp: Bool) async throws {
        try await withRunningDNSServer(store: TestZone.store()) { port in
            for name in ["example.org", "example.com", "www.google.com"] {
                let response = try await Dig.query(port: port, name, "A", tcp: tcp)
                #expect(response.status == "REFUSED")
                #expect(response.answer.isEmpty && !response.flags.contains("aa"))
            }
        }
    }

    @Test func aLargeTXTSetTruncatesOverUDPAndArrivesWholeOverTCP() async throws {
        let store = try TestZone.store()
        let values = (0..<40).map { "value-\($0)-" + String(repeating: "k", count: 34) }
        for value in values { try store.addTXT(value, at: TestZone.challenge) }
        try await withRunningDNSServer(store: store) { port in
            let udp = try await Dig.query(port: port, "_acme-challenge.go.eval.example.com", "TXT", options: ["+ignore"])
            #expect(udp.flags.contains("tc"))
            #expect(udp.answer.isEmpty)
            let udpClassic = try await Dig.query(port: port, "_acme-challenge.go.eval.example.com", "TXT", options: ["+ignore", "+noedns"])
            #expect(udpClassic.flags.contains("tc"))
            let tcp = try await Dig.query(port: port, "_acme-challenge.go.eval.example.com", "TXT", tcp: true)
            #expect(!tcp.flags.contains("tc"))
            #expect(Set(tcp.answer.map(\.data)) == Set(values.map { "\"\($0)\"" }))
            // dig's default: on TC it retries over TCP by itself and gets everything.
            let retried = try await Dig.query(port: port, "_acme-challenge.go.eval.example.com", "TXT")
            #expect(retried.answer.count == 40)
        }
    }

    @Test("EDNS0: OPT is answered when the query has one, and only then", arguments: transports)
    func ednsEchoed(tcp: Bool) async throws {
        try await withRunningDNSServer(store: TestZone.store()) { port in
            let withEDNS = try await Dig.query(port: port, "go.eval.example.com", "A", tcp: tcp, options: ["+bufsize=4096"])
            #expect(withEDNS.ednsUDPSize == 1232)
            let without = try await Dig.query(port: port, "go.eval.example.com", "A", tcp: tcp, options: ["+noedns"])
            #expect(!without.hasOPT)
            #expect(without.answer.map(\.data) == ["127.0.0.1"])
            let badVersion = try await Dig.query(port: port, "go.eval.example.com", "A", tcp: tcp, options: ["+edns=1", "+noednsnegotiation"])
            #expect(badVersion.status == "BADVERS")
        }
    }

    @Test func caaAtTheApex() async throws {
        try await withRunningDNSServer(store: TestZone.store()) { port in
            let response = try await Dig.query(port: port, "eval.example.com", "CAA")
            #expect(response.answer.map(\.data) == ["0 issue \"letsencrypt.org; validationmethods=dns-01\""])
            let soa = try await Dig.query(port: port, "eval.example.com", "SOA")
            #expect(soa.answer.map(\.type) == ["SOA"])
            let ns = try await Dig.query(port: port, "eval.example.com", "NS")
            #expect(ns.answer.map(\.data) == ["ns.eval.example.com."], "\(ns.raw)")
            #expect(ns.additional.map(\.data) == ["192.0.2.53"])
        }
    }

    @Test("a non-QUERY opcode is NOTIMP", arguments: transports)
    func notImplemented(tcp: Bool) async throws {
        try await withRunningDNSServer(store: TestZone.store()) { port in
            let response = try await Dig.query(port: port, "go.eval.example.com", "A", tcp: tcp, options: ["+opcode=status"])
            #expect(response.status == "NOTIMP")
            #expect(response.opcode == "STATUS")
        }
    }

    @Test func theQuestionComesBackWithItsCase() async throws {
        try await withRunningDNSServer(store: TestZone.store()) { port in
            let response = try await Dig.query(port: port, "gO.EvAl.eXaMpLe.CoM", "A")
            #expect(response.questionName == "gO.EvAl.eXaMpLe.CoM.")
            #expect(response.answer.map(\.data) == ["127.0.0.1"])
        }
    }

    @Test func anyGetsAMinimalAnswer() async throws {
        try await withRunningDNSServer(store: TestZone.store()) { port in
            let response = try await Dig.query(port: port, "eval.example.com", "ANY")
            #expect(response.status == "NOERROR")
            #expect(Set(response.answer.map(\.type)).count == 1)
        }
    }
}
