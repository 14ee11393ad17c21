import DNSCodec
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing
import TestSupport

/// TSIG (RFC 8945) against itself and against Knot's kdig, a real implementation: kdig's
/// signed query verifies here, our signed answer verifies in kdig, and one signed with
/// another secret does not.
struct TSIGTests {
    static let secret = Array("a 32-byte secret for TSIG tests!".utf8)
    static let key = try! TSIGKey(name: "tsig-key", algorithm: .hmacSHA256, secret: secret)

    static func query() throws -> [UInt8] {
        let message = DNSMessage(header: DNSHeader(id: 0x1234), questions: [DNSQuestion(name: "go.eval.example.com", type: .txt)])
        return try message.serialized()
    }

    @Test func aSignedMessageVerifiesAndEveryTamperingIsNamed() throws {
        let now: UInt64 = 1_764_000_000
        let (signed, mac) = try TSIG.sign(try Self.query(), with: Self.key, timeSigned: now)
        #expect(mac.count == 32)
        let checked = try #require(try TSIG.verify(signed, keys: [Self.key], now: now + 10)?.get())
        #expect(checked.key == Self.key && checked.mac == mac)
        #expect(checked.message == (try Self.query()), "the unsigned message comes back byte for byte")

        var flipped = signed
        flipped[14] ^= 0x20  // a letter of the question name
        #expect(Self.failure(TSIG.verify(flipped, keys: [Self.key], now: now)) == .badSignature)
        let other = try TSIGKey(name: "other-key", algorithm: .hmacSHA256, secret: Self.secret)
        #expect(Self.failure(TSIG.verify(signed, keys: [other], now: now)) == .badKey)
        let sha512 = try TSIGKey(name: "tsig-key", algorithm: .hmacSHA512, secret: Self.secret)
        #expect(Self.failure(TSIG.verify(signed, keys: [sha512], now: now)) == .badKey, "same name, other algorithm")
        #expect(Self.failure(TSIG.verify(signed, keys: [Self.key], now: now + 301)) == .badTime)
        #expect(Self.failure(TSIG.verify(Array(signed.dropLast(3)), keys: [Self.key], now: now)) == .malformed)
        #expect(TSIG.verify(try Self.query(), keys: [Self.key], now: now) == nil, "no TSIG record: unsigned")
    }

    /// An answer's MAC covers the query's MAC, and each later message of a transfer the one
    /// before it (timers only): taken out of order, they do not verify.
    @Test func answersAndTransfersChainTheirMACs() throws {
        let now: UInt64 = 1_764_000_000
        let (_, queryMAC) = try TSIG.sign(try Self.query(), with: Self.key, timeSigned: now)
        var response = try Self.query()
        response[2] |= 0x80
        let (first, firstMAC) = try TSIG.sign(response, with: Self.key, timeSigned: now, requestMAC: queryMAC)
        #expect((try TSIG.verify(first, keys: [Self.key], now: now, requestMAC: queryMAC)?.get()) != nil)
        #expect(Self.failure(TSIG.verify(first, keys: [Self.key], now: now)) == .badSignature, "without the query's MAC")
        let (second, _) = try TSIG.sign(response, with: Self.key, timeSigned: now + 1, requestMAC: firstMAC, timersOnly: true)
        #expect((try TSIG.verify(second, keys: [Self.key], now: now + 1, requestMAC: firstMAC, timersOnly: true)?.get()) != nil)
        #expect(Self.failure(TSIG.verify(second, keys: [Self.key], now: now + 1, requestMAC: queryMAC, timersOnly: true)) == .badSignature)
    }

    @Test func shortSecretsAreRefused() {
        #expect(throws: DNSCodecError.self) { try TSIGKey(name: "k", algorithm: .hmacSHA256, secret: Array(repeating: 1, count: 8)) }
    }

    /// kdig signs its query with the key; we verify it, answer signed with its MAC, and kdig
    /// accepts our answer. An answer signed with another secret, kdig refuses. kdig waits 30 s
    /// for the answer: at the start of a run every suite starts at once on two cores, and a
    /// clean-clone run once took over 5 s to answer here (kdig's earlier limit).
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/usr/bin/kdig")), arguments: [true, false])
    func kdigAndWeVerifyEachOther(rightSecret: Bool) async throws {
        let server = try UDPResponder()
        defer { server.close() }
        let base64 = Data(Self.secret).base64EncodedString()
        let port = server.port
        async let kdig = runCommand("/usr/bin/kdig", [
            "-y", "hmac-sha256:tsig-key:\(base64)", "@127.0.0.1", "-p", "\(port)", "+retry=0", "+timeout=30",
            "go.eval.example.com", "TXT",
        ], timeout: .seconds(60))
        let (query, client) = try await server.receiveOffThePool(timeout: 45)
        let now = UInt64(Date().timeIntervalSince1970)
        let checked = try #require(try TSIG.verify(query, keys: [Self.key], now: now)?.get(), "kdig's query did not verify")

        var answer = checked.message
        answer[2] = 0x84 | (answer[2] & 0x01)  // QR and AA, keeping RD
        answer[3] = 0x00
        answer[10] = 0
        answer[11] = 0  // kdig's OPT is not echoed
        answer = Self.withoutAdditionals(answer)
        let signingKey = rightSecret ? Self.key : try TSIGKey(name: "tsig-key", algorithm: .hmacSHA256, secret: Array("another 32-byte secret, not ours".utf8))
        let (signed, _) = try TSIG.sign(answer, with: signingKey, timeSigned: now, requestMAC: checked.mac)
        try server.send(signed, to: client)

        let result = try await kdig
        let said = result.standardOutput + result.standardError
        #expect(said.contains("TSIG PSEUDOSECTION"), "\(said)")
        if rightSecret {
            #expect(result.status == 0 && said.contains("status: NOERROR") && !said.contains("WARNING"), "\(said)")
        } else {
            #expect(said.contains("failed to verify TSIG"), "kdig took a forged answer: \(said)")
        }
    }

    /// The header and question of `message`, with no records after them.
    static func withoutAdditionals(_ message: [UInt8]) -> [UInt8] {
        var end = 12
        while message[end] != 0 { end += 1 + Int(message[end]) }
        return Array(message[..<(end + 5)])
    }

    static func failure(_ result: Result<TSIG.Signed, TSIG.Failure>?) -> TSIG.Failure? {
        guard case .failure(let failure) = result else { return nil }
        return failure
    }
}

/// One UDP socket on 127.0.0.1 that a test answers from by hand.
final class UDPResponder: @unchecked Sendable {
    let descriptor: Int32
    let port: Int

    init() throws {
        (descriptor, port) = try boundLoopbackUDPSocket()
    }

    func receive(timeout seconds: Int) throws -> ([UInt8], sockaddr_in) {
        var limit = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 65_535)
        var peer = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let count = buffer.withUnsafeMutableBytes { bytes in
            withUnsafeMutablePointer(to: &peer) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(descriptor, bytes.baseAddress, bytes.count, 0, $0, &length) } }
        }
        guard count > 0 else { throw TestFailure("no datagram within \(seconds) s") }
        return (Array(buffer[..<count]), peer)
    }

    /// `receive` on a thread of its own: blocking a cooperative thread could starve the task
    /// that starts kdig on a two-core machine.
    func receiveOffThePool(timeout seconds: Int) async throws -> ([UInt8], sockaddr_in) {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try self.receive(timeout: seconds) }) }
        }
    }

    func send(_ bytes: [UInt8], to peer: sockaddr_in) throws {
        var peer = peer
        let sent = bytes.withUnsafeBytes { raw in
            withUnsafePointer(to: &peer) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(descriptor, raw.baseAddress, raw.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        guard sent == bytes.count else { throw TestFailure("sendto failed: \(errno)") }
    }

    func close() { Glibc.close(descriptor) }
}
