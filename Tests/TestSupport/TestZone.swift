import DNSCodec
import DNSServer
import NIOCore

/// The zone most tests answer from: the shape a publisher would configure.
public enum TestZone {
    public static let origin: DNSName = "eval.example.com"
    public static let wellKnown: DNSName = "go.eval.example.com"
    public static let challenge: DNSName = "_acme-challenge.go.eval.example.com"

    public static func configuration(negativeTTL: UInt32 = 60) throws -> ZoneConfiguration {
        ZoneConfiguration(
            origin: origin,
            nameServers: [.init(name: "ns.eval.example.com", ipv4: [IPv4Address("192.0.2.53")!])],
            negativeTTL: negativeTTL,
            hosts: [.init(name: wellKnown, includesSubdomains: true)],
            caa: [try CAARecord(presentation: "0 issue \"letsencrypt.org; validationmethods=dns-01\"")])
    }

    public static func store() throws -> ZoneStore {
        try ZoneStore(zones: [configuration()])
    }

    public static func query(
        _ name: DNSName, _ type: DNSRecordType, id: UInt16 = 0x4242, edns: EDNS? = nil,
        opcode: DNSOpcode = .query, questionClass: DNSClass = .internet
    ) -> ByteBuffer {
        let message = DNSMessage(
            header: DNSHeader(id: id, opcode: opcode, recursionDesired: true),
            questions: [DNSQuestion(name: name, type: type, questionClass: questionClass)], edns: edns)
        var buffer = ByteBuffer()
        try! message.write(into: &buffer)
        return buffer
    }

    /// Asks `responder` and parses what it answers; fails the test when it drops the query.
    public static func ask(
        _ responder: QueryResponder, _ name: DNSName, _ type: DNSRecordType, transport: DNSTransport = .udp,
        edns: EDNS? = nil, opcode: DNSOpcode = .query, questionClass: DNSClass = .internet
    ) throws -> DNSMessage {
        let bytes = query(name, type, edns: edns, opcode: opcode, questionClass: questionClass)
        guard let response = responder.respond(to: bytes, transport: transport) else {
            throw TestFailure("the responder dropped a well-formed query for \(name) \(type)")
        }
        return try DNSMessage(parsing: response.bytes)
    }
}
