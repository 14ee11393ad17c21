#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What the agent remembers between runs, in `state/state.json`: the last
/// outcome for `status`, and whether the installed certificate is the self-signed fallback.
struct AgentState: Codable, Sendable {
    var lastAttempt: Date?
    var lastSuccess: Date?
    var lastError: String?
    var isFallback = false

    static let fileName = "state.json"

    static func load(from files: CertificateFiles) -> AgentState {
        guard let bytes = files.readStateFile(fileName) else { return AgentState() }
        return (try? JSONDecoder.agent.decode(AgentState.self, from: Data(bytes))) ?? AgentState()
    }

    func save(to files: CertificateFiles) throws {
        try files.writeStateFile(Array(try JSONEncoder.agent.encode(self)), to: Self.fileName)
    }
}

extension JSONEncoder {
    static var agent: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return encoder
    }
}

extension JSONDecoder {
    static var agent: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
