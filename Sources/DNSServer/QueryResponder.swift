#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DNSCodec
import NIOCore

/// The transport a query came in on; it decides how large an answer may be.
public enum DNSTransport: String, Sendable {
    case udp, tcp
}

/// Turns one query packet into the response packets: the whole of the server's DNS logic,
/// free of sockets so it can be tested byte for byte.
public struct QueryResponder: Sendable {
    /// The EDNS payload size this server offers and the most it sends over UDP (DNS Flag Day 2020).
    public static let maximumUDPPayload = 1232
    /// Without EDNS a UDP response must fit 512 bytes (RFC 1035 §4.2.1).
    public static let classicUDPPayload = 512
    /// Records per message of a zone transfer: with TXT values of at most 1 KiB, 40 records
    /// stay well under the 64 KiB a message can hold.
    static let recordsPerTransferMessage = 40

    public let store: ZoneStore
    /// TSIG keys, and the secondaries allowed to transfer, as they are now.
    public let transferPolicies: TransferPolicyStore
    public var transfers: ZoneTransferPolicy { transferPolicies.policy }
    /// Told the response code of every answer sent, for metrics.
    let observer: (@Sendable (DNSResponseCode) -> Void)?
    /// Seconds since 1970, for TSIG's time check.
    let now: @Sendable () -> UInt64

    public init(
        store: ZoneStore, transferPolicies: TransferPolicyStore,
        observer: (@Sendable (DNSResponseCode) -> Void)? = nil,
        now: @escaping @Sendable () -> UInt64 = { UInt64(max(0, time(nil))) }
    ) {
        self.store = store
        self.transferPolicies = transferPolicies
        self.observer = observer
        self.now = now
    }

    /// With a fixed transfer policy.
    public init(
        store: ZoneStore, transfers: ZoneTransferPolicy = ZoneTransferPolicy(),
        observer: (@Sendable (DNSResponseCode) -> Void)? = nil,
        now: @escaping @Sendable () -> UInt64 = { UInt64(max(0, time(nil))) }
    ) {
        self.init(store: store, transferPolicies: TransferPolicyStore(transfers), observer: observer, now: now)
    }

    /// What was answered, for logs and metrics.
    public struct Response {
        public var bytes: ByteBuffer
        /// The further messages of a zone transfer, sent after `bytes` on the same connection.
        public var continuation: [ByteBuffer] = []
        public var question: DNSQuestion?
        public var responseCode: DNSResponseCode
        public var isTruncated: Bool
        /// The key that signed the query (and so the answer), if any.
        public var tsigKey: DNSName?
    }

    /// The response to `query` from `client`, or `nil` when the packet must be dropped: shorter
    /// than a header (no ID to answer with) or itself a response (answering those invites loops).
    public func respond(to query: ByteBuffer, transport: DNSTransport, client: SocketAddress? = nil, allocator: ByteBufferAllocator = ByteBufferAllocator()) -> Response? {
        let response = makeResponse(to: query, transport: transport, client: client, allocator: allocator)
        if let response, let observer { observer(response.responseCode) }
        return response
    }

    /// The query's signer: its key and MAC, which the answer's MAC covers.
    private struct Signer {
        let key: TSIGKey
        let requestMAC: [UInt8]
    }

    private func makeResponse(to query: ByteBuffer, transport: DNSTransport, client: SocketAddress?, allocator: ByteBufferAllocator) -> Response? {
        guard let header = DNSHeader(peekingAt: query), !header.isResponse else { return nil }
        var body = query
        var signer: Signer?
        let wire = Array(query.readableBytesView)
        switch TSIG.verify(wire, keys: transfers.keys, now: now()) {
        case nil:
            break
        case .failure(.malformed):
            return encode(reply(to: header, code: .formatError), transport: transport, requestedPayload: nil, signer: nil, allocator: allocator)
        case .failure(let failure):
            // RFC 8945 §5.3.2: NOTAUTH, with the reason in an unsigned TSIG record.
            let refusal = reply(to: header, code: .notAuthorized)
            guard let bytes = try? refusal.serialized() else { return nil }
            let answer = TSIG.appendError(failure, to: bytes, answering: wire, now: now())
            return Response(bytes: ByteBuffer(bytes: answer), question: nil, responseCode: .notAuthorized, isTruncated: false)
        case .success(let signed):
            signer = Signer(key: signed.key, requestMAC: signed.mac)
            body = ByteBuffer(bytes: signed.message)
        }
        let message: DNSMessage
        do {
            message = try DNSMessage(parsing: body)
        } catch {
            return encode(reply(to: header, code: .formatError), transport: transport, requestedPayload: nil, signer: signer, allocator: allocator)
        }
        if message.header.opcode == .query, message.questions.count == 1,
           message.questions[0].type == .axfr || message.questions[0].type == .ixfr {
            return transfer(message, transport: transport, client: client, signer: signer, allocator: allocator)
        }
        let response = answer(message)
        return encode(response, transport: transport, requestedPayload: message.edns?.udpPayloadSize, signer: signer, allocator: allocator)
    }

    /// Decides the response message for a well-formed query.
    func answer(_ query: DNSMessage) -> DNSMessage {
        var response = reply(to: query.header, code: .noError)
        // RFC 6891 §7: reply with OPT when the query had one, and only then.
        if query.edns != nil { response.edns = EDNS(udpPayloadSize: UInt16(Self.maximumUDPPayload)) }
        if query.header.opcode == .query, query.questions.count != 1 {
            response.responseCode = .formatError
            return response
        }
        response.questions = query.questions
        guard query.header.opcode == .query else {
            response.responseCode = .notImplemented
            return response
        }
        if let edns = query.edns, edns.version != 0 {
            response.questions = []
            response.responseCode = .badVersion
            return response
        }
        let question = query.questions[0]
        switch question.type {
        case .opt, .tsig:
            response.responseCode = .formatError
            return response
        case .axfr, .ixfr:
            response.responseCode = .refused
            return response
        default:
            break
        }
        guard question.questionClass == .internet, let zone = store.snapshot.zone(containing: question.name) else {
            response.responseCode = .refused
            return response
        }
        // Every TXT record is set at run time (the configured records hold none): while the
        // store cannot vouch for them, SERVFAIL sends the asker to another nameserver rather
        // than give it a stale set.
        if question.type == .txt, !store.runTimeValuesAreCurrent {
            response.responseCode = .serverFailure
            return response
        }
        response.header.isAuthoritative = true
        switch zone.lookup(question.name, type: question.type) {
        case .records(let answers, let additionals):
            response.answers = answers
            response.additionals = additionals
        case .noData:
            response.authorities = [zone.soa]
        case .nameError:
            response.responseCode = .nameError
            response.authorities = [zone.soa]
        }
        return response
    }

    /// AXFR, and IXFR answered AXFR-style (RFC 1995 §4), only over TCP to a configured
    /// secondary signing with its key. A secondary asking over UDP is told to use TCP (TC=1).
    /// An IXFR from a secondary that is up to date gets the SOA alone.
    private func transfer(_ query: DNSMessage, transport: DNSTransport, client: SocketAddress?, signer: Signer?, allocator: ByteBufferAllocator) -> Response? {
        let question = query.questions[0]
        var response = reply(to: query.header, code: .noError)
        response.questions = query.questions
        let snapshotZone = store.snapshot.zone(containing: question.name)
        guard let zone = snapshotZone, zone.origin == question.name, question.questionClass == .internet,
              transfers.allowsTransfer(from: client, signedWith: signer?.key)
        else {
            response.responseCode = .refused
            return encode(response, transport: transport, requestedPayload: nil, signer: signer, allocator: allocator)
        }
        response.header.isAuthoritative = true
        if transport == .udp {
            response.header.isTruncated = true
            return encode(response, transport: transport, requestedPayload: nil, signer: signer, allocator: allocator)
        }
        if question.type == .ixfr, let known = query.authorities.first, case .soa(let theirs) = known.data,
           !SerialNumber(zone.serial).isNewer(than: SerialNumber(theirs.serial)) {
            response.answers = [zone.soa]
            return encode(response, transport: transport, requestedPayload: nil, signer: signer, allocator: allocator)
        }
        let records = [zone.soa] + zone.transferBody + [zone.soa]
        var messages: [ByteBuffer] = []
        var previousMAC = signer?.requestMAC
        var start = 0
        while start < records.count {
            var part = response
            if start > 0 { part.questions = [] }
            part.answers = Array(records[start..<min(start + Self.recordsPerTransferMessage, records.count)])
            start += Self.recordsPerTransferMessage
            guard var bytes = try? part.serialized() else { return nil }
            if let signer, let mac = previousMAC {
                // RFC 8945 §5.3.1: the first message covers the request's MAC and all TSIG
                // variables; each later one the message before it and the timers only.
                guard let signed = try? TSIG.sign(bytes, with: signer.key, timeSigned: now(), requestMAC: mac, timersOnly: !messages.isEmpty) else { return nil }
                bytes = signed.message
                previousMAC = signed.mac
            }
            messages.append(ByteBuffer(bytes: bytes))
        }
        return Response(
            bytes: messages[0], continuation: Array(messages.dropFirst()), question: question,
            responseCode: .noError, isTruncated: false, tsigKey: signer?.key.name)
    }

    /// A response header for `header`: same ID, opcode, RD and CD; AA and RA clear.
    private func reply(to header: DNSHeader, code: DNSResponseCode) -> DNSMessage {
        let flags = DNSHeader(
            id: header.id, isResponse: true, opcode: header.opcode,
            recursionDesired: header.recursionDesired, checkingDisabled: header.checkingDisabled)
        return DNSMessage(header: flags, responseCode: code)
    }

    /// Serialises `response`, signed when the query was; over UDP, a response larger than the
    /// client invited is replaced by its header and question with TC=1 (RFC 1035 §4.2.1,
    /// RFC 7766), so no answer amplifies.
    private func encode(_ response: DNSMessage, transport: DNSTransport, requestedPayload: UInt16?, signer: Signer?, allocator: ByteBufferAllocator) -> Response? {
        var limit: Int
        switch transport {
        case .tcp: limit = DNSMessage.maximumSize
        case .udp: limit = requestedPayload.map { min(max(Int($0), Self.classicUDPPayload), Self.maximumUDPPayload) } ?? Self.classicUDPPayload
        }
        // Room for the TSIG record: two names, a 64-byte MAC at most, and fixed fields.
        if let signer { limit -= signer.key.name.wireBytes.count + 256 + 64 + 32 }
        var sent = response
        do {
            var bytes = try response.serialized()
            if bytes.count > limit {
                sent.header.isTruncated = true
                sent.answers = []
                sent.authorities = []
                sent.additionals = []
                bytes = try sent.serialized()
            }
            if let signer {
                bytes = try TSIG.sign(bytes, with: signer.key, timeSigned: now(), requestMAC: signer.requestMAC).message
            }
            var buffer = allocator.buffer(capacity: bytes.count)
            buffer.writeBytes(bytes)
            return Response(bytes: buffer, question: sent.questions.first, responseCode: sent.responseCode, isTruncated: sent.header.isTruncated, tsigKey: signer?.key.name)
        } catch {
            // Only a question near the 64 KiB limit could get here; there is no honest answer to send.
            return nil
        }
    }
}

/// RFC 1982 serial number arithmetic, which SOA serials follow: they wrap around.
struct SerialNumber {
    let value: UInt32
    init(_ value: UInt32) { self.value = value }

    func isNewer(than other: SerialNumber) -> Bool {
        value != other.value && (value &- other.value) < 0x8000_0000
    }
}
