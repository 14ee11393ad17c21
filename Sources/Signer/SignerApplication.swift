import ACME
import DNSServer
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import ReloadableTLS
import ServiceLifecycle
import SignerProtocol
import SystemdSupport

/// Where the signer ended up listening (ephemeral ports resolved), reported once both are bound.
public struct SignerAddresses: Sendable {
    public var http: String
    public var dns: [ListenAddress]
}

/// The composition root: builds the whole signer from its configuration. The HTTP application
/// runs the DNS server and the account registration as its own services, so one
/// `runService()` starts everything and a SIGTERM stops everything in order.
/// With `configurationPath`, SIGHUP reads that file again (`ConfigurationReload`).
public func buildSigner(
    configuration: SignerConfiguration,
    configurationPath: String? = nil,
    logger: Logger,
    onListening: @escaping @Sendable (SignerAddresses) async -> Void = { _ in }
) throws -> some ApplicationProtocol {
    // Everything that can fail on bad input comes first, before any client needs shutting down.
    let local = try LocalResources(configuration: configuration, logger: logger)
    // One client per CA: each trusts its own roots.
    let transports = try zip(configuration.cas, local.trustRoots).map { ca, roots in
        try AsyncHTTPClientTransport(configuration: .init(additionalTrustRootsPEM: roots, trustOnlyAdditionalRoots: ca.trustOnlyListedRoots))
    }
    return buildApplication(
        configuration: configuration, local: local, caClients: transports, services: transports.map { TransportShutdown(transport: $0) },
        configurationPath: configurationPath, logger: logger, onListening: onListening)
}

/// What the signer takes from this machine before it talks to anyone: the zone store, the
/// ACME account key, the issuance ledger beside it, the public suffix list, the probe of its
/// own DNS, the API's TLS identity and the CA trust roots. Building it is where bad
/// configuration is found.
struct LocalResources {
    /// The zones as our DNS listener serves them (in `rfc2136` mode, only for the API's own
    /// records; the publisher's primary serves the zone).
    let store: ZoneStore
    /// Where challenge values go: `store`, the publisher's primary, or the shared state.
    let challenges: any ChallengeStore
    /// With `[state] backend = "postgres"`: everything the node keeps there.
    let postgres: PostgresState?
    /// One per CA, in `configuration.cas` order, as are `trustRoots`.
    let accountKeys: [ACMEAccountKey]
    let ledger: IssuanceLedger
    let domains: RegisteredDomains
    let trustRoots: [[String]]
    let probe: ServedValueProbe
    let identities: TLSIdentityStore?
    init(configuration: SignerConfiguration, logger: Logger) throws {
        if case .postgres(let settings) = configuration.state.backend {
            // The serials come from the shared state, the same on every node.
            let zoneStore = try ZoneStore(zones: configuration.zones.map(\.dns), sharesSerials: true)
            store = zoneStore
            // `CSRPROXY_TEST_HOLD_BUDGET_LOCK_SECONDS`: ClusterFaultTests' node that stops while
            // it holds the budget lock. Read here, the composition root, and nowhere else.
            let hold = ProcessInfo.processInfo.environment["CSRPROXY_TEST_HOLD_BUDGET_LOCK_SECONDS"].flatMap(Int.init)
            postgres = try PostgresState(
                settings: settings, replica: zoneStore, origins: configuration.zones.map(\.dns.origin),
                outboxPath: PostgresLedgerOutbox.path(besideAccountKey: configuration.acme.accountKeyPath),
                holdInBudgetLock: hold.map { .seconds($0) }, logger: logger)
        } else {
            let serials = try ZoneSerials(path: ZoneSerials.path(besideAccountKey: configuration.acme.accountKeyPath), logger: logger)
            store = try ZoneStore(
                zones: configuration.zones.map { zone in
                    var dns = zone.dns
                    dns.serial = serials.startingSerial(for: dns.origin, configured: dns.serial)
                    return dns
                },
                reservation: serials.reservation)
            postgres = nil
        }
        accountKeys = try configuration.cas.map { try AccountManager.loadOrCreateKey(at: $0.accountKeyPath, logger: logger) }
        ledger = try IssuanceLedger(path: IssuanceLedger.path(besideAccountKey: configuration.acme.accountKeyPath))
        domains = try RegisteredDomains(zones: configuration.zones)
        trustRoots = try configuration.cas.map { ca in
            try ca.trustRootPaths.map { path in
                do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
                    throw SignerError(.configuration, "cannot read acme.trust_roots file \(path): \(error.localizedDescription)")
                }
            }
        }
        let group = MultiThreadedEventLoopGroup.singleton
        switch configuration.dns.mode {
        case .authoritative:
            challenges = postgres?.challenges ?? store
            probe = try ServedValueProbe(listener: configuration.dns.listen[0], others: Self.probedNameservers(configuration.dns), eventLoopGroup: group)
        case .rfc2136(let settings):
            challenges = DynamicUpdateStore(settings: settings, origins: configuration.zones.map(\.dns.origin), challengeTTL: configuration.dns.challengeTTL)
            probe = ServedValueProbe(
                servers: settings.nameservers.map { ServedValueProbe.Server(name: $0.hostAndPort, address: $0) },
                eventLoopGroup: group)
        }
        switch configuration.http.tls {
        case .off:
            identities = nil
        case .files(let certificatePath, let keyPath):
            identities = TLSIdentityStore(try loadTLSIdentity(certificatePath: certificatePath, keyPath: keyPath))
        case .automatic(let name, let directory):
            identities = TLSIdentityStore(try APICertificateService.initialIdentity(name: name, directory: directory, logger: logger))
        }
    }
}

extension LocalResources {
    /// The nameservers besides our own listener that must serve a value before the CA looks:
    /// the secondaries, then the other nodes of a cluster.
    static func probedNameservers(_ dns: SignerConfiguration.DNSSettings) -> [ServedValueProbe.Server] {
        (dns.transfers.secondaries.map(\.address) + dns.otherNameservers).map { ServedValueProbe.Server(name: $0.hostAndPort, address: $0) }
    }
}

/// The signer as an application, talking to each CA through its client in `caClients` (in
/// `configuration.cas` order); `services` run beside the signer's own (the owner of the
/// clients shuts them down there). Tests build it with clients of their choosing and drive
/// the router in-process.
func buildApplication(
    configuration: SignerConfiguration,
    local: LocalResources,
    caClients: [any ACMEHTTPClient],
    services extraServices: [any Service] = [],
    configurationPath: String? = nil,
    logger: Logger,
    onListening: @escaping @Sendable (SignerAddresses) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let store = local.store
    let metrics = SignerMetrics(labelKeys: configuration.http.metricLabelKeys, allowedValues: configuration.http.metricLabelValues)
    var needsAPICertificate = false
    if case .automatic = configuration.http.tls { needsAPICertificate = true }
    let readiness = Readiness(needsAPICertificate: needsAPICertificate, postgres: local.postgres?.health)
    // systemd hears READY=1 only once both DNS and HTTP are bound (Type=notify units).
    let (ready, readyContinuation) = AsyncStream.makeStream(of: String.self)
    let startup = StartupReport { addresses in
        let dns = addresses.dns.isEmpty ? "publishing challenges by RFC 2136" : "serving DNS on \(addresses.dns.map(\.description).joined(separator: ", "))"
        readyContinuation.yield("\(dns) and the API on \(addresses.http)")
        await onListening(addresses)
    }
    // Who may transfer the zones and whom NOTIFY tells: a reload may replace it.
    let transferPolicies = TransferPolicyStore(configuration.dns.transfers)
    let dnsService: any Service
    switch configuration.dns.mode {
    case .authoritative:
        dnsService = DNSServer(
            configuration: configuration.dns.serverConfiguration, store: store, transfers: transferPolicies, logger: logger,
            onServerRunning: { addresses in
                readiness.dnsBound()
                await startup.dnsBound(addresses)
            },
            answerObserver: { metrics.recordDNSAnswer(rcode: $0.description) })
        // A fresh process has an empty store; a shared one is cleared of this node's values by
        // `ChallengeReplication` once the database answers.
        _ = store.removeAll()
    case .rfc2136:
        dnsService = ExternalPrimaryStartup(
            challenges: local.challenges, zones: configuration.zones, logger: logger,
            onReady: {
                readiness.dnsBound()
                await startup.dnsBound([])
            })
    }

    let authorities = configuration.cas.indices.map { index in
        let ca = configuration.cas[index]
        return CertificateAuthority(
            name: ca.name,
            account: AccountManager(settings: ca, key: local.accountKeys[index], httpClient: caClients[index], logger: logger),
            budget: CertificateBudget(ca: ca.name, isFirstCA: index == 0, limits: ca.budgets, ledger: local.ledger),
            profile: ca.profile)
    }
    let owned = OwnedChallengeValues()
    let publisher = ChallengePublisher(
        store: local.challenges, probe: local.probe, owned: owned,
        propagationTimeout: configuration.dns.propagationTimeout, metrics: metrics, logger: logger)
    // A cluster's gate and budgets hold across every node.
    let gate: any IssuanceGate = local.postgres?.gate ?? InProcessIssuanceGate()
    let nodeRecords = NodeIssuanceRecords(ledger: local.ledger, authorities: authorities, logger: logger)
    let records: any IssuanceRecords = local.postgres?.records(node: nodeRecords) ?? nodeRecords
    let issuer = Issuer(
        zoneTable: CurrentZoneTable(ZoneTable(zones: configuration.zones)), gate: gate, publisher: publisher,
        authorities: authorities, records: records, domains: local.domains, pauses: CAPauses(),
        deadline: configuration.issuance.deadline, metrics: metrics, logger: logger)
    let routes = SignerRoutes(
        issuer: issuer, renewalAdvisor: RenewalAdvisor(authorities: authorities, records: records, caTimeout: .seconds(10)),
        authorities: authorities,
        readiness: readiness, metrics: metrics, rateLimiter: RateLimiter(configuration.http.rateLimit), http: configuration.http)

    // A service group stops its services in reverse order: systemd hears STOPPING=1 first, the
    // services that use a CA client stop before the clients are shut down (`extraServices`),
    // and DNS answers to the end.
    var services: [any Service] = [dnsService] + extraServices
    services += local.postgres?.services ?? []
    services += authorities.map { AccountRegistrationService(account: $0.account, logger: logger) }
    if case .authoritative = configuration.dns.mode {
        // Even without secondaries yet: a reload may add some.
        services.append(NotifySender(store: store, policies: transferPolicies, logger: logger))
    }
    services.append(ChallengeSweep(
        store: local.challenges, owned: owned, maximumAge: configuration.issuance.deadline + .seconds(60), interval: .seconds(30),
        metrics: metrics, logger: logger))
    let caaIdentities = configuration.cas.compactMap(\.caaIdentity)
    if case .authoritative = configuration.dns.mode, caaIdentities.count == authorities.count {
        services.append(CAAPinning(
            zones: configuration.zones, authorities: Array(zip(caaIdentities, authorities.map(\.account))),
            store: store, logger: logger))
    }
    if case .automatic(let name, let directory) = configuration.http.tls, let identities = local.identities,
       let zone = configuration.zones.first(where: { name.lowercased().hasSuffix("." + $0.name.lowercased()) }) {
        // The configuration reader has checked that the name is in a zone.
        services.append(APICertificateService(
            name: name, zone: zone.name, registeredDomain: local.domains.domain(of: name, in: zone), directory: directory,
            identities: identities, authority: authorities[0], issuer: issuer,
            readiness: readiness, deadline: configuration.issuance.deadline, logger: logger))
    }
    if let configurationPath {
        services.append(ConfigurationReload(
            path: configurationPath, running: configuration, zoneTable: issuer.zoneTable, store: store, authorities: authorities,
            transferPolicies: transferPolicies, probe: local.probe, logger: logger))
    }
    services.append(SystemdLifecycleService(ready: ready))
    let listen = configuration.http.listen
    let limits = configuration.http.limits
    let clients = ClientConnections(maximumPerClient: limits.maximumConnectionsPerClient)
    let http1 = HTTP1Channel.Configuration(additionalChannelHandlers: [ConnectionGuard(limits: limits, clients: clients, logger: logger)])
    return Application(
        router: buildRouter(routes),
        server: local.identities.map { .reloadableTLS(identities: $0, http1: http1) } ?? .http1(configuration: http1),
        configuration: .init(
            address: .hostname(listen.host, port: listen.port), serverName: "csrproxy-signer",
            availableConnectionsDelegate: MaximumAvailableConnections(limits.maximumConnections)),
        services: services,
        onServerRunning: { channel in
            readiness.httpBound()
            let port = channel.localAddress?.port ?? listen.port
            await startup.httpBound(listen.host.contains(":") ? "[\(listen.host)]:\(port)" : "\(listen.host):\(port)")
        },
        logger: logger)
}

/// The API's routes behind the middleware that gives every error the problem shape.
func buildRouter(_ routes: SignerRoutes) -> Router<SignerRequestContext> {
    let router = Router(context: SignerRequestContext.self)
    router.addMiddleware { ProblemMiddleware() }
    routes.register(on: router)
    return router
}

/// Reads the API's certificate chain and key for `http.tls = "files"`.
func loadTLSIdentity(certificatePath: String, keyPath: String) throws -> TLSIdentity {
    do {
        return try TLSIdentity(certificateChainPath: certificatePath, privateKeyPath: keyPath)
    } catch {
        throw SignerError(.configuration, "cannot use http.tls_certificate \(certificatePath) with http.tls_key \(keyPath): \(error)")
    }
}

/// Collects the two listeners' addresses and reports them once, when both are known.
actor StartupReport {
    private let onListening: @Sendable (SignerAddresses) async -> Void
    private var dns: [ListenAddress]?
    private var http: String?

    init(_ onListening: @escaping @Sendable (SignerAddresses) async -> Void) {
        self.onListening = onListening
    }

    func dnsBound(_ addresses: [ListenAddress]) async {
        dns = addresses
        await reportIfComplete()
    }

    func httpBound(_ address: String) async {
        http = address
        await reportIfComplete()
    }

    private func reportIfComplete() async {
        guard let dns, let http else { return }
        await onListening(SignerAddresses(http: http, dns: dns))
    }
}

/// Shuts the CA client's connection pool down when the signer stops.
struct TransportShutdown: Service {
    let transport: AsyncHTTPClientTransport

    func run() async throws {
        try? await gracefulShutdown()
        try await transport.shutdown()
    }
}

/// Answers every error as a problem document: the `Problem`s the routes and the issuance
/// layer throw, and Hummingbird's own 404 and 405.
struct ProblemMiddleware: RouterMiddleware {
    typealias Context = SignerRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let problem as Problem {
            throw ProblemResponse(problem)
        } catch let error as HTTPError where error.status == .notFound {
            throw ProblemResponse(Problem(.notFound, detail: "no resource at \(request.method) \(request.uri.path)"))
        } catch let error as HTTPError where error.status == .methodNotAllowed {
            throw ProblemResponse(Problem(.methodNotAllowed, detail: "\(request.method) is not allowed on \(request.uri.path)"))
        }
    }
}
