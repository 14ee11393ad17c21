/// A cluster node's records: the budgets are counted and reserved in PostgreSQL, across every
/// node (`PostgresLedger`); each record goes to this node's ledger file first (its own account of
/// what it asked, which `check-config --budgets` reads, and what survives the database) and
/// then to the shared one, or to the outbox while that does not answer.
struct PostgresIssuanceRecords: IssuanceRecords {
    let node: NodeIssuanceRecords
    let cluster: PostgresLedger

    func reserve(_ order: Issuer.Order, at authority: CertificateAuthority, placing placed: IssuanceLedger.Entry) async throws -> BudgetReservation {
        let id = try await cluster.reserve(
            ca: authority.name, limits: authority.budget.limits, names: order.names, zone: order.zone, registeredDomain: order.registeredDomain,
            placing: placed)
        let reservation = BudgetReservation(ca: authority.name, id: id)
        do {
            try node.recordOrder(placed)
        } catch {
            await release(reservation)
            throw error
        }
        return reservation
    }

    func release(_ reservation: BudgetReservation) async {
        await cluster.release(reservation.id)
    }

    func recordOrder(_ entry: IssuanceLedger.Entry) async throws {
        try node.recordOrder(entry)
        try await cluster.record(entry)
    }

    func recordIssued(_ entry: IssuanceLedger.Entry, releasing reservation: BudgetReservation?) async {
        node.recordIssued(entry, releasing: nil)
        await cluster.recordIssued(entry, releasing: reservation?.id)
    }

    func certificate(withID id: String) async -> IssuedCertificate? {
        if let issued = node.certificate(withID: id) { return issued }
        return await cluster.certificate(withID: id)
    }

    func hasReplaced(_ id: String) async -> Bool {
        if node.hasReplaced(id) { return true }
        return await cluster.hasReplaced(id)
    }
}
