import DNSCodec
import Logging
import ServiceLifecycle

/// Stands where the DNS listener stands in `rfc2136` mode, where the publisher's primary
/// serves the zone: at start it withdraws what a run that crashed may have left at the
/// zones' fixed `_acme-challenge` names, then reports the DNS side ready. (Per-install names
/// cannot be listed without a transfer; their values are the primary's to expire.)
struct ExternalPrimaryStartup: Service {
    let challenges: any ChallengeStore
    let zones: [SignerConfiguration.ZoneSettings]
    let logger: Logger
    let onReady: @Sendable () async -> Void

    func run() async throws {
        if let store = challenges as? DynamicUpdateStore {
            for zone in zones where zone.naming == .shared {
                for name in zone.names {
                    guard let challenge = try? DNSName("_acme-challenge." + name) else { continue }
                    do {
                        try await store.clear(challenge)
                    } catch {
                        logger.warning("could not clear old challenge values on the primary", metadata: ["dns.query.name": "\(challenge)", "error": "\(error)"])
                    }
                }
            }
        }
        logger.info("publishing challenges on the zone's primary by RFC 2136; no DNS listener runs")
        await onReady()
        try? await gracefulShutdown()
    }
}
