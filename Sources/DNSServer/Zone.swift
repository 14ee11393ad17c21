import DNSCodec

/// An immutable, indexed view of one zone at one moment: what queries are answered from.
///
/// The zone store makes a new one on every change. The records that come from configuration
/// are indexed once (`ConfiguredRecords`) and shared; a change only adds the TXT sets on top,
/// so lookups never take a lock and never see a half-applied change.
final class Zone: Sendable {
    let origin: DNSName
    /// The SOA record; its TTL equals its MINIMUM so negative answers are cached for `negativeTTL`.
    let soa: DNSResourceRecord
    /// The SOA serial: it grows with every change, so secondaries know when to transfer.
    let serial: UInt32
    /// RRsets by owner name, each list sorted by type so ANY picks the same set every time.
    private let nodes: [DNSName: [RRSet]]
    /// Names that own nothing but have descendants that do: they exist, so NODATA, not NXDOMAIN (RFC 8020).
    private let emptyNonTerminals: Set<DNSName>
    /// A and AAAA of name servers inside the zone, sent as additional data with NS answers.
    private let glue: [DNSResourceRecord]

    struct RRSet: Sendable {
        let type: DNSRecordType
        let records: [DNSResourceRecord]
    }

    /// What the zone says about a name and type.
    enum Answer {
        case records(answers: [DNSResourceRecord], additionals: [DNSResourceRecord])
        /// The name exists without data of that type (RFC 2308 NODATA).
        case noData
        /// The name does not exist (NXDOMAIN).
        case nameError
    }

    /// The configured part of a zone (apex, name servers, hosts, CAA), indexed once.
    struct ConfiguredRecords: Sendable {
        let configuration: ZoneConfiguration
        let origin: DNSName
        let nodes: [DNSName: [RRSet]]
        let emptyNonTerminals: Set<DNSName>
        let glue: [DNSResourceRecord]

        init(_ configuration: ZoneConfiguration) {
            self.configuration = configuration
            let origin = configuration.origin.lowercased
            let ttl = configuration.recordTTL
            var records: [DNSResourceRecord] = []
            var glue: [DNSResourceRecord] = []
            for server in configuration.nameServers {
                records.append(DNSResourceRecord(name: origin, ttl: ttl, data: .ns(server.name)))
                guard server.name.isSubdomain(of: origin) else { continue }
                glue += server.ipv4.map { DNSResourceRecord(name: server.name.lowercased, ttl: ttl, data: .a($0)) }
                glue += server.ipv6.map { DNSResourceRecord(name: server.name.lowercased, ttl: ttl, data: .aaaa($0)) }
            }
            records += glue
            for host in configuration.hosts {
                var owners = [host.name.lowercased]
                if host.includesSubdomains, let wildcard = try? host.name.lowercased.prepending("*") { owners.append(wildcard) }
                for owner in owners {
                    records += host.ipv4.map { DNSResourceRecord(name: owner, ttl: ttl, data: .a($0)) }
                    records += host.ipv6.map { DNSResourceRecord(name: owner, ttl: ttl, data: .aaaa($0)) }
                }
            }
            records += configuration.caa.map { DNSResourceRecord(name: origin, ttl: ttl, data: .caa($0)) }

            var byOwner: [DNSName: [DNSRecordType: [DNSResourceRecord]]] = [origin: [:]]
            var seen: Set<DNSResourceRecord> = []
            for record in records where seen.insert(record).inserted {
                byOwner[record.name, default: [:]][record.type, default: []].append(record)
            }
            var nodes: [DNSName: [RRSet]] = [:]
            var emptyNonTerminals: Set<DNSName> = []
            for (owner, sets) in byOwner {
                nodes[owner] = sets.map { RRSet(type: $0.key, records: $0.value) }
            }
            for owner in nodes.keys {
                Zone.markAncestors(of: owner, below: origin, nodes: nodes, in: &emptyNonTerminals)
            }
            self.origin = origin
            self.nodes = nodes
            self.emptyNonTerminals = emptyNonTerminals
            self.glue = glue
        }
    }

    init(configured: ConfiguredRecords, dynamicTXT: [DNSName: [String]], serial: UInt32) {
        let configuration = configured.configuration
        origin = configured.origin
        soa = DNSResourceRecord(
            name: origin, ttl: configuration.negativeTTL,
            data: .soa(SOARecord(
                primaryNameServer: configuration.nameServers.first?.name ?? origin,
                responsibleMailbox: configuration.hostmaster, serial: serial,
                refresh: 3600, retry: 600, expire: 604_800, minimum: configuration.negativeTTL)))
        self.serial = serial
        var nodes = configured.nodes
        var emptyNonTerminals = configured.emptyNonTerminals
        nodes[origin, default: []].append(RRSet(type: .soa, records: [soa]))
        for (name, values) in dynamicTXT {
            let owner = name.lowercased
            let records = values.map { DNSResourceRecord(name: owner, ttl: configuration.challengeTTL, data: .txt(TXTRecord(value: $0))) }
            nodes[owner, default: []].append(RRSet(type: .txt, records: records))
            emptyNonTerminals.remove(owner)
            Self.markAncestors(of: owner, below: origin, nodes: nodes, in: &emptyNonTerminals)
        }
        for owner in [origin] + dynamicTXT.keys.map(\.lowercased) {
            nodes[owner]?.sort { $0.type.rawValue < $1.type.rawValue }
        }
        self.nodes = nodes
        self.emptyNonTerminals = emptyNonTerminals
        self.glue = configured.glue
    }

    private static func markAncestors(of owner: DNSName, below origin: DNSName, nodes: [DNSName: [RRSet]], in set: inout Set<DNSName>) {
        var ancestor = owner.parent
        while let name = ancestor, name != origin, name.isSubdomain(of: origin) {
            if nodes[name] == nil { set.insert(name) }
            ancestor = name.parent
        }
    }

    /// Answers `type` at `name`, which must lie inside this zone. Owner names in the answer take
    /// the query's spelling, so they compress against the question.
    func lookup(_ name: DNSName, type: DNSRecordType) -> Answer {
        if let sets = nodes[name] {
            return answer(from: sets, owner: name, type: type)
        }
        if emptyNonTerminals.contains(name) { return .noData }
        // RFC 4592 §3.3.1: find the closest encloser; only its `*` child may synthesise an answer.
        var ancestor = name.parent
        while let encloser = ancestor, encloser.isSubdomain(of: origin) {
            if nodes[encloser] != nil || emptyNonTerminals.contains(encloser) {
                guard let wildcard = try? encloser.prepending("*"), let sets = nodes[wildcard] else { return .nameError }
                return answer(from: sets, owner: name, type: type)
            }
            ancestor = encloser.parent
        }
        return .nameError
    }

    private func answer(from sets: [RRSet], owner: DNSName, type: DNSRecordType) -> Answer {
        // RFC 8482: answer ANY with one RRset rather than everything the name owns.
        let chosen = type == .any ? sets.first : sets.first { $0.type == type }
        guard let chosen else { return .noData }
        let answers = chosen.records.map { record in
            var copy = record
            copy.name = owner
            return copy
        }
        return .records(answers: answers, additionals: chosen.type == .ns ? glue : [])
    }

    /// Every record of the zone but the SOA, in a stable order: the body of a zone transfer,
    /// which the SOA opens and closes (RFC 5936 §2.2).
    var transferBody: [DNSResourceRecord] {
        nodes.sorted { $0.key.description < $1.key.description }.flatMap { _, sets in
            sets.filter { $0.type != .soa }.flatMap(\.records)
        }
    }
}
