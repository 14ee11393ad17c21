import Foundation

/// `check-config --budgets`: how much of each CA's budgets the ledger shows spent, and when the
/// next new certificate is possible, per CA and zone. Reads the ledger without changing it.
public enum BudgetReport {
    public static func text(for configuration: SignerConfiguration, now: Date = Date()) throws -> String {
        let path = IssuanceLedger.path(besideAccountKey: configuration.acme.accountKeyPath)
        let ledger = try IssuanceLedger(path: path, readOnly: true, now: now)
        let domains = try RegisteredDomains(zones: configuration.zones)
        let weekAgo = now.addingTimeInterval(-SignerConfiguration.Budgets.certificateWindow)
        var text = "budgets (from \(path)):\n"
        for (index, ca) in configuration.cas.enumerated() {
            let budget = CertificateBudget(ca: ca.name, isFirstCA: index == 0, limits: ca.budgets, ledger: ledger)
            let limits = ca.budgets
            let orders = ledger.entries(.order, since: now.addingTimeInterval(-SignerConfiguration.Budgets.orderWindow)) { budget.counts($0) && !$0.renewal }
            text += "  CA \(ca.name): new orders \(orders.count)/\(limits.orders) in 3 hours"
            text += nextFree(orders, limit: limits.orders, window: SignerConfiguration.Budgets.orderWindow, now: now) + "\n"
            for zone in configuration.zones {
                let domain = domains.domain(of: zone.names[0], in: zone)
                let underDomain = ledger.entries(.certificate, since: weekAgo) { budget.counts($0) && !$0.renewal && $0.registeredDomain == domain }
                let renewals = ledger.entries(.certificate, since: weekAgo) { budget.counts($0) && $0.renewal && $0.zone == zone.name }
                text += "    zone \(zone.name):\n"
                text += "      new certificates under \(domain): \(underDomain.count)/\(limits.certificatesPerRegisteredDomain) in 7 days"
                text += nextFree(underDomain, limit: limits.certificatesPerRegisteredDomain, window: SignerConfiguration.Budgets.certificateWindow, now: now) + "\n"
                if zone.naming == .shared {
                    let names = zone.names.map { $0.lowercased() }.sorted()
                    let sameSet = ledger.entries(.certificate, since: weekAgo) { budget.counts($0) && !$0.renewal && $0.names == names }
                    text += "      new certificates for \(names.joined(separator: ", ")): \(sameSet.count)/\(limits.certificatesPerNameSet) in 7 days"
                    text += nextFree(sameSet, limit: limits.certificatesPerNameSet, window: SignerConfiguration.Budgets.certificateWindow, now: now) + "\n"
                } else {
                    text += "      new certificates per install's name set: at most \(limits.certificatesPerNameSet) in 7 days each\n"
                }
                text += "      renewals with replaces (exempt): \(renewals.count) in 7 days\n"
            }
        }
        return text
    }

    /// ", spent: next free at <date>" when the budget is spent.
    private static func nextFree(_ counted: [IssuanceLedger.Entry], limit: Int, window: TimeInterval, now: Date) -> String {
        guard counted.count >= limit else { return "" }
        let index = counted.count - limit
        guard counted.indices.contains(index) else { return ", spent (limit 0)" }
        let free = counted[index].at.addingTimeInterval(window)
        return ", spent: next free at \(ISO8601DateFormatter().string(from: free))"
    }
}
