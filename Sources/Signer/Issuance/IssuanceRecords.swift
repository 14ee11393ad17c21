import Logging

/// What a signer keeps of what it asked of its CAs, which the budgets count and renewals are
/// checked against: the orders placed, the certificates issued, the reservations in progress.
/// One signer keeps them in its ledger file (`NodeIssuanceRecords`); the nodes of a cluster
/// in PostgreSQL too, where each counts what all of them spent (`PostgresIssuanceRecords`).
/// The composition root chooses; the issuer calls each step once.
protocol IssuanceRecords: Sendable {
    /// Lets one new certificate for the order's names through at `authority` (inside its
    /// budget, `BudgetPolicy`) and records `placed`, the order about to go to the CA; or throws
    /// `budget-exhausted`. Pair with `release` (nothing was issued) or with `recordIssued`.
    func reserve(_ order: Issuer.Order, at authority: CertificateAuthority, placing placed: IssuanceLedger.Entry) async throws -> BudgetReservation
    /// Ends a reservation whose order issued nothing.
    func release(_ reservation: BudgetReservation) async
    /// Records an order that spends no budget (an exempt renewal) before it goes to the CA; a
    /// failure stops the order.
    func recordOrder(_ entry: IssuanceLedger.Entry) async throws
    /// Records a certificate the CA issued, and ends the reservation it was ordered under.
    /// Never throws: the certificate is its requester's whatever the records do.
    func recordIssued(_ entry: IssuanceLedger.Entry, releasing reservation: BudgetReservation?) async
    /// A certificate this signer (or any node of its cluster) issued, by its ARI CertID.
    func certificate(withID id: String) async -> IssuedCertificate?
    /// Whether an exempt renewal has replaced the certificate with ARI CertID `id` already.
    /// When the records cannot say, yes: an exemption is never granted blind.
    func hasReplaced(_ id: String) async -> Bool
}

/// What the records say of an issued certificate: a renewal's proof of provenance, and the CA
/// to ask for its ARI window.
struct IssuedCertificate: Sendable, Equatable {
    /// Sorted, lowercase.
    var names: [String]
    var keySHA256: String?
    /// Nil in entries written before there were several CAs: the first one.
    var ca: String?
}

/// A place held in a CA's budget, by whichever records took it.
struct BudgetReservation: Sendable, Hashable {
    let ca: String
    let id: Int64
}

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
