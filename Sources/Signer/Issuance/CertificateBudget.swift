import Foundation
import SignerProtocol
import Synchronization

/// The signer's share of the CA's limits, checked before any order so that no request can
/// spend the publisher's quota (Let's Encrypt's 50 a week count for the whole registered
/// domain, production sites included). A request is counted from the moment it is let
/// through (in flight) and then from the ledger, so concurrent requests cannot all slip under
/// the limit together. Renewals the CA exempts (ARI `replaces`) are not counted.
final class CertificateBudget: Sendable {
    /// The CA this budget is for; ledger entries without a CA count for the first one.
    let ca: String
    let isFirstCA: Bool
    /// The limits in force: set at start, and again by a configuration reload.
    var limits: SignerConfiguration.Budgets {
        get { currentLimits.withLock { $0 } }
    }
    private let currentLimits: Mutex<SignerConfiguration.Budgets>
    let ledger: IssuanceLedger
    private let inFlight = Mutex<[UInt64: Reservation]>([:])
    private let nextID = Atomic<UInt64>(0)

    struct Reservation: Sendable {
        let names: [String]
        let registeredDomain: String
    }

    init(ca: String, isFirstCA: Bool, limits: SignerConfiguration.Budgets, ledger: IssuanceLedger) {
        self.ca = ca
        self.isFirstCA = isFirstCA
        currentLimits = Mutex(limits)
        self.ledger = ledger
    }

    /// New limits for the requests that come from now on (a reload); reservations already
    /// taken stand.
    func update(limits: SignerConfiguration.Budgets) {
        currentLimits.withLock { $0 = limits }
    }

    /// Whether a ledger entry was spent at this budget's CA.
    func counts(_ entry: IssuanceLedger.Entry) -> Bool {
        entry.ca == ca || (entry.ca == nil && isFirstCA)
    }

    /// Lets one new certificate for `names` through, or throws `budget-exhausted` with the
    /// time the oldest counted certificate or order leaves its window. Pair with `release`.
    func reserve(names: [String], registeredDomain: String, now: Date = Date()) throws(Problem) -> UInt64 {
        let names = names.map { $0.lowercased() }.sorted()
        let limits = self.limits  // one reading, whatever a reload does meanwhile
        let outcome: Result<UInt64, Problem> = inFlight.withLock { reservations in
            let pending = Array(reservations.values)
            let certificateSince = now.addingTimeInterval(-SignerConfiguration.Budgets.certificateWindow)
            let checks: [(what: String, limit: Int, counted: [IssuanceLedger.Entry], pending: Int, window: TimeInterval)] = [
                ("new certificates for \(names.joined(separator: ", ")) in 7 days", limits.certificatesPerNameSet,
                 ledger.entries(.certificate, since: certificateSince) { counts($0) && !$0.renewal && $0.names == names },
                 pending.filter { $0.names == names }.count, SignerConfiguration.Budgets.certificateWindow),
                ("new certificates under \(registeredDomain) in 7 days", limits.certificatesPerRegisteredDomain,
                 ledger.entries(.certificate, since: certificateSince) { counts($0) && !$0.renewal && $0.registeredDomain == registeredDomain },
                 pending.filter { $0.registeredDomain == registeredDomain }.count, SignerConfiguration.Budgets.certificateWindow),
                ("new orders in 3 hours", limits.orders,
                 ledger.entries(.order, since: now.addingTimeInterval(-SignerConfiguration.Budgets.orderWindow)) { counts($0) && !$0.renewal },
                 pending.count, SignerConfiguration.Budgets.orderWindow),
            ]
            for check in checks where check.counted.count + check.pending >= check.limit {
                // The oldest counted one frees the next slot; with only requests in flight, a minute is a fair guess.
                let freed = check.counted.first.map { $0.at.addingTimeInterval(check.window) } ?? now.addingTimeInterval(60)
                let seconds = max(1, Int(freed.timeIntervalSince(now).rounded(.up)))
                return .failure(Problem(
                    .budgetExhausted,
                    detail: "the signer's budget at \(ca) of \(check.limit) \(check.what) is spent (\(check.counted.count) issued, \(check.pending) in progress); the next is possible in \(seconds) s",
                    retryAfterSeconds: seconds))
            }
            let id = nextID.wrappingAdd(1, ordering: .relaxed).newValue
            reservations[id] = Reservation(names: names, registeredDomain: registeredDomain)
            return .success(id)
        }
        return try outcome.get()
    }

    /// Ends a reservation: the order was recorded in the ledger, or it never reached the CA.
    func release(_ id: UInt64) {
        _ = inFlight.withLock { $0.removeValue(forKey: id) }
    }
}
