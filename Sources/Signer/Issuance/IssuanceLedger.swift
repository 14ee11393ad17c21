import CertificateSupport
import Foundation
import Synchronization

/// What the signer has asked of its CA, so budgets hold across restarts and a renewal's
/// `replaces` can be checked against what the signer issued: one line of JSON per order placed
/// and per certificate issued, appended and synced before the answer leaves, read back at
/// start. Bounded by age (certificates are kept for their lifetime, orders for the longest
/// window) and by count; the file is rewritten with what is still wanted at each start.
final class IssuanceLedger: Sendable {
    struct Entry: Codable, Sendable, Equatable {
        enum Kind: String, Codable, Sendable {
            case order
            case certificate
        }
        var kind: Kind
        var at: Date
        /// The zone the request was for.
        var zone: String
        /// The CA it went to (`name` in `[[acme]]`); absent in entries written before there
        /// were several, which were all the first CA's.
        var ca: String?
        /// Sorted, lowercase: the "exact set of names" a CA counts.
        var names: [String]
        /// The registered domain the CA counts the names under.
        var registeredDomain: String
        /// For certificates: the ARI CertID, the SHA-256 of the key's SPKI (hex), the expiry, and
        /// whether the order replaced another certificate (`replaces` accepted: exempt).
        var certificateID: String?
        var keySHA256: String?
        var notAfter: Date?
        var renewal: Bool
        /// For certificates of exempt renewals: the ARI CertID the order replaced. Each CertID
        /// exempts one renewal only.
        var replaced: String? = nil
    }

    /// Entries older than this are dropped unless they are certificates still valid.
    static let retention: TimeInterval = 8 * 86_400
    /// The most entries kept; past it the oldest go first (a budget this large is not one).
    static let maximumEntries = 100_000
    /// The most bytes read back at start.
    static let maximumFileBytes = 64 << 20

    private let path: String
    private let state: Mutex<[Entry]>

    /// Reads the ledger at `path` (a missing file is an empty ledger) and, unless `readOnly`,
    /// rewrites it with the entries still wanted. A line that does not parse is skipped.
    init(path: String, readOnly: Bool = false, now: Date = Date()) throws {
        self.path = path
        var entries: [Entry] = []
        if SecureFile.permissions(of: path) != nil {
            let bytes: [UInt8]
            do { bytes = try SecureFile.read(path) } catch {
                throw SignerError(.configuration, "cannot read the issuance ledger \(path): \(error); it keeps the CA budgets, so the signer does not start without it")
            }
            guard bytes.count <= Self.maximumFileBytes else {
                throw SignerError(.configuration, "the issuance ledger \(path) is over \(Self.maximumFileBytes) bytes; move it away to start with empty budgets")
            }
            entries = Self.decode(bytes)
        }
        entries = Self.kept(entries, now: now)
        state = Mutex(entries)
        if !readOnly { try SecureFile.write(Self.encode(entries), to: path) }
    }

    /// Where the ledger lives: beside the ACME account key, in the signer's state directory.
    static func path(besideAccountKey keyPath: String) -> String {
        URL(fileURLWithPath: keyPath).deletingLastPathComponent().appendingPathComponent("issuance-ledger.jsonl").path
    }

    /// Appends `entry` and syncs it to disk before returning.
    func record(_ entry: Entry) throws {
        let line = Self.encode([entry])
        try state.withLock { entries in
            let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
            guard descriptor >= 0 else {
                throw SignerError(.stateFile, "cannot append to the issuance ledger \(path): \(String(cString: strerror(errno)))")
            }
            defer { close(descriptor) }
            let written = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            guard written == line.count, fsync(descriptor) == 0 else {
                throw SignerError(.stateFile, "cannot write the issuance ledger \(path): \(String(cString: strerror(errno)))")
            }
            entries.append(entry)
            if entries.count > Self.maximumEntries { entries.removeFirst(entries.count - Self.maximumEntries) }
        }
    }

    /// The entries of `kind` at or after `since` that `matching` accepts, oldest first.
    func entries(_ kind: Entry.Kind, since: Date, matching: (Entry) -> Bool = { _ in true }) -> [Entry] {
        state.withLock { entries in entries.filter { $0.kind == kind && $0.at >= since && matching($0) } }
    }

    /// The certificate this signer issued with ARI CertID `id`, if it still remembers it.
    func certificate(withID id: String) -> Entry? {
        state.withLock { entries in entries.last { $0.kind == .certificate && $0.certificateID == id } }
    }

    /// Whether an exempt renewal has replaced the certificate with ARI CertID `id` already.
    func hasReplaced(_ id: String) -> Bool {
        state.withLock { entries in entries.contains { $0.kind == .certificate && $0.replaced == id } }
    }

    private static func kept(_ entries: [Entry], now: Date) -> [Entry] {
        let cutoff = now.addingTimeInterval(-retention)
        let wanted = entries.filter { $0.at >= cutoff || ($0.kind == .certificate && ($0.notAfter ?? .distantPast) > now) }
        return Array(wanted.suffix(maximumEntries))
    }

    /// One entry per line; a line that does not parse is skipped.
    static func decode(_ bytes: [UInt8]) -> [Entry] {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return bytes.split(separator: UInt8(ascii: "\n")).compactMap { try? decoder.decode(Entry.self, from: Data($0)) }
    }

    static func encode(_ entries: [Entry]) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var bytes: [UInt8] = []
        for entry in entries {
            // An Entry holds strings, numbers and dates only: it always encodes.
            guard let line = try? encoder.encode(entry) else { continue }
            bytes += line
            bytes.append(UInt8(ascii: "\n"))
        }
        return bytes
    }
}
