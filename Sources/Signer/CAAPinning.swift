import DNSCodec
import DNSServer
import Logging
import ServiceLifecycle

/// CAA for the zones that set none: one `issue` record per configured CA, limited to DNS-01
/// and, once the account is registered, to the signer's own account (RFC 8657), plus
/// `issuewild ";"` since no install needs a wildcard. So no one else's account at these CAs,
/// and no other CA, can issue for the zone. Served only when every CA has a `caa_identity`:
/// a CAA set that left a CA out would forbid it to issue.
struct CAAPinning: Service {
    let zones: [SignerConfiguration.ZoneSettings]
    let authorities: [(identity: String, account: AccountManager)]
    let store: ZoneStore
    let logger: Logger

    /// The records for the accounts known now.
    func records() throws -> [CAARecord] {
        var records: [CAARecord] = []
        for authority in authorities {
            var value = "\(authority.identity); validationmethods=dns-01"
            if let url = authority.account.client.accountURL { value += "; accounturi=\(url.absoluteString)" }
            records.append(try CAARecord(tag: "issue", value: value))
        }
        records.append(try CAARecord(tag: "issuewild", value: ";"))
        return records
    }

    func run() async throws {
        let origins = zones.filter(\.generatesCAA).map(\.dns.origin)
        // Until every account is registered the records name the CA and the method only;
        // each registration that completes pins its account. (A service that returns ends
        // the whole group, so this one then waits for the shutdown like the others.)
        while !origins.isEmpty, !Task.isShuttingDownGracefully, !Task.isCancelled {
            let current = try records()
            for origin in origins { store.replaceCAA(current, in: origin) }
            if authorities.allSatisfy({ $0.account.client.accountURL != nil }) {
                logger.info("CAA pins the signer's ACME accounts", metadata: ["dns.caa.count": "\(current.count)"])
                break
            }
            await sleepUnlessShuttingDown(for: .seconds(1))
        }
        try? await gracefulShutdown()
    }
}
