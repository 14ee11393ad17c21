import DNSServer
import Logging
import ServiceLifecycle
import Synchronization
import SystemdSupport
import UnixSignals

/// SIGHUP (`systemctl reload csrproxy-signer`): reads the configuration file again and applies
/// what can change while the signer serves: the zone table (names, subjects, naming, key
/// policy, concurrency), each zone's records (nameservers, hosts, TTLs, CAA: the serial moves
/// on and secondaries get a NOTIFY), the secondaries and TSIG keys (who may transfer, whom
/// NOTIFY tells, which nameservers must serve a value before the CA looks), and the budgets. Requests already approved finish as
/// they began; new ones see the new settings. A file that does not read, or that changes what
/// only a restart can (listeners, CAs, state, the set of zones, ...), changes nothing: the
/// running configuration stays, and the log says why. systemd hears RELOADING=1 before and
/// READY=1 after, whatever the outcome.
final class ConfigurationReload: Service {
    let path: String
    let running: Mutex<SignerConfiguration>
    let zoneTable: CurrentZoneTable
    let store: ZoneStore
    let authorities: [CertificateAuthority]
    let transferPolicies: TransferPolicyStore
    let probe: ServedValueProbe
    let notifier: SystemdNotifier
    let logger: Logger

    init(path: String, running: SignerConfiguration, zoneTable: CurrentZoneTable, store: ZoneStore,
         authorities: [CertificateAuthority], transferPolicies: TransferPolicyStore, probe: ServedValueProbe,
         notifier: SystemdNotifier = SystemdNotifier(), logger: Logger) {
        self.path = path
        self.running = Mutex(running)
        self.zoneTable = zoneTable
        self.store = store
        self.authorities = authorities
        self.transferPolicies = transferPolicies
        self.probe = probe
        self.notifier = notifier
        self.logger = logger
    }

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            notifier.reloading()
            notifier.ready(status: reload())
        }
    }

    /// One reload; returns the status line for systemd.
    func reload() -> String {
        let new: SignerConfiguration
        do {
            new = try SignerConfiguration(contentsOfFile: path)
        } catch {
            logger.error("kept the running configuration: the file does not read", metadata: ["signer.config": "\(path)", "error": "\(error)"])
            return "reload failed: \(path) does not read; the running configuration stays"
        }
        let old = running.withLock { $0 }
        let needsRestart = Self.restartOnly(old, new)
        guard needsRestart.isEmpty else {
            logger.error("kept the running configuration: these settings change only with a restart", metadata: [
                "signer.config": "\(path)", "signer.reload.restart_only": "\(needsRestart.joined(separator: "; "))",
            ])
            return "reload refused: \(needsRestart.joined(separator: "; ")) changed, which needs a restart"
        }
        var changed: [String] = []
        // Secondaries first: a zone change below is then announced to the new set, and the
        // probe waits for exactly the nameservers the CA may ask.
        if String(reflecting: old.dns.transfers) != String(reflecting: new.dns.transfers) {
            do {
                try transferPolicies.replace(with: new.dns.transfers)
                probe.replaceOthers(with: LocalResources.probedNameservers(new.dns))
                changed.append("secondaries and TSIG keys (\(new.dns.transfers.secondaries.count) secondaries)")
            } catch {
                logger.error("kept the running configuration: the new secondaries do not check out", metadata: ["signer.config": "\(path)", "error": "\(error)"])
                return "reload refused: the new secondaries do not check out"
            }
        }
        do {
            for zone in new.zones {
                guard let before = old.zones.first(where: { $0.dns.origin == zone.dns.origin }) else { continue }
                // A zone whose CAA the signer generates keeps the records pinned to its accounts.
                if try store.replaceConfiguredRecords(zone.dns, keepingCAA: zone.generatesCAA) {
                    changed.append("\(zone.name) records (serial \(store.serials[zone.dns.origin.lowercased].map(String.init) ?? "?"))")
                }
                if Self.policy(of: before) != Self.policy(of: zone) { changed.append("\(zone.name) policy") }
            }
        } catch {
            // `SignerConfiguration` validated every zone already; a store that refuses one now
            // has kept the zones it had not reached.
            logger.error("a zone's new records were refused; the zones before it are applied", metadata: ["error": "\(error)"])
        }
        zoneTable.replace(with: ZoneTable(zones: new.zones))
        for (authority, settings) in zip(authorities, new.cas) where authority.budget.limits != settings.budgets {
            authority.budget.update(limits: settings.budgets)
            changed.append("\(authority.name) budgets")
        }
        running.withLock { $0 = new }
        let summary = changed.isEmpty ? "nothing changed" : changed.joined(separator: ", ")
        logger.notice("reloaded the configuration", metadata: ["signer.config": "\(path)", "signer.reload.changed": "\(summary)"])
        return "reloaded: \(summary)"
    }

    /// What differs between `old` and `new` that a reload cannot apply. Compared as their
    /// descriptions: each part is a plain value.
    static func restartOnly(_ old: SignerConfiguration, _ new: SignerConfiguration) -> [String] {
        var parts: [String] = []
        func differs(_ name: String, _ a: Any, _ b: Any) {
            if String(reflecting: a) != String(reflecting: b) { parts.append(name) }
        }
        func withoutBudgets(_ cas: [SignerConfiguration.ACMESettings]) -> [SignerConfiguration.ACMESettings] {
            cas.map { var ca = $0; ca.budgets = .init(); return ca }
        }
        func withoutTTLs(_ dns: SignerConfiguration.DNSSettings) -> SignerConfiguration.DNSSettings {
            var dns = dns
            (dns.negativeTTL, dns.recordTTL, dns.challengeTTL) = (0, 0, 0)
            dns.transfers = .init()
            return dns
        }
        differs("the CAs ([acme]/[[acme]], other than budgets)", withoutBudgets(old.cas), withoutBudgets(new.cas))
        differs("[dns] (other than TTLs, secondaries and TSIG keys)", withoutTTLs(old.dns), withoutTTLs(new.dns))
        differs("[http]", old.http, new.http)
        differs("[issuance]", old.issuance, new.issuance)
        differs("[state]", old.state, new.state)
        differs("the set of zones", old.zones.map(\.dns.origin.lowercased.description).sorted(), new.zones.map(\.dns.origin.lowercased.description).sorted())
        for zone in new.zones {
            guard let before = old.zones.first(where: { $0.dns.origin == zone.dns.origin }) else { continue }
            differs("\(zone.name): registered_domain/public_suffix", before.registeredDomain, zone.registeredDomain)
            differs("\(zone.name): whether caa is set", before.generatesCAA, zone.generatesCAA)
        }
        return parts
    }

    /// The parts of a zone's settings the zone table decides with.
    private static func policy(of zone: SignerConfiguration.ZoneSettings) -> String {
        String(reflecting: (zone.subject, zone.names, zone.naming, zone.concurrency, zone.maximumValuesPerName, zone.requireSubjectAlternativeName))
    }
}
