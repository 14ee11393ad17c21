import DNSCodec
import Foundation
import Testing
import TestSupport

/// Hostile traffic against the real `csrproxy-signer serve-dns` process: it must keep answering
/// correctly and its memory must not grow with the traffic.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct DNSServerRobustnessTests {
    /// Well-formed queries the mutations start from.
    static func seedQueries() throws -> [[UInt8]] {
        let names: [DNSName] = ["go.eval.example.com", "_acme-challenge.go.eval.example.com", "eval.example.com", "x.go.eval.example.com", "example.org"]
        let types: [DNSRecordType] = [.a, .aaaa, .txt, .caa, .ns, .soa, .any, .axfr]
        var seeds: [[UInt8]] = []
        for (index, name) in names.enumerated() {
            for type in types {
                let edns: EDNS? = index % 2 == 0 ? EDNS(udpPayloadSize: 4096, options: [.init(code: 10, data: Array(0..<8))]) : nil
                seeds.append(try DNSMessage(header: DNSHeader(id: UInt16(seeds.count)), questions: [DNSQuestion(name: name, type: type)], edns: edns).serialized())
            }
        }
        return seeds
    }

    /// Bit flips, cuts, extensions, rewritten counts, or pure noise.
    static func mutate(_ seed: [UInt8], using random: inout SeededGenerator) -> [UInt8] {
        var packet = seed
        switch random.next() % 6 {
        case 0:
            for _ in 0...(random.next() % 4) { packet[Int(random.next() % UInt64(packet.count))] = UInt8(truncatingIfNeeded: random.next()) }
        case 1:
            packet = Array(packet.prefix(Int(random.next() % UInt64(packet.count))))
        case 2:
            packet += (0..<Int(random.next() % 64)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        case 3:
            let at = 4 + Int(random.next() % 8)
            packet[at] = UInt8(truncatingIfNeeded: random.next())
        case 4:
            // Plant a compression pointer somewhere in the question.
            let at = 12 + Int(random.next() % UInt64(max(packet.count - 13, 1)))
            if at + 1 < packet.count {
                packet[at] = 0xC0 | UInt8(random.next() % 4)
                packet[at + 1] = UInt8(truncatingIfNeeded: random.next())
            }
        default:
            packet = (0..<Int(random.next() % 600)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        }
        // Keep QR clear so the server must do the work of answering rather than drop the packet.
        if packet.count > 2 { packet[2] &= 0x7F }
        return packet
    }

    /// Reads answers until at least `expected` have come and then none for a few milliseconds,
    /// or until `patience` runs out: paces the flood to the server, so a server starved of CPU by
    /// other tests running at the same time is waited for instead of overrun (its socket buffer
    /// would drop what it has no time to read, and the test would measure the machine's load).
    static func collectAnswers(from socket: LoopbackUDPSocket, expected: Int = 0, patience: Duration = .milliseconds(250)) async throws -> Int {
        var total = 0
        var quietRounds = 0
        let giveUp = ContinuousClock.now + patience
        while quietRounds < 3 || (total < expected && ContinuousClock.now < giveUp) {
            try await Task.sleep(for: .milliseconds(1))
            let count = socket.drain()
            total += count
            quietRounds = count == 0 ? quietRounds + 1 : 0
        }
        return total
    }

    @Test func survivesHostilePacketsAndStreamsWithBoundedMemory() async throws {
        let server = try ServerProcess(try builtExecutable("csrproxy-signer"), [
            "serve-dns", "--zone", "eval.example.com", "--listen", "127.0.0.1:0", "--wildcard",
            "--caa", "0 issue \"letsencrypt.org\"", "--txt", "_acme-challenge.go=robust", "--tcp-idle-timeout", "2",
        ])
        defer { server.stop() }
        let port = Int(try await server.waitForOutput(matching: #"on 127\.0\.0\.1:(\d+) "#))!
        var random = SeededGenerator(seed: 0xD15_2026)
        let seeds = try Self.seedQueries()

        // Warm up with good queries so the baseline includes what normal serving allocates.
        let socket = try LoopbackUDPSocket(port: port)
        for index in 0..<2_000 {
            socket.send(seeds[index % seeds.count])
            if index % 100 == 99 { try await Task.sleep(for: .milliseconds(2)); _ = socket.drain() }
        }
        try await Task.sleep(for: .milliseconds(200))
        _ = socket.drain()
        let baseline = try server.residentKilobytes()

        var answered = 0
        var sent = 0
        var halfway = 0
        let total = 100_000
        for index in 0..<total {
            socket.send(Self.mutate(seeds[index % seeds.count], using: &random))
            sent += 1
            if index % 50 == 49 {
                // About 40 of 50 mutated packets are answerable; wait for half before sending more.
                answered += try await Self.collectAnswers(from: socket, expected: 25)
            }
            if index == total / 2 { halfway = try server.residentKilobytes() }
        }
        answered += try await Self.collectAnswers(from: socket)
        let afterUDP = try server.residentKilobytes()

        // A few thousand broken TCP streams: noise, lying length prefixes, good frames then garbage, resets.
        for index in 0..<3_000 {
            let query = seeds[index % seeds.count]
            let stream: [UInt8]
            switch index % 5 {
            case 0: stream = (0..<Int(random.next() % 300)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            case 1: stream = [0xFF, 0xFF] + query
            case 2: stream = [0, UInt8(query.count)] + query + [0, 40] + Array(query.prefix(7))
            case 3: stream = [0, 0, 0, 5, 1, 2, 3, 4, 5]
            default: stream = [0, UInt8(query.count)] + Self.mutate(query, using: &random).prefix(Int(query.count))
            }
            try sendTCPStream(port: port, stream, reset: index % 2 == 0)
        }
        try await Task.sleep(for: .milliseconds(300))
        let afterTCP = try server.residentKilobytes()

        #expect(server.isRunning, "the server died: \(server.standardError.suffix(2000))")
        // Nine in ten packets keep a readable header and earn FORMERR or an answer; most answers
        // arriving is the proof the server did the work rather than drop the flood.
        #expect(answered > sent / 2, "only \(answered) answers to \(sent) packets")
        // Bounded memory: the second half of the flood adds (almost) nothing, nor does the whole run much.
        #expect(afterUDP - halfway < 16_384, "RSS grew from \(halfway) to \(afterUDP) KiB in the second half")
        #expect(afterTCP - baseline < 65_536, "RSS grew from \(baseline) to \(afterTCP) KiB")
        print("robustness: \(sent) UDP packets, \(answered) answers, 3000 TCP streams; RSS KiB baseline \(baseline), halfway \(halfway), after UDP \(afterUDP), after TCP \(afterTCP)")

        // And it still answers a good query correctly, both ways.
        for tcp in [false, true] {
            let response = try await Dig.query(port: port, "go.eval.example.com", "A", tcp: tcp)
            #expect(response.answer.map(\.data) == ["127.0.0.1"])
            let txt = try await Dig.query(port: port, "_acme-challenge.go.eval.example.com", "TXT", tcp: tcp)
            #expect(txt.answer.map(\.data) == ["\"robust\""])
        }
        #expect(server.stop() == 0, "a clean stop on SIGTERM")
    }

    @Test func tcpConnectionsAreBoundedAndIdleOnesClosed() async throws {
        let server = try ServerProcess(try builtExecutable("csrproxy-signer"), [
            "serve-dns", "--zone", "eval.example.com", "--listen", "127.0.0.1:0",
            "--tcp-idle-timeout", "1", "--max-tcp-connections", "8",
        ])
        defer { server.stop() }
        let port = Int(try await server.waitForOutput(matching: #"on 127\.0\.0\.1:(\d+) "#))!
        // Hold eight idle connections: the ninth is closed at once, so a TCP query fails...
        let held = try (0..<8).map { _ in try IdleTCPConnection(port: port) }
        try await Task.sleep(for: .milliseconds(100))
        let refused = try await runCommand("dig", ["@127.0.0.1", "-p", String(port), "+tcp", "+tries=1", "+time=1", "go.eval.example.com", "A"])
        #expect(refused.status != 0 || !refused.standardOutput.contains("127.0.0.1\n"))
        // ...until the idle timeout frees them, after which TCP answers again.
        try await Task.sleep(for: .milliseconds(1_500))
        #expect(held.allSatisfy { $0.isClosedByPeer() })
        let answered = try await Dig.query(port: port, "go.eval.example.com", "A", tcp: true)
        #expect(answered.answer.map(\.data) == ["127.0.0.1"])
    }
}
