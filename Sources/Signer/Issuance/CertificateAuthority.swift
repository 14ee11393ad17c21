/// One CA the signer orders from, as `[[acme]]` lists it: its account and its budget. Requests
/// try the CAs in the configured order.
struct CertificateAuthority: Sendable {
    /// What logs, metrics and the ledger call it.
    let name: String
    let account: AccountManager
    let budget: CertificateBudget
    let profile: String?
}
