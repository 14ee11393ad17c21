import Foundation
import SignerProtocol

/// The CA limits one new certificate is held to, written once for every backend: which windows
/// count, what each is limited to, and the verdict from what a backend counted in them. The
/// backends only count (a node's ledger in memory, a cluster's in SQL under a lock); exempt
/// renewals are never counted.
enum BudgetPolicy {
    /// The three limits a new certificate must fit, checked in this order.
    enum Window: CaseIterable, Sendable {
        /// New certificates for this exact set of names, in 7 days.
        case nameSet
        /// New certificates under the registered domain, in 7 days.
        case registeredDomain
        /// New orders at the CA, in 3 hours.
        case orders

        var duration: TimeInterval {
            self == .orders ? SignerConfiguration.Budgets.orderWindow : SignerConfiguration.Budgets.certificateWindow
        }

        func limit(in limits: SignerConfiguration.Budgets) -> Int {
            switch self {
            case .nameSet: limits.certificatesPerNameSet
            case .registeredDomain: limits.certificatesPerRegisteredDomain
            case .orders: limits.orders
            }
        }
    }

    /// What a backend found in one window: spent (in the ledger), in progress (reserved, not
    /// recorded yet), and when the oldest spent one was, which frees the next place.
    struct Count: Sendable, Equatable {
        var spent = 0
        var inProgress = 0
        var oldest: Date?
    }

    /// Nil when one more fits every window; otherwise the `budget-exhausted` problem, with the
    /// time the first full window frees a place. `whose` names the budget ("the signer's",
    /// "the cluster's") and `countedWhere` where the counts come from; `names` are sorted and
    /// lowercase.
    static func refusal(
        whose: String, countedWhere: String? = nil, ca: String, limits: SignerConfiguration.Budgets, names: [String], registeredDomain: String,
        counts: (Window) -> Count, now: Date = Date()
    ) -> Problem? {
        for window in Window.allCases {
            let count = counts(window)
            let limit = window.limit(in: limits)
            guard count.spent + count.inProgress >= limit else { continue }
            // With only requests in flight, a minute is a fair guess.
            let freed = count.oldest.map { $0.addingTimeInterval(window.duration) } ?? now.addingTimeInterval(60)
            let seconds = max(1, Int(freed.timeIntervalSince(now).rounded(.up)))
            let what = switch window {
            case .nameSet: "new certificates for \(names.joined(separator: ", ")) in 7 days"
            case .registeredDomain: "new certificates under \(registeredDomain) in 7 days"
            case .orders: "new orders in 3 hours"
            }
            return Problem(
                .budgetExhausted,
                detail: "\(whose) budget at \(ca) of \(limit) \(what) is spent (\(count.spent) issued, \(count.inProgress) in progress\(countedWhere.map { " " + $0 } ?? "")); the next is possible in \(seconds) s",
                retryAfterSeconds: seconds)
        }
        return nil
    }
}
