import Logging
import NIOCore

/// Answers datagrams on one UDP socket. Responses are written as they are made and flushed once
/// per read burst, so NIO can send a burst with one sendmmsg call.
final class UDPQueryHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private let responder: QueryResponder
    private let logger: Logger
    private var hasUnflushedWrites = false

    init(responder: QueryResponder, logger: Logger) {
        self.responder = responder
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        guard let response = responder.respond(to: envelope.data, transport: .udp, client: envelope.remoteAddress, allocator: context.channel.allocator) else {
            logger.debug("dropped a datagram without a query header", metadata: ["dns.transport": "udp", "dns.client": "\(envelope.remoteAddress)"])
            return
        }
        logger.debug("answered", metadata: response.logMetadata(transport: .udp))
        context.write(wrapOutboundOut(AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: response.bytes)), promise: nil)
        hasUnflushedWrites = true
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if hasUnflushedWrites {
            hasUnflushedWrites = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A UDP socket reports ICMP errors for earlier sends here; the socket itself is still fine.
        logger.debug("UDP socket error", metadata: ["dns.transport": "udp", "error": "\(error)"])
    }
}

extension QueryResponder.Response {
    func logMetadata(transport: DNSTransport) -> Logger.Metadata {
        [
            "dns.query.name": "\(question?.name.description ?? "-")",
            "dns.qtype": "\(question?.type.description ?? "-")",
            "dns.rcode": "\(responseCode)",
            "dns.transport": "\(transport.rawValue)",
            "dns.truncated": "\(isTruncated)",
        ]
    }
}
