import Foundation

extension DNSPeer {
    /// The most TXT records `name` held at once in a primary's zone, replayed from the zone's
    /// journal of dynamic updates: every change the server applied, in order, as it recorded
    /// them (Knot's `kjournalprint`, BIND's `named-journalprint`). Evidence, where polling the
    /// server could miss a value that lived a few milliseconds.
    public func mostTXTRecordsHeld(at name: String, zone: String, zoneFile: String) async throws -> (most: Int, added: Int, deleted: Int, journal: String) {
        let result: CommandResult
        switch kind {
        case .knot:
            result = try await runCommand("/usr/sbin/kjournalprint", [directory.appendingPathComponent("journal").path, zone])
        case .bind:
            result = try await runCommand("/usr/bin/named-journalprint", [zoneFile + ".jnl"])
        case .nsd:
            throw TestFailure("NSD takes no dynamic updates, so it keeps no journal of them")
        }
        guard result.status == 0 else { throw TestFailure("cannot read the \(kind) journal: \(result.standardOutput) \(result.standardError)") }
        let owner = name.lowercased().hasSuffix(".") ? name.lowercased() : name.lowercased() + "."
        var held = 0, most = 0, added = 0, deleted = 0
        var adding = true
        for line in result.standardOutput.split(separator: "\n") {
            var fields = line.split(whereSeparator: \.isWhitespace).map { $0.lowercased() }
            switch kind {
            case .knot:
                // ";; Removed" and ";; Added" head the two halves of each changeset.
                if line.hasPrefix(";;") {
                    if line.lowercased().contains("removed") { adding = false }
                    if line.lowercased().contains("added") { adding = true }
                    continue
                }
            default:
                // "del RR" and "add RR", one record a line.
                guard let verb = fields.first, verb == "add" || verb == "del" else { continue }
                adding = verb == "add"
                fields.removeFirst()
            }
            guard fields.first == owner, fields.contains("txt") else { continue }
            held += adding ? 1 : -1
            if adding { added += 1 } else { deleted += 1 }
            most = max(most, held)
        }
        return (most, added, deleted, result.standardOutput)
    }
}
