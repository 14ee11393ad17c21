import DNSCodec
import Logging
import NIOCore
import Synchronization

/// Splits a TCP stream into DNS messages by their two-byte length prefix (RFC 7766 §8).
struct DNSTCPFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self),
              buffer.readableBytes >= 2 + Int(length)
        else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 2)
        guard let message = buffer.readSlice(length: Int(length)) else { return .needMoreData }  // checked just above
        context.fireChannelRead(NIOAny(message))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A half-closed client may still await answers to complete frames; a partial frame is dropped.
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

/// Answers the framed queries of one TCP connection in order; several per connection are fine
/// (RFC 7766 §6.2.1). Closes the connection on idleness, on a frame without a query header,
/// and stops reading while the client is not reading its answers.
final class TCPQueryHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let responder: QueryResponder
    private let logger: Logger
    private var hasUnflushedWrites = false

    init(responder: QueryResponder, logger: Logger) {
        self.responder = responder
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let query = unwrapInboundIn(data)
        guard let response = responder.respond(to: query, transport: .tcp, client: context.channel.remoteAddress, allocator: context.channel.allocator) else {
            logger.debug("closing a TCP connection that sent a frame without a query header", metadata: ["dns.transport": "tcp"])
            context.close(promise: nil)
            return
        }
        log(response, client: context.channel.remoteAddress)
        write(response.bytes, context: context)
        for message in response.continuation { write(message, context: context) }
        hasUnflushedWrites = true
    }

    /// Frames one message with its two-byte length and queues it.
    private func write(_ message: ByteBuffer, context: ChannelHandlerContext) {
        var framed = context.channel.allocator.buffer(capacity: message.readableBytes + 2)
        framed.writeInteger(UInt16(message.readableBytes))
        framed.writeImmutableBuffer(message)
        context.write(wrapOutboundOut(framed), promise: nil)
    }

    /// A query at debug level; a zone transfer, rarer and worth knowing about, at info.
    private func log(_ response: QueryResponder.Response, client: SocketAddress?) {
        var metadata = response.logMetadata(transport: .tcp)
        guard let type = response.question?.type, type == .axfr || type == .ixfr else {
            logger.debug("answered", metadata: metadata)
            return
        }
        metadata["dns.client"] = "\(client?.hostAndPort ?? "?")"
        metadata["dns.messages"] = "\(response.continuation.count + 1)"
        logger.info("zone transfer answered", metadata: metadata)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if hasUnflushedWrites {
            hasUnflushedWrites = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // Backpressure: a client that pipelines queries without reading answers gets no more reads.
        context.channel.setOption(ChannelOptions.autoRead, value: context.channel.isWritable).whenComplete { _ in }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            logger.debug("closing an idle TCP connection", metadata: ["dns.transport": "tcp"])
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.debug("closing a TCP connection after an error", metadata: ["dns.transport": "tcp", "error": "\(error)"])
        context.close(promise: nil)
    }
}

/// Closes a connection that has not completed a query within `timeout`: armed when the
/// connection opens and again after each whole query. It sits behind the frame decoder, so only
/// complete messages count: a client trickling a byte at a time cannot hold its slot (RFC 7766
/// §6.2.3, and the slow-read defence of nginx's client_header_timeout).
final class MessageDeadlineHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let timeout: TimeAmount
    private let logger: Logger
    private var deadline: Scheduled<Void>?

    init(timeout: TimeAmount, logger: Logger) {
        self.timeout = timeout
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        arm(context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        arm(context)
        context.fireChannelRead(data)
    }

    private func arm(_ context: ChannelHandlerContext) {
        deadline?.cancel()
        let logger = self.logger
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: timeout) {
            logger.debug("closing a TCP connection that sent no whole query in time", metadata: ["dns.transport": "tcp"])
            channel.close(promise: nil)
        }
    }
}

/// Counts open TCP connections across all listeners, and per client address, so neither a
/// flood nor one client can exhaust file descriptors or every slot.
final class ConnectionLimiter: Sendable {
    private let counts = Mutex<(total: Int, perClient: [String: Int])>((0, [:]))
    let maximum: Int
    let maximumPerClient: Int

    init(maximum: Int, maximumPerClient: Int) {
        self.maximum = maximum
        self.maximumPerClient = maximumPerClient
    }

    /// Takes a slot for `client`, or returns false when all, or all of its share, are in use.
    func acquire(client: String) -> Bool {
        counts.withLock { counts in
            let mine = counts.perClient[client, default: 0]
            guard counts.total < maximum, mine < maximumPerClient else { return false }
            counts.total += 1
            counts.perClient[client] = mine + 1
            return true
        }
    }

    func release(client: String) {
        counts.withLock { counts in
            counts.total -= 1
            let mine = counts.perClient[client, default: 1] - 1
            counts.perClient[client] = mine > 0 ? mine : nil
        }
    }
}
