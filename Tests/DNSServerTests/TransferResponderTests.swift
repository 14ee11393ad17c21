import DNSCodec
import DNSServer
import Foundation
import NIOCore
import Testing
import TestSupport

/// Zone transfers as BIND's `dig` sees them: it checks the TSIG of every message, so a
/// transfer spread over several messages proves the MAC chaining of RFC 8945 §5.3.1; signed
/// ordinary queries get signed answers (kdig); a transfer asked over UDP is sent to TCP.
struct TransferResponderTests {
    static let key = try! TSIGKey(name: "transfer", algorithm: .hmacSHA256, secret: Array(repeating: 7, count: 32))
    static let keyArgument = "hmac-sha256:transfer:\(Data(repeating: 7, count: 32).base64EncodedString())"

    static func policy(port: Int = 53) throws -> ZoneTransferPolicy {
        ZoneTransferPolicy(keys: [key], secondaries: [.init(address: try SocketAddress(ipAddress: "127.0.0.1", port: port), keyName: key.name)])
    }

    @Test func aLargeTransferIsSignedMessageByMessage() async throws {
        let store = try TestZone.store()
        for index in 0..<100 { try store.addTXT(String(format: "%043d", index), at: TestZone.challenge) }
        try await withRunningDNSServer(store: store, transfers: try Self.policy()) { port in
            let result = try await runCommand("dig", ["@127.0.0.1", "-p", String(port), "+tries=1", "-y", Self.keyArgument, "AXFR", "eval.example.com"])
            let output = result.standardOutput + result.standardError
            // BIND's dig checks every message's TSIG and warns when one fails (kdig checks the first only).
            #expect(result.status == 0 && !output.contains("could not be validated") && !output.contains("failed"), "\(output)")
            #expect(output.split(separator: "\n").filter { $0.split(whereSeparator: \.isWhitespace).dropFirst(3).first == "TXT" }.count == 100, "\(output)")
            #expect(output.contains("(messages 3,"), "100 values and the zone's records take three messages of 40: \(output)")
        }
    }

    @Test func aSignedQueryGetsASignedAnswer() async throws {
        let store = try TestZone.store()
        try await withRunningDNSServer(store: store, transfers: try Self.policy()) { port in
            let result = try await runCommand("kdig", ["@127.0.0.1", "-p", String(port), "+retry=0", "-y", Self.keyArgument, "SOA", "eval.example.com"])
            let output = result.standardOutput + result.standardError
            #expect(output.contains("status: NOERROR") && output.contains(";; TSIG PSEUDOSECTION:") && !output.contains(";; ERROR"), "\(output)")
        }
    }

    /// Over UDP even an allowed, signed transfer is answered with TC=1 and no records, so the
    /// secondary comes back over TCP; nothing of the zone goes into a datagram.
    @Test func aTransferOverUDPIsToldToUseTCP() throws {
        let responder = QueryResponder(store: try TestZone.store(), transfers: try Self.policy())
        let query = DNSMessage(header: DNSHeader(id: 9), questions: [DNSQuestion(name: "eval.example.com", type: .axfr)])
        let signed = try TSIG.sign(try query.serialized(), with: Self.key, timeSigned: UInt64(Date().timeIntervalSince1970))
        let response = try #require(responder.respond(to: ByteBuffer(bytes: signed.message), transport: .udp, client: try SocketAddress(ipAddress: "127.0.0.1", port: 4000)))
        #expect(response.isTruncated && response.continuation.isEmpty)
        let parsed = try DNSMessage(parsing: response.bytes)
        #expect(parsed.answers.isEmpty)
        // The same request from an address that is no secondary's is refused outright.
        let stranger = try #require(responder.respond(to: ByteBuffer(bytes: signed.message), transport: .tcp, client: try SocketAddress(ipAddress: "127.0.0.9", port: 4000)))
        #expect(stranger.responseCode == .refused && stranger.continuation.isEmpty)
    }
}
