import DNSCodec
import DNSServer
import Testing
import TestSupport

/// RFC 7766 behaviour that dig, with one query per connection, does not show.
@Suite(.timeLimit(.minutes(1)))
struct DNSServerTCPTests {
    static func framed(_ name: DNSName, _ type: DNSRecordType, id: UInt16) throws -> [UInt8] {
        let query = try DNSMessage(header: DNSHeader(id: id), questions: [DNSQuestion(name: name, type: type)]).serialized()
        return [UInt8(query.count >> 8), UInt8(query.count & 0xFF)] + query
    }

    @Test func severalPipelinedQueriesOnOneConnectionAreAllAnsweredInOrder() async throws {
        try await withRunningDNSServer(store: TestZone.store()) { port in
            let connection = try LoopbackTCPConnection(port: port)
            let queries: [(DNSName, DNSRecordType)] = [
                (TestZone.wellKnown, .a), (TestZone.wellKnown, .aaaa), (TestZone.origin, .soa), ("missing.eval.example.com", .a), ("example.org", .a),
            ]
            // All in one write, so the server finds several frames in one read.
            try connection.write(try queries.enumerated().flatMap { try Self.framed($1.0, $1.1, id: UInt16($0)) })
            let answers = try (0..<queries.count).map { _ in try DNSMessage(parsing: connection.readFrame()) }
            #expect(answers.map(\.header.id) == [0, 1, 2, 3, 4])
            #expect(answers.map(\.responseCode) == [.noError, .noError, .noError, .nameError, .refused])
            #expect(answers[0].answers.map(\.data) == [.a(.loopback)])
            // And the connection stays open for more.
            try connection.write(try Self.framed(TestZone.origin, .ns, id: 99))
            #expect(try DNSMessage(parsing: connection.readFrame()).header.id == 99)
        }
    }

    @Test func aQuerySplitIntoSingleBytesIsStillAnswered() async throws {
        // A minute to complete the query, not the default 10 s: on a loaded machine the test's
        // own pauses between bytes can add up to more than that.
        try await withRunningDNSServer(store: TestZone.store(), tcpIdleTimeout: .seconds(60)) { port in
            let connection = try LoopbackTCPConnection(port: port)
            for byte in try Self.framed(TestZone.wellKnown, .a, id: 7) {
                try connection.write([byte])
                try await Task.sleep(for: .milliseconds(1))
            }
            let answer = try DNSMessage(parsing: connection.readFrame())
            #expect(answer.header.id == 7)
            #expect(answer.answers.map(\.data) == [.a(.loopback)])
        }
    }

    @Test func aFrameTooShortForAHeaderClosesTheConnection() async throws {
        try await withRunningDNSServer(store: TestZone.store()) { port in
            let connection = try LoopbackTCPConnection(port: port, receiveTimeoutSeconds: 20)
            try connection.write([0, 3, 1, 2, 3])
            let error = #expect(throws: TestFailure.self) { try connection.readFrame() }
            #expect(error?.description.contains("closed by the server") == true, "\(String(describing: error))")
        }
    }
}
