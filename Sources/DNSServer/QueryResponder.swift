import DNSCodec
import NIOCore

/// The transport a query came in on; it decides how large an answer may be.
public enum DNSTransport: String, Sendable {
    case udp, tcp
}

/// Turns one query packet into one response packet: the whole of the server's DNS logic,
/// free of sockets so it can be tested byte for byte.
public struct QueryResponder: Sendable {
    /// The EDNS payload size this server offers and the most it sends over UDP (DNS Flag Day 2020).
    public static let maximumUDPPayload = 1232
    /// Without EDNS a UDP response must fit 512 bytes (RFC 1035 §4.2.1).
    public static let classicUDPPayload = 512

    public let store: ZoneStore
    /// Told the response code of every answer sent, for metrics.
    let observer: (@Sendable (DNSResponseCode) -> Void)?

    public init(store: ZoneStore, observer: (@Sendable (DNSResponseCode) -> Void)? = nil) {
        self.store = store
        self.observer = observer
    }

    /// What was answered, for logs and metrics.
    public struct Response {
        public var bytes: ByteBuffer
        public var question: DNSQuestion?
        public var responseCode: DNSResponseCode
        public var isTruncated: Bool
    }

    /// The response to `query`, or `nil` when the packet must be dropped: shorter than a header
    /// (no ID to answer with) or itself a response (answering those invites loops).
    public func respond(to query: ByteBuffer, transport: DNSTransport, allocator: ByteBufferAllocator = ByteBufferAllocator()) -> Response? {
        let response = makeResponse(to: query, transport: transport, allocator: allocator)
        if let response, let observer { observer(response.responseCode) }
        return response
    }

    private func makeResponse(to query: ByteBuffer, transport: DNSTransport, allocator: ByteBufferAllocator) -> Response? {
        guard let header = DNSHeader(peekingAt: query), !header.isResponse else { return nil }
        let message: DNSMessage
        do {
            message = try DNSMessage(parsing: query)
        } catch {
            return encode(reply(to: header, code: .formatError), transport: transport, requestedPayload: nil, allocator: allocator)
        }
        let response = answer(message)
        return encode(response, transport: transport, requestedPayload: message.edns?.udpPayloadSize, allocator: allocator)
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
        case .opt:
            response.responseCode = .formatError
            return response
        case .axfr, .ixfr:
            // Zone transfers are not offered: the zone's dynamic data is nobody else's business.
            response.responseCode = .refused
            return response
        default:
            break
        }
        guard question.questionClass == .internet, let zone = store.snapshot.zone(containing: question.name) else {
            response.responseCode = .refused
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

    /// A response header for `header`: same ID, opcode, RD and CD; AA and RA clear.
    private func reply(to header: DNSHeader, code: DNSResponseCode) -> DNSMessage {
        let flags = DNSHeader(
            id: header.id, isResponse: true, opcode: header.opcode,
            recursionDesired: header.recursionDesired, checkingDisabled: header.checkingDisabled)
        return DNSMessage(header: flags, responseCode: code)
    }

    /// Serialises `response`; over UDP, a response larger than the client invited is replaced by
    /// its header and question with TC=1 (RFC 1035 §4.2.1, RFC 7766), so no answer amplifies.
    private func encode(_ response: DNSMessage, transport: DNSTransport, requestedPayload: UInt16?, allocator: ByteBufferAllocator) -> Response? {
        let limit: Int
        switch transport {
        case .tcp: limit = DNSMessage.maximumSize
        case .udp: limit = requestedPayload.map { min(max(Int($0), Self.classicUDPPayload), Self.maximumUDPPayload) } ?? Self.classicUDPPayload
        }
        var buffer = allocator.buffer(capacity: 512)
        var sent = response
        do {
            try response.write(into: &buffer)
            if buffer.readableBytes > limit {
                sent.header.isTruncated = true
                sent.answers = []
                sent.authorities = []
                sent.additionals = []
                buffer.clear()
                try sent.write(into: &buffer)
            }
        } catch {
            // Only a question near the 64 KiB limit could get here; there is no honest answer to send.
            return nil
        }
        return Response(bytes: buffer, question: sent.questions.first, responseCode: sent.responseCode, isTruncated: sent.header.isTruncated)
    }
}
