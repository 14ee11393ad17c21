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
            let refusal = BudgetPolicy.refusal(whose: "the signer's", ca: ca, limits: limits, names: names, registeredDomain: registeredDomain, counts: { window in
                let spent = ledger.entries(window == .orders ? .order : .certificate, since: now.addingTimeInterval(-window.duration)) { entry in
                    guard counts(entry), !entry.renewal else { return false }
                    return switch window {
                    case .nameSet: entry.names == names
                    case .registeredDomain: entry.registeredDomain == registeredDomain
                    case .orders: true
                    }
                }
                let inProgress = switch window {
                case .nameSet: pending.filter { $0.names == names }.count
                case .registeredDomain: pending.filter { $0.registeredDomain == registeredDomain }.count
                case .orders: pending.count
                }
                return BudgetPolicy.Count(spent: spent.count, inProgress: inProgress, oldest: spent.first?.at)
            }, now: now)
            if let refusal { return .failure(refusal) }
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
