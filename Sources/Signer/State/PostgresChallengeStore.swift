import DNSCodec
import DNSServer
import Logging
import PostgresNIO
import Synchronization

/// Challenge values shared by every signer node of a zone through PostgreSQL: a node writes
/// each value it publishes as a row (with its node name and a lease), bumps the zone's serial
/// and notifies the others in the same transaction; every node keeps a replica of the values
/// in its own zone store, which its DNS listener serves (`ChallengeReplication` keeps it
/// current), so DNS keeps answering while the database is briefly away.
final class PostgresChallengeStore: ChallengeStore {
    static let channel = "csrproxy_challenges"

    let client: PostgresClient
    let settings: SignerConfiguration.PostgresSettings
    /// This node's replica: what its DNS serves.
    let replica: ZoneStore
    let origins: [DNSName]
    /// Whether the database answers, as `ChallengeReplication` last saw it.
    let health: PostgresHealth
    let logger: Logger

    private struct Key: Hashable {
        let name: DNSName
        let value: String
    }
    /// The rows this node inserted and not yet deleted, per value.
    private let owned = Mutex<[Key: [Int64]]>([:])

    init(client: PostgresClient, settings: SignerConfiguration.PostgresSettings, replica: ZoneStore, origins: [DNSName], health: PostgresHealth, logger: Logger) {
        self.client = client
        self.health = health
        self.settings = settings
        self.replica = replica
        self.origins = origins.map(\.lowercased)
        self.logger = logger
    }

    func add(_ value: String, at name: DNSName) async throws {
        let origin = try zone(of: name)
        guard value.utf8.count <= ZoneStore.maximumValueLength else {
            throw SignerError(.dnsPublishing, "TXT value of \(value.utf8.count) bytes; at most \(ZoneStore.maximumValueLength) are kept")
        }
        let zoneKey = Self.key(origin), nameKey = Self.key(name), node = settings.node
        let leaseSeconds = Int(settings.lease.components.seconds)
        // One round trip: the row, the serial, the notification, and the zone as it now is.
        let (id, zone): (Int64, ZoneNow) = try await postgresCall("publish a challenge value in the shared state") {
            var id: Int64 = 0
            var zone = ZoneNow()
            let rows = try await client.query("""
                SELECT id, serial, name, value FROM csrproxy_publish_value(\(zoneKey), \(nameKey), \(value), \(node), \(leaseSeconds))
                """, logger: logger)
            for try await (inserted, serial, name, value) in rows.decode((Int64, Int64, String?, String?).self) {
                id = inserted
                zone.add(serial: serial, name: name, value: value)
            }
            return (id, zone)
        }
        owned.withLock { $0[Key(name: name.lowercased, value: value), default: []].append(id) }
        zone.apply(to: replica, in: origin)
    }

    @discardableResult
    func remove(_ value: String, at name: DNSName) async -> Bool {
        let key = Key(name: name.lowercased, value: value)
        guard let id = owned.withLock({ owned -> Int64? in
            guard var ids = owned[key], let id = ids.popLast() else { return nil }
            owned[key] = ids.isEmpty ? nil : ids
            return id
        }), let origin = try? zone(of: name) else { return false }
        let zoneKey = Self.key(origin)
        // Kept for when the database answers again if it cannot be done now; the lease
        // withdraws it on every node if the database stays away.
        await health.cleanUp("withdraw a challenge value", logger: logger) { [client, logger, replica] in
            let rows = try await client.query("SELECT serial, name, value FROM csrproxy_withdraw_value(\(id), \(zoneKey))", logger: logger)
            var zone = ZoneNow()
            for try await (serial, name, value) in rows.decode((Int64, String?, String?).self) { zone.add(serial: serial, name: name, value: value) }
            zone.apply(to: replica, in: origin)
        }
        return true
    }

    /// Withdraws every value this node published, in this run or one that crashed.
    func removeAll() async -> Int {
        owned.withLock { $0 = [:] }
        let node = settings.node
        do {
            let count: Int = try await client.transaction(logger: logger) { connection in
                var zones: [String] = []
                for try await zone in try await connection.query("DELETE FROM csrproxy_challenge_values WHERE node = \(node) RETURNING zone", logger: logger).decode(String.self) {
                    zones.append(zone)
                }
                for zone in Set(zones) { try await Self.changed(zone, on: connection, logger: logger) }
                // Its issuance permits too: a restarted node must not wait out its own leases.
                try await connection.query("DELETE FROM csrproxy_permits WHERE node = \(node)", logger: logger)
                return zones.count
            }
            for origin in origins { try? await refresh(origin) }
            return count
        } catch {
            logger.warning("could not withdraw this node's earlier challenge values; their leases will", metadata: ["error": "\(String(reflecting: error))"])
            return 0
        }
    }

    func all() async -> [(name: DNSName, value: String)] {
        owned.withLock { owned in owned.flatMap { key, ids in ids.map { _ in (key.name, key.value) } } }
    }

    /// Reads the zone's live values and serial and applies them to this node's replica.
    func refresh(_ origin: DNSName) async throws {
        var zone = ZoneNow()
        let rows = try await client.query("SELECT serial, name, value FROM csrproxy_zone_now(\(Self.key(origin)))", logger: logger)
        for try await (serial, name, value) in rows.decode((Int64, String?, String?).self) { zone.add(serial: serial, name: name, value: value) }
        zone.apply(to: replica, in: origin)
    }

    /// A zone's serial and live values as one statement read them (`csrproxy_zone_now`: a row
    /// per value, or one row with no value).
    private struct ZoneNow {
        var serial: Int64?
        var values: [DNSName: [String]] = [:]

        mutating func add(serial: Int64, name: String?, value: String?) {
            self.serial = serial
            if let name, let value, let dnsName = try? DNSName(name) { values[dnsName, default: []].append(value) }
        }

        /// A zone without a serial row (not prepared yet) changes nothing.
        func apply(to replica: ZoneStore, in origin: DNSName) {
            guard let serial else { return }
            replica.applyShared(values, serial: UInt32(truncatingIfNeeded: serial), in: origin)
        }
    }

    /// Makes sure every zone has a serial row, starting at the clock's seconds.
    func prepare() async throws {
        for origin in origins {
            let zoneKey = Self.key(origin)
            try await client.query("""
                INSERT INTO csrproxy_zone_serials (zone, serial) VALUES (\(zoneKey), extract(epoch FROM now())::bigint)
                ON CONFLICT (zone) DO NOTHING
                """, logger: logger)
            try await refresh(origin)
        }
    }

    /// Deletes the values and permits whose lease ran out (a node died holding them) and tells
    /// every node of the values.
    @discardableResult
    func reapExpired() async throws -> Int {
        try await client.transaction(logger: logger) { connection in
            var zones: [String] = []
            for try await zone in try await connection.query("DELETE FROM csrproxy_challenge_values WHERE expires_at <= now() RETURNING zone", logger: logger).decode(String.self) {
                zones.append(zone)
            }
            for zone in Set(zones) { try await Self.changed(zone, on: connection, logger: logger) }
            try await connection.query("DELETE FROM csrproxy_permits WHERE expires_at <= now()", logger: logger)
            return zones.count
        }
    }

    /// The zone's serial moves and every node hears of it, when the transaction commits.
    private static func changed(_ zone: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("UPDATE csrproxy_zone_serials SET serial = serial + 1 WHERE zone = \(zone)", logger: logger)
        try await connection.query("SELECT pg_notify(\(channel), \(zone))", logger: logger)
    }

    private func zone(of name: DNSName) throws -> DNSName {
        guard let origin = origins.deepestZone(containing: name) else {
            throw SignerError(.dnsPublishing, "\(name) is in none of the zones served")
        }
        return origin
    }

    /// Names as stored: lowercased, without the root's trailing dot.
    static func key(_ name: DNSName) -> String {
        let text = name.lowercased.description
        return text.hasSuffix(".") ? String(text.dropLast()) : text
    }
}
