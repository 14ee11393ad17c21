import DNSCodec
import DNSServer
import Logging
import PostgresNIO
import ServiceLifecycle

/// Everything a cluster node keeps in PostgreSQL, built once by the composition root: the
/// client (with its per-session timeouts), the health every backend consults, the challenge
/// store with this node's replica, the ledger and its outbox, and the permit releases the
/// gate waits on. It hands out the gate and the records, and the services that keep them:
/// the client, the replication (schema migrations, node registration, lease reaping,
/// LISTEN), the ledger's compaction and the outbox's sync.
struct PostgresState {
    let settings: SignerConfiguration.PostgresSettings
    let client: PostgresClient
    let health: PostgresHealth
    let challenges: PostgresChallengeStore
    let outbox: PostgresLedgerOutbox
    let ledger: PostgresLedger
    let releases = PermitReleases()
    let logger: Logger

    /// - Parameters:
    ///   - replica: this node's zone store, which its DNS serves; it answers challenge
    ///     questions SERVFAIL whenever the database is away.
    ///   - holdInBudgetLock: tests only (`CSRPROXY_TEST_HOLD_BUDGET_LOCK_SECONDS`).
    init(
        settings: SignerConfiguration.PostgresSettings, replica: ZoneStore, origins: [DNSName], outboxPath: String,
        holdInBudgetLock: Duration?, logger: Logger
    ) throws {
        self.settings = settings
        self.logger = logger
        client = try settings.makeClient(logger: logger)
        // Until the database answers, and whenever it is lost, this node's copy of the
        // challenge values may be stale.
        health = PostgresHealth(onChange: { up in replica.setRunTimeValuesCurrent(up) })
        challenges = PostgresChallengeStore(client: client, settings: settings, replica: replica, origins: origins, health: health, logger: logger)
        outbox = try PostgresLedgerOutbox(path: outboxPath)
        ledger = PostgresLedger(client: client, settings: settings, logger: logger, health: health, outbox: outbox,
                                holdInBudgetLock: holdInBudgetLock.map { OneShotPause($0) })
    }

    /// The cluster-wide gate: `set` mode's per-name cap and `lock` mode's one order per zone.
    var gate: PostgresIssuanceGate {
        PostgresIssuanceGate(client: client, settings: settings, health: health, releases: releases, logger: logger)
    }

    /// The cluster's budgets and records, with this node's ledger file first.
    func records(node: NodeIssuanceRecords) -> PostgresIssuanceRecords {
        PostgresIssuanceRecords(node: node, cluster: ledger)
    }

    /// In start order; a service group stops them in reverse, so the client stops after its users.
    var services: [any Service] {
        let registration = NodeRegistration(client: client, name: settings.node, lease: settings.nodeLease, logger: logger)
        return [
            client,
            ChallengeReplication(store: challenges, health: health, registration: registration, releases: releases, logger: logger),
            PostgresLedgerCompaction(ledger: ledger, logger: logger),
            PostgresLedgerSync(ledger: ledger, outbox: outbox, logger: logger),
        ]
    }
}
