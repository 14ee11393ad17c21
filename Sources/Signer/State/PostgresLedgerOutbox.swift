import CertificateSupport
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The records the shared ledger could not take when they were made: a certificate the CA
/// issued while PostgreSQL was unreachable is still returned to its requester (it is already in
/// this node's own ledger), and its record waits here, on disk, until the shared ledger takes
/// it. Meanwhile this node counts it in the cluster's budgets (`PostgresLedger.reserve`), so the
/// outage does not free a place. Bounded: past `maximumEntries` the oldest wait is given up,
/// with a critical log line (the node's own ledger still has it).
final class PostgresLedgerOutbox: Sendable {
    static let maximumEntries = 10_000

    let path: String
    private let state: Mutex<[IssuanceLedger.Entry]>

    /// Reads what an earlier run left (a missing file is an empty outbox).
    init(path: String) throws {
        self.path = path
        var entries: [IssuanceLedger.Entry] = []
        if SecureFile.permissions(of: path) != nil {
            do {
                entries = IssuanceLedger.decode(try SecureFile.read(path))
            } catch {
                throw SignerError(.configuration, "cannot read \(path), the records waiting for the shared ledger: \(error)")
            }
        }
        state = Mutex(Array(entries.suffix(Self.maximumEntries)))
    }

    /// Beside the issuance ledger, in the signer's state directory.
    static func path(besideAccountKey keyPath: String) -> String {
        URL(fileURLWithPath: keyPath).deletingLastPathComponent().appendingPathComponent("shared-ledger-outbox.jsonl").path
    }

    var pending: [IssuanceLedger.Entry] { state.withLock { $0 } }
    var isEmpty: Bool { state.withLock { $0.isEmpty } }

    /// Keeps `entry` until the shared ledger takes it; on disk before this returns.
    func append(_ entry: IssuanceLedger.Entry) throws {
        try state.withLock { entries in
            var kept = entries + [entry]
            if kept.count > Self.maximumEntries { kept.removeFirst(kept.count - Self.maximumEntries) }
            try SecureFile.write(IssuanceLedger.encode(kept), to: path)
            entries = kept
        }
    }

    /// Forgets the first `count` entries of `pending`: the shared ledger has them.
    func removeFirst(_ count: Int) throws {
        try state.withLock { entries in
            let kept = Array(entries.dropFirst(count))
            try SecureFile.write(IssuanceLedger.encode(kept), to: path)
            entries = kept
        }
    }
}

/// Writes what waits in the outbox to the shared ledger once it answers again: every second
/// while something waits, oldest first, each record once the one before it is in.
struct PostgresLedgerSync: Service {
    let ledger: PostgresLedger
    let outbox: PostgresLedgerOutbox
    let logger: Logger
    var interval: Duration = .seconds(1)

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while true {
                try await Task.sleep(for: interval)
                await syncOnce()
            }
        }
    }

    /// Writes what it can now; stops at the first record the shared ledger does not take.
    func syncOnce() async {
        let waiting = outbox.pending
        guard !waiting.isEmpty else { return }
        var written = 0
        for entry in waiting {
            do {
                try await ledger.health.attempt("write a record kept in the outbox", within: .seconds(5)) { [ledger] in
                    try await ledger.record(entry, at: entry.at)
                }
                written += 1
            } catch {
                logger.debug("the shared ledger still does not take the records waiting for it", metadata: [
                    "state.outbox.count": "\(waiting.count - written)", "error": "\(String(reflecting: error))",
                ])
                break
            }
        }
        guard written > 0 else { return }
        do {
            try outbox.removeFirst(written)
            logger.notice("wrote records kept while the shared ledger was unreachable", metadata: ["state.outbox.written": "\(written)"])
        } catch {
            // They stay and are written again: counted twice in the cluster's budgets, which
            // errs on the side of the publisher's limits.
            logger.error("could not clear written records from the outbox; they will be written again", metadata: ["error": "\(error)"])
        }
    }
}
