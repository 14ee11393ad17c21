import DNSCodec
import Testing
import TestSupport

/// Hostile and broken packets: each must end in a clean `DNSCodecError` with the right code.
struct MalformedMessageTests {
    /// A header with the given counts.
    static func header(questions: UInt16 = 1, answers: UInt16 = 0, authorities: UInt16 = 0, additionals: UInt16 = 0) -> [UInt8] {
        [0x12, 0x34, 0x01, 0x00] + [questions, answers, authorities, additionals].flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }

    static let typeAndClassA: [UInt8] = [0, 1, 0, 1]

    struct Vector: CustomTestStringConvertible, Sendable {
        let name: String
        let bytes: [UInt8]
        let code: DNSCodecError.Code
        var testDescription: String { name }
    }

    static let vectors: [Vector] = [
        Vector(name: "pointer to itself", bytes: header() + [0xC0, 12] + typeAndClassA, code: .pointerLoop),
        Vector(name: "forward pointer", bytes: header() + [0xC0, 14, 0, 0] + typeAndClassA, code: .pointerLoop),
        Vector(
            name: "two pointers pointing at each other",
            bytes: header(answers: 1) + [1, 0x61, 0] + typeAndClassA + [0xC0, 22, 0xC0, 20] + [0, 1, 0, 1, 0, 0, 0, 0, 0, 0],
            code: .pointerLoop),
        Vector(name: "pointer past the message", bytes: header() + [0xFF, 0xFF] + typeAndClassA, code: .pointerOutOfRange),
        Vector(name: "pointer cut in half", bytes: header() + [3, 0x61, 0x62, 0x63, 0xC0], code: .truncated),
        Vector(name: "64-byte label", bytes: header() + [64] + Array(repeating: 0x61, count: 64) + [0] + typeAndClassA, code: .labelTooLong),
        Vector(name: "reserved 0x80 label type", bytes: header() + [0x80, 0] + typeAndClassA, code: .badLabelType),
        Vector(
            name: "name over 255 bytes",
            bytes: header() + Array(repeating: [63] + Array(repeating: UInt8(0x61), count: 63), count: 5).flatMap { $0 } + [0] + typeAndClassA,
            code: .nameTooLong),
        Vector(name: "label past the end", bytes: header() + [10, 0x61, 0x62, 0x63, 0x64], code: .truncated),
        Vector(name: "question without type", bytes: header() + [1, 0x61, 0, 0, 1], code: .truncated),
        Vector(name: "counts larger than the message", bytes: header(questions: 1, answers: 65535) + [0] + typeAndClassA, code: .countsExceedMessage),
        Vector(name: "too many questions", bytes: header(questions: 400) + [0] + typeAndClassA, code: .countsExceedMessage),
        Vector(
            name: "RDATA longer than the message",
            bytes: header(questions: 0, answers: 1) + [0, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0],
            code: .truncated),
        Vector(
            name: "A record with 3 bytes of RDATA",
            bytes: header(questions: 0, answers: 1) + [0, 0, 1, 0, 1, 0, 0, 0, 60, 0, 3, 127, 0, 0],
            code: .rdataLengthMismatch),
        Vector(
            name: "A record with 5 bytes of RDATA",
            bytes: header(questions: 0, answers: 1) + [0, 0, 1, 0, 1, 0, 0, 0, 60, 0, 5, 127, 0, 0, 1, 9],
            code: .rdataLengthMismatch),
        Vector(
            name: "TXT string running past its RDATA",
            bytes: header(questions: 0, answers: 1) + [0, 0, 16, 0, 1, 0, 0, 0, 60, 0, 2, 5, 0x61],
            code: .rdataLengthMismatch),
        Vector(
            name: "SOA missing its counters",
            bytes: header(questions: 0, answers: 1) + [0, 0, 6, 0, 1, 0, 0, 0, 60, 0, 6, 0, 0, 0, 0, 0, 1],
            code: .rdataLengthMismatch),
        Vector(
            name: "CAA with an empty tag",
            bytes: header(questions: 0, answers: 1) + [0, 1, 1, 0, 1, 0, 0, 0, 60, 0, 3, 0, 0, 0x61],
            code: .rdataLengthMismatch),
        Vector(
            name: "OPT in the answer section",
            bytes: header(questions: 0, answers: 1) + [0, 0, 41, 16, 0, 0, 0, 0, 0, 0, 0],
            code: .invalidOPT),
        Vector(
            name: "two OPT records",
            bytes: header(questions: 0, additionals: 2) + [0, 0, 41, 16, 0, 0, 0, 0, 0, 0, 0] + [0, 0, 41, 16, 0, 0, 0, 0, 0, 0, 0],
            code: .invalidOPT),
        Vector(
            name: "OPT not owned by the root",
            bytes: header(questions: 0, additionals: 1) + [1, 0x61, 0, 0, 41, 16, 0, 0, 0, 0, 0, 0, 0],
            code: .invalidOPT),
        Vector(
            name: "EDNS option running past OPT",
            bytes: header(questions: 0, additionals: 1) + [0, 0, 41, 16, 0, 0, 0, 0, 0, 0, 6, 0, 10, 0, 8, 1, 2],
            code: .rdataLengthMismatch),
        Vector(name: "header cut short", bytes: [0x12, 0x34, 0x01], code: .truncated),
    ]

    @Test("malformed packets give the right error", arguments: vectors)
    func malformed(vector: Vector) {
        do {
            let message = try DNSMessage(parsing: vector.bytes)
            Issue.record("parsed as \(message)")
        } catch let error as DNSCodecError {
            #expect(error.code == vector.code, "\(error)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func everyPrefixOfARealMessageFailsCleanly() throws {
        let message = DNSMessage(
            header: DNSHeader(id: 1, isResponse: true),
            questions: [DNSQuestion(name: "go.eval.example.com", type: .txt)],
            answers: [DNSResourceRecord(name: "go.eval.example.com", ttl: 10, data: .txt(TXTRecord(value: "abc")))],
            authorities: [DNSResourceRecord(name: "eval.example.com", ttl: 60, data: .soa(RoundTripTests.soa))],
            edns: EDNS())
        let bytes = try message.serialized()
        for length in 0..<bytes.count {
            #expect(throws: DNSCodecError.self) { try DNSMessage(parsing: Array(bytes.prefix(length))) }
        }
        #expect(try DNSMessage(parsing: bytes) == message)
    }

    @Test func randomBytesNeverTrap() {
        var generator = SeededGenerator(seed: 0xC5F0_2026)
        for _ in 0..<20_000 {
            let length = Int(generator.next() % 300)
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            _ = try? DNSMessage(parsing: bytes)
        }
    }
}
