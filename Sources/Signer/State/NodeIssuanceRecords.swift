import Logging

/// One signer's records: the ledger file in its state directory, and each CA's budget counted
/// from it and from the reservations in progress in this process.
struct NodeIssuanceRecords: IssuanceRecords {
    let ledger: IssuanceLedger
    let budgets: [String: CertificateBudget]
    let logger: Logger

    init(ledger: IssuanceLedger, authorities: [CertificateAuthority], logger: Logger) {
        self.ledger = ledger
        budgets = Dictionary(authorities.map { ($0.name, $0.budget) }, uniquingKeysWith: { first, _ in first })
        self.logger = logger
    }

    func reserve(_ order: Issuer.Order, at authority: CertificateAuthority, placing placed: IssuanceLedger.Entry) throws -> BudgetReservation {
        let id = try authority.budget.reserve(names: order.names, registeredDomain: order.registeredDomain)
        let reservation = BudgetReservation(ca: authority.name, id: Int64(bitPattern: id))
        do {
            try ledger.record(placed)
        } catch {
            release(reservation)
            throw error
        }
        return reservation
    }

    func release(_ reservation: BudgetReservation) {
        budgets[reservation.ca]?.release(UInt64(bitPattern: reservation.id))
    }

    func recordOrder(_ entry: IssuanceLedger.Entry) throws {
        try ledger.record(entry)
    }

    func recordIssued(_ entry: IssuanceLedger.Entry, releasing reservation: BudgetReservation?) {
        do {
            try ledger.record(entry)
        } catch {
            logger.critical("could not record an issued certificate in this node's ledger", metadata: ["error": "\(error)"])
        }
        if let reservation { release(reservation) }
    }

    func certificate(withID id: String) -> IssuedCertificate? {
        ledger.certificate(withID: id).map { IssuedCertificate(names: $0.names, keySHA256: $0.keySHA256, ca: $0.ca) }
    }

    func hasReplaced(_ id: String) -> Bool {
        ledger.hasReplaced(id)
    }
}
