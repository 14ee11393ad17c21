#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DNSCodec
import Logging
import NIOCore
import ServiceLifecycle

/// Tells every secondary that a zone changed (RFC 1996 NOTIFY, signed with its TSIG key), at
/// start and after each change, and keeps telling it until it serves the current serial: the
/// secondary then transfers the zone at once instead of at its next refresh. When the transfer
/// policy is replaced (a reload), the secondaries it names now are told at once, and those it
/// no longer names are told nothing more.
public struct NotifySender: Service {
    let store: ZoneStore
    let policies: TransferPolicyStore
    let exchange: DNSExchange
    let logger: Logger

    /// The first retry waits this long, then twice as long each time, up to `maximumRetryInterval`.
    static let firstRetryInterval = Duration.milliseconds(500)
    static let maximumRetryInterval = Duration.seconds(30)
    static let attemptTimeout = TimeAmount.seconds(1)

    public init(store: ZoneStore, policies: TransferPolicyStore, logger: Logger) {
        self.store = store
        self.policies = policies
        self.exchange = DNSExchange()
        self.logger = logger
    }

    public init(store: ZoneStore, policy: ZoneTransferPolicy, logger: Logger) {
        self.init(store: store, policies: TransferPolicyStore(policy), logger: logger)
    }

    public func run() async throws {
        let replaced = policies.changes()
        // One generation per policy: it ends when the policy is replaced, and the next one
        // starts with the policy then in force.
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            let policy = policies.policy
            let changes = store.changes()
            var wakeups: [DNSName: [AsyncStream<Void>.Continuation]] = [:]
            await withDiscardingTaskGroup { group in
                for secondary in policy.secondaries {
                    guard let key = policy.key(named: secondary.keyName) else { continue }  // validated when put in force
                    for origin in store.serials.keys {
                        // One pending wakeup is enough: each attempt sends the serial current then.
                        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
                        wakeups[origin, default: []].append(continuation)
                        continuation.yield()
                        group.addTask { await notify(secondary, key: key, origin: origin, wakeups: stream) }
                    }
                }
                let byOrigin = wakeups
                group.addTask {
                    for await origin in changes {
                        for continuation in byOrigin[origin] ?? [] { continuation.yield() }
                    }
                }
                // Until the policy is replaced, or the service stops.
                await cancelWhenGracefulShutdown {
                    for await _ in replaced { break }
                }
                for continuation in byOrigin.values.joined() { continuation.finish() }
                group.cancelAll()
            }
        }
    }

    /// Sends NOTIFY for `origin` to one secondary after every wakeup until it serves the
    /// serial current at that moment. An acknowledgement alone is not enough: a secondary
    /// still busy with the previous transfer may queue the new one behind its refresh timer,
    /// so its SOA is watched and the NOTIFY sent again when it does not catch up.
    private func notify(_ secondary: ZoneTransferPolicy.Secondary, key: TSIGKey, origin: DNSName, wakeups: AsyncStream<Void>) async {
        var caughtUp: UInt32?
        for await _ in wakeups {
            var interval = Self.firstRetryInterval
            var attempts = 0
            while !Task.isCancelled {
                guard let serial = store.serials[origin], serial != caughtUp else { break }
                attempts += 1
                var details = metadata(secondary, origin, serial)
                details["dns.notify.attempts"] = "\(attempts)"
                do {
                    try await send(origin: origin, serial: serial, to: secondary, key: key)
                    if await watchCatchingUp(secondary, origin: origin, serial: serial) {
                        caughtUp = serial
                        logger.debug("secondary serves the new serial", metadata: details)
                        break
                    }
                    details["error"] = "it acknowledged NOTIFY but still serves an older serial"
                } catch {
                    details["error"] = "\(error)"
                }
                if attempts == 3 {
                    logger.warning("a secondary does not take the zone's new serial; telling it again until it does", metadata: details)
                } else {
                    logger.debug("secondary not caught up", metadata: details)
                }
                // Waits out the interval, but a change meanwhile is sent at once: a secondary
                // that was away may be back, and a new value should not wait for old backoff.
                let retryAt = ContinuousClock.now + interval
                while ContinuousClock.now < retryAt, store.serials[origin] == serial, !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(25))
                }
                interval = min(interval * 2, Self.maximumRetryInterval)
            }
        }
    }

    /// Asks the secondary for its SOA a few times over about half a second; true once it
    /// serves `serial` or newer, or once the zone has moved on (the caller sends again).
    private func watchCatchingUp(_ secondary: ZoneTransferPolicy.Secondary, origin: DNSName, serial: UInt32) async -> Bool {
        var pause = Duration.milliseconds(10)
        for _ in 0..<6 {
            try? await Task.sleep(for: pause)
            pause *= 2
            guard store.serials[origin] == serial else { return true }
            if let theirs = try? await soaSerial(of: origin, at: secondary.address),
               theirs == serial || SerialNumber(theirs).isNewer(than: SerialNumber(serial)) {
                return true
            }
        }
        return false
    }

    private func soaSerial(of origin: DNSName, at address: SocketAddress) async throws -> UInt32? {
        let query = DNSMessage(header: DNSHeader(id: UInt16.random(in: 0...UInt16.max)), questions: [DNSQuestion(name: origin, type: .soa)])
        let answer = try DNSMessage(parsing: ByteBuffer(bytes: try await exchange.udp(try query.serialized(), to: address, timeout: Self.attemptTimeout)))
        for record in answer.answers {
            if case .soa(let soa) = record.data { return soa.serial }
        }
        return nil
    }

    private func metadata(_ secondary: ZoneTransferPolicy.Secondary, _ origin: DNSName, _ serial: UInt32) -> Logger.Metadata {
        ["dns.secondary": "\(secondary.address.hostAndPort)", "dns.zone": "\(origin)", "dns.serial": "\(serial)"]
    }

    /// One NOTIFY: SOA question, the new SOA as a hint in the answer section, signed; the
    /// acknowledgement must be a NOTIFY response without error, signed by the same key.
    private func send(origin: DNSName, serial: UInt32, to secondary: ZoneTransferPolicy.Secondary, key: TSIGKey) async throws {
        guard let zone = store.snapshot.zone(containing: origin) else { return }
        var message = DNSMessage(header: DNSHeader(id: UInt16.random(in: 0...UInt16.max), opcode: .notify), questions: [DNSQuestion(name: origin, type: .soa)])
        message.header.isAuthoritative = true
        message.answers = [zone.soa]
        let now = UInt64(max(0, time(nil)))
        let signed = try TSIG.sign(try message.serialized(), with: key, timeSigned: now)
        let answer = try await exchange.udp(signed.message, to: secondary.address, timeout: Self.attemptTimeout)
        guard let header = DNSHeader(peekingAt: ByteBuffer(bytes: answer)), header.opcode == .notify else {
            throw DNSServerError(.peerRefused, "the answer to NOTIFY is not a NOTIFY response")
        }
        if header.responseCodeLow == UInt8(DNSResponseCode.notAuthorized.rawValue) {
            let code = TSIG.error(in: answer).map { " (TSIG error \($0))" } ?? ""
            throw DNSServerError(.peerRefused, "the secondary refused our TSIG key \(key.name)\(code): is the same secret configured there?")
        }
        switch TSIG.verify(answer, keys: [key], now: UInt64(max(0, time(nil))), requestMAC: signed.mac) {
        case .success:
            break
        case .failure(let failure):
            throw DNSServerError(.peerRefused, "the NOTIFY answer's TSIG does not check out (\(failure))")
        case nil:
            let code = TSIG.error(in: answer).map { " (TSIG error \($0))" } ?? ""
            throw DNSServerError(.peerRefused, "the NOTIFY answer is not signed\(code); is key \(key.name) configured on the secondary?")
        }
        let parsed = try DNSMessage(parsing: ByteBuffer(bytes: answer))
        guard parsed.responseCode == .noError else {
            throw DNSServerError(.peerRefused, "the secondary answered NOTIFY with \(parsed.responseCode)")
        }
    }
}
