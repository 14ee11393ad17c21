import Foundation

/// Debian's `dig`, pointed only at a loopback server the test started.
public enum Dig {
    /// Queries 127.0.0.1:`port` with recursion off, one try, and parses the answer.
    public static func query(
        port: Int, _ name: String, _ type: String, tcp: Bool = false, options: [String] = []
    ) async throws -> DigResponse {
        var arguments = ["@127.0.0.1", "-p", String(port), "+norecurse", "+tries=1", "+time=3"]
        if tcp { arguments.append("+tcp") }
        arguments += options + [name, type]
        let result = try await runCommand("dig", arguments)
        guard result.status == 0 else {
            throw TestFailure("dig \(arguments.joined(separator: " ")) exited \(result.status): \(result.standardOutput) \(result.standardError)")
        }
        return try DigResponse(parsing: result.standardOutput)
    }
}

/// One record line of dig's output: `go.eval.example.com. 300 IN A 127.0.0.1`.
public struct DigRecord: Sendable, Equatable {
    public let name: String
    public let ttl: Int
    public let type: String
    public let data: String

    public init(name: String, ttl: Int, type: String, data: String) {
        self.name = name
        self.ttl = ttl
        self.type = type
        self.data = data
    }
}

/// The parts of dig's default output the tests assert on.
public struct DigResponse: Sendable {
    public let opcode: String
    public let status: String
    public let flags: Set<String>
    public let ednsUDPSize: Int?
    /// The question as the server echoed it, e.g. `gO.eVal.example.com.`.
    public let questionName: String?
    public let answer: [DigRecord]
    public let authority: [DigRecord]
    public let additional: [DigRecord]
    public let raw: String

    public var hasOPT: Bool { ednsUDPSize != nil }

    init(parsing text: String) throws {
        raw = text
        var opcode: String?
        var status: String?
        var flags: Set<String> = []
        var ednsUDPSize: Int?
        var questionName: String?
        var sections: [String: [DigRecord]] = [:]
        var section: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix(";; ->>HEADER<<-") {
                opcode = Self.field("opcode", in: line)
                status = Self.field("status", in: line)
            } else if line.hasPrefix(";; flags:") {
                let list = line.dropFirst(";; flags:".count).split(separator: ";").first ?? ""
                flags = Set(list.split(separator: " ").map(String.init))
            } else if line.hasPrefix("; EDNS:") {
                ednsUDPSize = Self.field("udp", in: line).flatMap { Int($0) }
            } else if line.hasPrefix(";; ") && line.hasSuffix(" SECTION:") {
                section = String(line.dropFirst(3).dropLast(" SECTION:".count))
            } else if line.isEmpty || line.hasPrefix(";;") {
                section = nil
            } else if section == "QUESTION", line.hasPrefix(";") {
                questionName = line.dropFirst().split(whereSeparator: \.isWhitespace).first.map(String.init)
            } else if let current = section, current != "QUESTION" {
                let fields = line.split(whereSeparator: \.isWhitespace).map(String.init)
                guard fields.count >= 5, let ttl = Int(fields[1]) else { continue }
                sections[current, default: []].append(DigRecord(
                    name: fields[0], ttl: ttl, type: fields[3], data: fields[4...].joined(separator: " ")))
            }
        }
        guard let opcode, let status else { throw TestFailure("no header in dig output:\n\(text)") }
        self.opcode = opcode
        self.status = status
        self.flags = flags
        self.ednsUDPSize = ednsUDPSize
        self.questionName = questionName
        answer = sections["ANSWER"] ?? []
        authority = sections["AUTHORITY"] ?? []
        additional = sections["ADDITIONAL"] ?? []
    }

    /// `status: NOERROR,` -> NOERROR
    private static func field(_ name: String, in line: String) -> String? {
        guard let range = line.range(of: "\(name): ") else { return nil }
        return line[range.upperBound...].prefix { !",; ".contains($0) }.description
    }
}
