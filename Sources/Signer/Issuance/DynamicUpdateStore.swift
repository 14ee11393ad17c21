#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DNSCodec
import DNSServer
import NIOCore
import Synchronization

/// Publishes challenge values on the publisher's own primary by DNS UPDATE (RFC 2136), signed
/// with TSIG, for `[dns] mode = "rfc2136"`. It touches nothing but TXT records at
/// `_acme-challenge` names inside the configured zones: every update names one such record and
/// nothing else, so a key the primary limits to those names (Knot's `update-owner`, BIND's
/// `update-policy`) is enough.
final class DynamicUpdateStore: ChallengeStore {
    let settings: SignerConfiguration.DynamicUpdateSettings
    let origins: [DNSName]
    let challengeTTL: UInt32
    let exchange: DNSExchange
    static let attemptTimeout = TimeAmount.seconds(2)
    /// Values published at once, at most: orders are bounded by the issuance gate long before.
    static let maximumPublished = 10_000

    private struct Key: Hashable {
        let name: DNSName
        let value: String
    }
    /// What this process published and not yet withdrew, counted like the zone store's sets:
    /// two orders with an equal value share one record, deleted when the last lets go.
    private let published = Mutex<[Key: Int]>([:])

    init(settings: SignerConfiguration.DynamicUpdateSettings, origins: [DNSName], challengeTTL: UInt32, exchange: DNSExchange = DNSExchange()) {
        self.settings = settings
        self.origins = origins.map(\.lowercased)
        self.challengeTTL = challengeTTL
        self.exchange = exchange
    }

    func add(_ value: String, at name: DNSName) async throws {
        let origin = try zone(of: name)
        guard value.utf8.count <= ZoneStore.maximumValueLength else {
            throw SignerError(.dnsPublishing, "TXT value of \(value.utf8.count) bytes is too long to publish")
        }
        let key = Key(name: name.lowercased, value: value)
        let first = try published.withLock { published in
            guard published[key] != nil || published.count < Self.maximumPublished else {
                throw SignerError(.dnsPublishing, "\(published.count) challenge values are already published; no more until some are withdrawn")
            }
            published[key, default: 0] += 1
            return published[key] == 1
        }
        guard first else { return }
        do {
            try await update(origin, DNSResourceRecord(name: name, ttl: challengeTTL, data: .txt(TXTRecord(value: value))))
        } catch {
            published.withLock { published in
                published[key, default: 1] -= 1
                if published[key] == 0 { published[key] = nil }
            }
            throw error
        }
    }

    @discardableResult
    func remove(_ value: String, at name: DNSName) async -> Bool {
        let key = Key(name: name.lowercased, value: value)
        let last: Bool? = published.withLock { published in
            guard let count = published[key] else { return nil }
            published[key] = count > 1 ? count - 1 : nil
            return count == 1
        }
        guard let last else { return false }
        if last, let origin = try? zone(of: name) {
            // RFC 2136 §2.5.4: class NONE, TTL 0 deletes this one record and leaves the others.
            try? await update(origin, DNSResourceRecord(name: name, recordClass: .none, ttl: 0, data: .txt(TXTRecord(value: value))))
        }
        return true
    }

    func removeAll() async -> Int {
        let all = published.withLock { published in
            defer { published = [:] }
            return published
        }
        for key in all.keys {
            if let origin = try? zone(of: key.name) {
                try? await update(origin, DNSResourceRecord(name: key.name, recordClass: .none, ttl: 0, data: .txt(TXTRecord(value: key.value))))
            }
        }
        return all.values.reduce(0, +)
    }

    func all() async -> [(name: DNSName, value: String)] {
        published.withLock { published in published.keys.map { ($0.name, $0.value) } }
    }

    /// Deletes every TXT record at `name` (class ANY): at start, for the fixed `_acme-challenge`
    /// names, to withdraw what a run that crashed left behind. Its signature holds for TSIG's
    /// fudge (300 s), and replayed meanwhile by someone on the path it would delete the values
    /// of orders then in flight; so it carries a prerequisite that the zone's SOA is as it was
    /// just read (RFC 2136 §2.4.2). Once anything in the zone has changed, a replay gets NXRRSET
    /// and deletes nothing; before that it has nothing new to delete. When another writer moves
    /// the SOA in between, it is read again.
    func clear(_ name: DNSName) async throws {
        let origin = try zone(of: name)
        let deleteAll = DNSResourceRecord(name: name, recordClass: .any, ttl: 0, data: .unknown(type: .txt, bytes: []))
        for _ in 0..<3 {
            let unchanged = DNSResourceRecord(name: origin, ttl: 0, data: .soa(try await currentSOA(origin)))
            do {
                try await send(origin, prerequisites: [unchanged], updates: [deleteAll], describing: name)
                return
            } catch is PrerequisiteFailed {
                continue
            }
        }
        throw SignerError(.dnsPublishing, "the zone \(origin) kept changing on the primary at \(settings.primary.hostAndPort) while the signer cleared \(name); it clears it at its next start")
    }

    /// The zone's SOA as the primary serves it now, asked with our key.
    private func currentSOA(_ origin: DNSName) async throws -> SOARecord {
        let question = DNSMessage(header: DNSHeader(id: 0, opcode: .query), questions: [DNSQuestion(name: origin, type: .soa)])
        let answer = try await exchange(question, origin: origin, describing: origin)
        let records = (try? DNSMessage(parsing: answer))?.answers ?? []
        for record in records where record.name.lowercased == origin {
            if case .soa(let soa) = record.data { return soa }
        }
        throw SignerError(.dnsPublishing, "the primary at \(settings.primary.hostAndPort) answered no SOA for \(origin)")
    }

    /// The primary answered NXRRSET: a prerequisite did not hold.
    private struct PrerequisiteFailed: Error {}

    /// The zone `name` is in; only `_acme-challenge` names are ever updated.
    private func zone(of name: DNSName) throws -> DNSName {
        guard name.labels.first.map({ String(decoding: $0, as: UTF8.self).lowercased() }) == "_acme-challenge",
              let origin = origins.deepestZone(containing: name)
        else {
            throw SignerError(.dnsPublishing, "\(name) is not an _acme-challenge name in a configured zone; the signer updates nothing else")
        }
        return origin
    }

    /// An UPDATE that changes nothing: its one prerequisite is that the zone's apex exists
    /// (RFC 2136 §2.4.4), its update section is empty. The primary still checks our key and
    /// our permission to update, which is what `check-config` wants to know.
    func probeUpdatePermission(_ origin: DNSName) async throws {
        let apexInUse = DNSResourceRecord(name: origin, recordClass: .any, ttl: 0, data: .unknown(type: .any, bytes: []))
        try await send(origin, prerequisites: [apexInUse], updates: [], describing: origin)
    }

    /// One UPDATE with one record in its update section and no prerequisites.
    func update(_ origin: DNSName, _ record: DNSResourceRecord) async throws {
        try await send(origin, prerequisites: [], updates: [record], describing: record.name)
    }

    /// Sends an UPDATE, signed, over UDP (TCP when truncated) up to three times: adding a
    /// record that is there, or deleting one that is not, changes nothing, so a retry is harmless.
    private func send(_ origin: DNSName, prerequisites: [DNSResourceRecord], updates: [DNSResourceRecord], describing name: DNSName) async throws {
        var message = DNSMessage(header: DNSHeader(id: 0, opcode: .update), questions: [DNSQuestion(name: origin, type: .soa)])
        // RFC 2136 §2: the prerequisites sit where answers do, the updates where authorities do.
        message.answers = prerequisites
        message.authorities = updates
        _ = try await exchange(message, origin: origin, describing: name)
    }

    /// `message` signed and sent with a fresh ID up to three times; the primary's answer,
    /// checked (signed by our key over our request, NOERROR).
    private func exchange(_ message: DNSMessage, origin: DNSName, describing name: DNSName) async throws -> [UInt8] {
        var message = message
        var lastError: any Error = DNSExchange.Timeout(server: settings.primary)
        for _ in 0..<3 {
            message.header.id = UInt16.random(in: 0...UInt16.max)
            let signed = try TSIG.sign(try message.serialized(), with: settings.key, timeSigned: Self.now())
            do {
                var answer = try await exchange.udp(signed.message, to: settings.primary, timeout: Self.attemptTimeout)
                if let header = DNSHeader(peekingAt: ByteBuffer(bytes: answer)), header.isTruncated {
                    answer = try await exchange.tcp(signed.message, to: settings.primary, timeout: Self.attemptTimeout)
                }
                try check(answer, requestMAC: signed.mac, origin: origin)
                return answer
            } catch let error as DNSExchange.Timeout {
                lastError = error
            }
        }
        throw SignerError(.dnsPublishing, "the primary at \(settings.primary.hostAndPort) did not answer about \(name): \(lastError)")
    }

    /// The primary's answer, checked: signed by our key over our request, NOERROR. Anything
    /// else becomes a message that says what to fix.
    private func check(_ answer: [UInt8], requestMAC: [UInt8], origin: DNSName) throws {
        guard let header = DNSHeader(peekingAt: ByteBuffer(bytes: answer)) else {
            throw SignerError(.dnsPublishing, "the primary at \(settings.primary.hostAndPort) sent an answer without a DNS header")
        }
        let code = DNSResponseCode(rawValue: UInt16(header.responseCodeLow))
        let keyName = settings.key.name
        if code == .notAuthorized {
            let reason = switch TSIG.error(in: answer) {
            case 16: "BADSIG: its secret for the key differs from ours"
            case 17: "BADKEY: it does not know a key of that name and algorithm"
            case 18: "BADTIME: our clocks differ by more than 5 minutes"
            default: "NOTAUTH"
            }
            throw SignerError(.dnsPublishing, "the primary at \(settings.primary.hostAndPort) refused TSIG key \(keyName) (\(reason)); check [[tsig_keys]] against the primary's key",
                              publicDetail: "the zone's primary refused the signer's update key (\(reason))")
        }
        switch TSIG.verify(answer, keys: [settings.key], now: Self.now(), requestMAC: requestMAC) {
        case .success: break
        case .failure(let failure): throw SignerError(.dnsPublishing, "the primary's answer does not carry a valid signature by \(keyName) (\(failure))")
        case nil: throw SignerError(.dnsPublishing, "the primary at \(settings.primary.hostAndPort) answered the update unsigned (\(code))")
        }
        switch code {
        case .noError:
            return
        case .rrsetMissing:
            throw PrerequisiteFailed()
        case .refused:
            throw SignerError(.dnsPublishing, "the primary at \(settings.primary.hostAndPort) refused the update: allow key \(keyName) to update TXT records at _acme-challenge names in \(origin)",
                              publicDetail: "the zone's primary refused the signer's update")
        case .notZone, .notAuthorized:
            throw SignerError(.dnsPublishing, "the primary at \(settings.primary.hostAndPort) is not authoritative for \(origin) (\(code))")
        default:
            throw SignerError(.dnsPublishing, "the primary at \(settings.primary.hostAndPort) answered the update with \(code)")
        }
    }

    private static func now() -> UInt64 { UInt64(max(0, time(nil))) }
}
