import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import SignerProtocol
import Synchronization

/// The issuance ledger and the CA budgets for a cluster, in PostgreSQL: every node records its
/// orders and certificates there, and a reservation is checked and taken in one transaction
/// under an advisory lock per CA, so the nodes together never spend more than the budget, even
/// when each cannot see what the others are doing. A reservation is a row with a lease, so
/// one a node died holding stops counting by itself.
struct PostgresLedger: Sendable {
    let client: PostgresClient
    let settings: SignerConfiguration.PostgresSettings
    let logger: Logger
    /// Whether the database answers, as the node's LISTEN connection last saw it.
    let health: PostgresHealth
    /// This node's records that the shared ledger has not taken yet: counted here meanwhile.
    var outbox: PostgresLedgerOutbox?
    /// Tests only: the first reservation sleeps this long holding the budget lock, as a node
    /// stopped mid-transaction would (`CSRPROXY_TEST_HOLD_BUDGET_LOCK_SECONDS`).
    var holdInBudgetLock: OneShotPause?

    /// Lets one new certificate for `names` through at `ca` and records `placed`, the order
    /// about to go to the CA, in the same transaction; or throws `budget-exhausted`.
    func reserve(
        ca: String, limits: SignerConfiguration.Budgets, names: [String], zone: String, registeredDomain: String, placing placed: IssuanceLedger.Entry
    ) async throws -> Int64 {
        let nameSet = names.map { $0.lowercased() }.sorted().joined(separator: ",")
        let node = settings.node
        let leaseSeconds = Int(settings.lease.components.seconds)
        let week = Int(SignerConfiguration.Budgets.certificateWindow)
        let threeHours = Int(SignerConfiguration.Budgets.orderWindow)
        let outcome: Result<Int64, Problem> = try await postgresCall("check the CA budget") {
            try await client.transaction(logger: logger) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(hashtext('budget:' || \(ca)))", logger: logger)
                if let pause = holdInBudgetLock?.take() {
                    logger.warning("test hook: holding the budget lock", metadata: ["signer.ca": "\(ca)", "test.pause_seconds": "\(pause.components.seconds)"])
                    try await Task.sleep(for: pause)
                }
                // Counted in one statement: what `BudgetPolicy` asks of each window, certificates
                // and orders that were not exempt renewals plus reservations still in progress.
                var counts: [BudgetPolicy.Window: BudgetPolicy.Count] = [:]
                let rows = try await connection.query("""
                    SELECT
                        count(*) FILTER (WHERE kind = 'certificate' AND names = \(nameSet) AND at > now() - make_interval(secs => \(week)))::int,
                        count(*) FILTER (WHERE kind = 'pending' AND names = \(nameSet))::int,
                        min(at) FILTER (WHERE kind = 'certificate' AND names = \(nameSet) AND at > now() - make_interval(secs => \(week))),
                        count(*) FILTER (WHERE kind = 'certificate' AND registered_domain = \(registeredDomain) AND at > now() - make_interval(secs => \(week)))::int,
                        count(*) FILTER (WHERE kind = 'pending' AND registered_domain = \(registeredDomain))::int,
                        min(at) FILTER (WHERE kind = 'certificate' AND registered_domain = \(registeredDomain) AND at > now() - make_interval(secs => \(week))),
                        count(*) FILTER (WHERE kind = 'order' AND at > now() - make_interval(secs => \(threeHours)))::int,
                        count(*) FILTER (WHERE kind = 'pending')::int,
                        min(at) FILTER (WHERE kind = 'order' AND at > now() - make_interval(secs => \(threeHours)))
                    FROM csrproxy_ledger
                    WHERE ca = \(ca) AND NOT renewal AND (
                        (kind = 'certificate' AND at > now() - make_interval(secs => \(week))) OR
                        (kind = 'order' AND at > now() - make_interval(secs => \(threeHours))) OR
                        (kind = 'pending' AND expires_at > now()))
                    """, logger: logger)
                for try await (nameSetSpent, nameSetPending, nameSetOldest, domainSpent, domainPending, domainOldest, ordersSpent, ordersPending, ordersOldest)
                    in rows.decode((Int, Int, Date?, Int, Int, Date?, Int, Int, Date?).self) {
                    counts[.nameSet] = .init(spent: nameSetSpent, inProgress: nameSetPending, oldest: nameSetOldest)
                    counts[.registeredDomain] = .init(spent: domainSpent, inProgress: domainPending, oldest: domainOldest)
                    counts[.orders] = .init(spent: ordersSpent, inProgress: ordersPending, oldest: ordersOldest)
                }
                // Records this node made while the database was away count too.
                let waiting = (outbox?.pending ?? []).filter { $0.ca == ca && !$0.renewal }
                counts[.nameSet]?.spent += waiting.filter { $0.kind == .certificate && $0.names.joined(separator: ",") == nameSet }.count
                counts[.registeredDomain]?.spent += waiting.filter { $0.kind == .certificate && $0.registeredDomain == registeredDomain }.count
                counts[.orders]?.spent += waiting.filter { $0.kind == .order }.count
                if let refusal = BudgetPolicy.refusal(
                    whose: "the cluster's", countedWhere: "across the signer nodes", ca: ca, limits: limits, names: nameSet.split(separator: ",").map(String.init),
                    registeredDomain: registeredDomain, counts: { counts[$0] ?? .init() }) {
                    return .failure(refusal)
                }
                var id: Int64 = 0
                // The reservation and the order in one statement: a round trip fewer.
                let inserted = try await connection.query("""
                    WITH placed AS (
                        INSERT INTO csrproxy_ledger (kind, node, zone, ca, names, registered_domain, renewal)
                        VALUES ('order', \(node), \(placed.zone), \(ca), \(placed.names.joined(separator: ",")), \(placed.registeredDomain), \(placed.renewal)))
                    INSERT INTO csrproxy_ledger (kind, expires_at, node, zone, ca, names, registered_domain, renewal)
                    VALUES ('pending', now() + make_interval(secs => \(leaseSeconds)), \(node), \(zone), \(ca), \(nameSet), \(registeredDomain), false)
                    RETURNING id
                    """, logger: logger)
                for try await row in inserted.decode(Int64.self) { id = row }
                return .success(id)
            }
        }
        return try outcome.get()
    }

    /// Ends a reservation; a row that cannot be deleted now (within a few seconds) is deleted
    /// when the database answers again, and stops counting with its lease meanwhile.
    func release(_ id: Int64) async {
        await health.cleanUp("end a budget reservation", logger: logger) { [client, logger] in
            try await client.query("DELETE FROM csrproxy_ledger WHERE id = \(id) AND kind = 'pending'", logger: logger)
        }
    }

    /// Records an order placed or a certificate issued, for every node's budgets, at the
    /// database's time, or at `at` for a record that waited in the outbox; and ends the
    /// reservation `releasing` in the same statement.
    func record(_ entry: IssuanceLedger.Entry, at: Date? = nil, releasing reservation: Int64? = nil) async throws {
        let kind = entry.kind.rawValue, node = settings.node, ca = entry.ca ?? "", names = entry.names.joined(separator: ",")
        _ = try await postgresCall("record the \(kind) in the shared ledger") {
            try await client.query("""
                WITH ended AS (DELETE FROM csrproxy_ledger WHERE id = \(reservation) AND kind = 'pending')
                INSERT INTO csrproxy_ledger (kind, at, node, zone, ca, names, registered_domain, renewal, certificate_id, key_sha256, replaced)
                VALUES (\(kind), coalesce(\(at), now()), \(node), \(entry.zone), \(ca), \(names), \(entry.registeredDomain), \(entry.renewal), \(entry.certificateID), \(entry.keySHA256), \(entry.replaced))
                """, logger: logger)
        }
    }

    /// Records a certificate the CA has issued: within `bound`, or else in the outbox, to be
    /// written when the shared ledger answers again. Never throws: the certificate is the
    /// requester's whatever the database does.
    /// `releasing` ends that reservation with it (or, when the record waits, on its own).
    func recordIssued(_ entry: IssuanceLedger.Entry, releasing reservation: Int64? = nil, bound: Duration = .seconds(5)) async {
        do {
            try await health.attempt("record an issued certificate", within: bound) { [self] in
                try await record(entry, releasing: reservation)
            }
        } catch {
            if let reservation { await release(reservation) }
            guard let outbox else {
                logger.error("could not record an issued certificate in the shared ledger", metadata: ["error": "\(String(reflecting: error))"])
                return
            }
            do {
                try outbox.append(entry)
                logger.warning("the shared ledger did not take an issued certificate; it is kept on this node and written when the ledger answers", metadata: [
                    "error": "\(String(reflecting: error))", "state.outbox.count": "\(outbox.pending.count)",
                ])
            } catch {
                logger.critical("an issued certificate is in neither the shared ledger nor the outbox, only in this node's ledger", metadata: [
                    "error": "\(String(reflecting: error))", "acme.certificate_id": "\(entry.certificateID ?? "-")",
                ])
            }
        }
    }

    /// A certificate any node of the cluster issued, by its ARI CertID: its names and key hash.
    func certificate(withID id: String) async -> IssuedCertificate? {
        do {
            let rows = try await client.query("""
                SELECT names, key_sha256, ca FROM csrproxy_ledger WHERE certificate_id = \(id) AND kind = 'certificate' LIMIT 1
                """, logger: logger)
            for try await (names, key, ca) in rows.decode((String, String?, String).self) {
                return IssuedCertificate(names: names.split(separator: ",").map(String.init), keySHA256: key, ca: ca)
            }
        } catch {
            logger.warning("could not look a certificate up in the shared ledger", metadata: ["error": "\(String(reflecting: error))"])
        }
        return nil
    }

    /// Whether any node's exempt renewal replaced the certificate with ARI CertID `id`. When
    /// the database cannot say, the answer is yes: an exemption is never granted blind.
    func hasReplaced(_ id: String) async -> Bool {
        do {
            let rows = try await client.query("""
                SELECT count(*)::int FROM csrproxy_ledger WHERE replaced = \(id) AND kind = 'certificate'
                """, logger: logger)
            for try await count in rows.decode(Int.self) { return count > 0 }
        } catch {
            logger.warning("could not ask the shared ledger whether a certificate was replaced; the renewal is counted as new", metadata: ["error": "\(String(reflecting: error))"])
        }
        return true
    }

    /// Certificates are kept this long, past the longest lifetime a CA gives (90 days), so a
    /// renewal's `replaces` can be checked on any node.
    static let certificateRetention: TimeInterval = 100 * 86_400

    /// Deletes what neither a budget window nor a renewal needs any more (orders after 3
    /// hours, certificates after 100 days, reservations past their lease).
    @discardableResult
    func compact() async throws -> Int {
        var removed = 0
        let retention = Int(Self.certificateRetention), orders = Int(SignerConfiguration.Budgets.orderWindow)
        for try await count in try await client.query("""
            WITH gone AS (DELETE FROM csrproxy_ledger WHERE
                (kind = 'pending' AND expires_at <= now()) OR
                (kind = 'order' AND at < now() - make_interval(secs => \(orders))) OR
                (kind = 'certificate' AND at < now() - make_interval(secs => \(retention)))
                RETURNING 1)
            SELECT count(*)::int FROM gone
            """, logger: logger).decode(Int.self) { removed = count }
        return removed
    }

}

/// Compacts the shared ledger once a minute, on every node (the DELETE is idempotent).
struct PostgresLedgerCompaction: Service {
    let ledger: PostgresLedger
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while true {
                try await Task.sleep(for: .seconds(60))
                do {
                    let removed = try await ledger.compact()
                    if removed > 0 { logger.debug("compacted the shared issuance ledger", metadata: ["state.ledger.removed": "\(removed)"]) }
                } catch {
                    logger.debug("could not compact the shared issuance ledger", metadata: ["error": "\(String(reflecting: error))"])
                }
            }
        }
    }
}

/// A pause taken once: a test's stand-in for a node that stops at one point of its work.
final class OneShotPause: Sendable {
    private let pause: Mutex<Duration?>

    init(_ pause: Duration) { self.pause = Mutex(pause) }

    /// The pause the first time, nil after.
    func take() -> Duration? {
        pause.withLock { pause in
            defer { pause = nil }
            return pause
        }
    }
}
