import DNSCodec
import Synchronization

/// The zones this server answers for, and the TXT values published in them at run time.
///
/// The signer publishes ACME DNS-01 values here. Each name's values form a counted set: two
/// orders that add and remove their own values (even equal ones) never disturb each other,
/// because a value is served until every add of it has been matched by a remove.
/// Reads are lock-free snapshots; writers rebuild the affected zone under a mutex.
public final class ZoneStore: Sendable {
    /// TXT values kept for one name at most: bounds memory, and far more than DNS-01 needs.
    public static let maximumValuesPerName = 256
    /// The longest TXT value accepted; ACME values are 43 bytes.
    public static let maximumValueLength = 1024

    private struct ZoneState {
        var configured: Zone.ConfiguredRecords
        /// name -> value -> how many adds are outstanding; insertion order kept for stable answers.
        var txt: [DNSName: [(value: String, count: Int)]] = [:]
        var serial: UInt32
        /// Serials up to this one are recorded as possibly served (`SerialReservation`).
        var reservedUpTo: UInt32
        /// Whether `applyShared` has set the serial yet: until then the configured one is only
        /// a placeholder, not a serial the shared one must be newer than.
        var hasSharedSerial = false
    }

    private struct State {
        var zones: [DNSName: ZoneState]
        var snapshot: ZoneSnapshot
    }

    private let state: Mutex<State>
    private let reservation: SerialReservation?
    /// The serials come from outside (`applyShared`), the same on every node of a cluster; a
    /// local change (CAA) then keeps the serial rather than fork it.
    private let sharesSerials: Bool
    private let watchers = Watchers<DNSName>(buffer: 64)
    /// Whether the TXT values set at run time are known to be current; see `setRunTimeValuesCurrent`.
    private let runTimeValuesCurrent = Atomic<Bool>(true)

    /// - Parameter reservation: where serials are recorded before they are served, so a
    ///   restarted server never goes back to one a secondary has already seen.
    /// - Parameter sharesSerials: the TXT sets and serials are set by `applyShared` only.
    public init(zones: [ZoneConfiguration], reservation: SerialReservation? = nil, sharesSerials: Bool = false) throws {
        self.reservation = reservation
        self.sharesSerials = sharesSerials
        var states: [DNSName: ZoneState] = [:]
        for zone in zones {
            try zone.validate()
            guard states[zone.origin] == nil else {
                throw DNSServerError(.invalidConfiguration, "zone \(zone.origin) is configured twice")
            }
            var reservedUpTo = zone.serial
            if let reservation {
                reservedUpTo = zone.serial &+ reservation.blockSize
                try reservation.reserve(zone.origin.lowercased, reservedUpTo)
            }
            states[zone.origin] = ZoneState(configured: Zone.ConfiguredRecords(zone), serial: zone.serial, reservedUpTo: reservedUpTo)
        }
        let snapshot = ZoneSnapshot(zones: states.values.map { Self.compile($0) })
        state = Mutex(State(zones: states, snapshot: snapshot))
    }

    /// The origin of each zone that changes, from now on, as long as the stream is read; a
    /// reader that falls behind sees only the most recent changes (one entry per zone suffices
    /// to learn the current serial).
    public func changes() -> AsyncStream<DNSName> {
        watchers.stream()
    }

    /// Tells the store whether its run-time TXT values are current. A store fed from elsewhere
    /// (a cluster's shared state) that has lost its feed says false: its TXT answers could be
    /// stale, so the server answers TXT questions SERVFAIL until it says true again, and
    /// resolvers, CAs and peers ask another nameserver of the zone. Configured records are
    /// answered throughout.
    public func setRunTimeValuesCurrent(_ current: Bool) {
        runTimeValuesCurrent.store(current, ordering: .relaxed)
    }

    public var runTimeValuesAreCurrent: Bool { runTimeValuesCurrent.load(ordering: .relaxed) }

    /// The zones' origins and current SOA serials.
    public var serials: [DNSName: UInt32] {
        state.withLock { state in state.zones.mapValues(\.serial) }
    }

    /// The current zones, for answering queries.
    public var snapshot: ZoneSnapshot {
        state.withLock { $0.snapshot }
    }

    /// Publishes `value` in the TXT set at `name` (for example `_acme-challenge.go.eval.example.com`).
    public func addTXT(_ value: String, at name: DNSName) throws {
        guard value.utf8.count <= Self.maximumValueLength else {
            throw DNSServerError(.valueTooLong, "TXT value of \(value.utf8.count) bytes; at most \(Self.maximumValueLength) are kept")
        }
        try state.withLock { state in
            let origin = try Self.origin(of: name, in: state)
            var values = state.zones[origin]?.txt[name] ?? []
            if let index = values.firstIndex(where: { $0.value == value }) {
                values[index].count += 1
            } else {
                guard values.count < Self.maximumValuesPerName else {
                    throw DNSServerError(.tooManyValues, "\(name) already holds \(values.count) TXT values")
                }
                values.append((value, 1))
            }
            state.zones[origin]?.txt[name] = values
            republish(origin, in: &state)
        }
    }

    /// Replaces the zone's whole TXT set with `values` (name to values, equal values counted)
    /// and sets its serial, as a cluster's shared state has them. An older serial than the one
    /// served (RFC 1982) is a late answer and is ignored, except the first time: the shared
    /// serial starts at the clock's seconds, which from 2038 on is "older" than the configured
    /// one in serial arithmetic, and a fresh node would then never take it. Returns whether
    /// anything changed.
    @discardableResult
    public func applyShared(_ values: [DNSName: [String]], serial: UInt32, in origin: DNSName) -> Bool {
        state.withLock { state in
            let key = origin.lowercased
            guard var zone = state.zones[key] else { return false }
            // Every change to the shared values moves the serial: an equal one is the same data.
            guard !zone.hasSharedSerial || SerialNumber(serial).isNewer(than: SerialNumber(zone.serial)) else { return false }
            zone.hasSharedSerial = true
            var txt: [DNSName: [(value: String, count: Int)]] = [:]
            for (name, list) in values {
                var counted: [(value: String, count: Int)] = []
                for value in list.prefix(Self.maximumValuesPerName) {
                    if let index = counted.firstIndex(where: { $0.value == value }) { counted[index].count += 1 } else { counted.append((value, 1)) }
                }
                txt[name.lowercased] = counted
            }
            zone.txt = txt
            zone.serial = serial
            state.zones[key] = zone
            publish(key, in: &state)
            return true
        }
    }

    /// Serves `records` as the zone's CAA set from now on (the signer pins its CA accounts once
    /// it knows their URLs). Returns false when no zone has that origin.
    @discardableResult
    public func replaceCAA(_ records: [CAARecord], in origin: DNSName) -> Bool {
        state.withLock { state in
            let key = origin.lowercased
            guard var zone = state.zones[key] else { return false }
            var configuration = zone.configured.configuration
            guard configuration.caa != records else { return true }
            configuration.caa = records
            zone.configured = Zone.ConfiguredRecords(configuration)
            state.zones[key] = zone
            republish(key, in: &state)
            return true
        }
    }

    /// Serves `configuration`'s records (nameservers, hosts, TTLs and, unless `keepingCAA`,
    /// CAA) for its zone from now on, as when the signer reloads its configuration: the TXT
    /// values published at run time stay, and the serial moves on from the one served (the
    /// configured serial is ignored: a served serial never goes back). Returns whether anything
    /// changed; false too when no zone has that origin.
    @discardableResult
    public func replaceConfiguredRecords(_ configuration: ZoneConfiguration, keepingCAA: Bool = false) throws -> Bool {
        try configuration.validate()
        return state.withLock { state in
            let key = configuration.origin.lowercased
            guard var zone = state.zones[key] else { return false }
            var incoming = configuration
            let current = zone.configured.configuration
            incoming.serial = current.serial
            if keepingCAA { incoming.caa = current.caa }
            guard incoming != current else { return false }
            zone.configured = Zone.ConfiguredRecords(incoming)
            state.zones[key] = zone
            republish(key, in: &state)
            return true
        }
    }

    /// Withdraws one add of `value` at `name`; returns false when no such value was published.
    @discardableResult
    public func removeTXT(_ value: String, at name: DNSName) -> Bool {
        state.withLock { state in
            guard let origin = try? Self.origin(of: name, in: state),
                  var values = state.zones[origin]?.txt[name],
                  let index = values.firstIndex(where: { $0.value == value })
            else { return false }
            values[index].count -= 1
            if values[index].count == 0 { values.remove(at: index) }
            state.zones[origin]?.txt[name] = values.isEmpty ? nil : values
            republish(origin, in: &state)
            return true
        }
    }

    /// Withdraws every published TXT value in every zone; returns how many values were removed.
    @discardableResult
    public func removeAllTXT() -> Int {
        state.withLock { state in
            var removed = 0
            for (origin, zone) in state.zones where !zone.txt.isEmpty {
                removed += zone.txt.values.reduce(0) { $0 + $1.count }
                state.zones[origin]?.txt = [:]
                republish(origin, in: &state)
            }
            return removed
        }
    }

    /// Every published TXT value in every zone, with its name.
    public func allTXT() -> [(name: DNSName, value: String)] {
        state.withLock { state in
            state.zones.values.flatMap { zone in zone.txt.flatMap { name, values in values.map { (name, $0.value) } } }
        }
    }

    /// The TXT values served at `name` right now, in the order they were first added.
    public func txtValues(at name: DNSName) -> [String] {
        state.withLock { state in
            guard let origin = try? Self.origin(of: name, in: state) else { return [] }
            return state.zones[origin]?.txt[name]?.map(\.value) ?? []
        }
    }

    /// True when a query for TXT at `name` would include `value` now.
    public func isServing(txt value: String, at name: DNSName) -> Bool {
        let snapshot = self.snapshot
        guard let zone = snapshot.zone(containing: name),
              case .records(let answers, _) = zone.lookup(name, type: .txt)
        else { return false }
        return answers.contains { $0.data == .txt(TXTRecord(value: value)) }
    }

    private static func origin(of name: DNSName, in state: State) throws -> DNSName {
        guard let zone = state.snapshot.zone(containing: name) else {
            throw DNSServerError(.outsideZones, "\(name) is in none of the zones served (\(state.zones.keys.map(\.description).sorted().joined(separator: ", ")))")
        }
        return zone.origin  // keys compare case-insensitively, so the snapshot's lowercased origin indexes `zones`
    }

    /// Bumps the zone's serial, so anyone who compares SOAs sees the change, swaps in a new
    /// snapshot and tells the watchers.
    private func republish(_ origin: DNSName, in state: inout State) {
        guard var zone = state.zones[origin] else { return }
        if !sharesSerials { zone.serial &+= 1 }
        if let reservation, zone.serial == zone.reservedUpTo {
            // A failed record is logged by the reservation; serving on is better than refusing
            // the change, and the next start still begins past the wall clock.
            zone.reservedUpTo = zone.serial &+ reservation.blockSize
            try? reservation.reserve(origin, zone.reservedUpTo)
        }
        state.zones[origin] = zone
        publish(origin, in: &state)
    }

    /// Swaps in a snapshot with the zone as it now stands and tells the watchers.
    private func publish(_ origin: DNSName, in state: inout State) {
        guard let zone = state.zones[origin] else { return }
        let rebuilt = Self.compile(zone)
        state.snapshot = ZoneSnapshot(zones: state.snapshot.zones.map { $0.origin == origin ? rebuilt : $0 })
        watchers.yield(origin)
    }

    private static func compile(_ zone: ZoneState) -> Zone {
        Zone(configured: zone.configured, dynamicTXT: zone.txt.mapValues { $0.map(\.value) }, serial: zone.serial)
    }
}

/// All zones at one moment. Lookups pick the deepest zone that contains a name, so a
/// zone nested inside another served zone wins for its own names.
public final class ZoneSnapshot: Sendable {
    let zones: [Zone]

    init(zones: [Zone]) {
        self.zones = zones.sorted { $0.origin.labelCount > $1.origin.labelCount }
    }

    func zone(containing name: DNSName) -> Zone? {
        zones.first { name.isSubdomain(of: $0.origin) }
    }
}

/// Records SOA serials before they are served, in blocks, so that a restart can begin past
/// every serial an earlier run may have shown a secondary (RFC 1982: a serial that goes back
/// looks older, and secondaries would keep their stale copy).
public struct SerialReservation: Sendable {
    /// Serials reserved per write: one write per this many changes.
    public var blockSize: UInt32
    /// Records that serials up to the second argument may be served for the zone.
    public var reserve: @Sendable (DNSName, UInt32) throws -> Void

    public init(blockSize: UInt32 = 1000, reserve: @escaping @Sendable (DNSName, UInt32) throws -> Void) {
        self.blockSize = blockSize
        self.reserve = reserve
    }
}
