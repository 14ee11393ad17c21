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
