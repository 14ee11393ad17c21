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
        context.fireChannelRead(NIOAny(buffer.readSlice(length: Int(length))!))
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
        guard let response = responder.respond(to: query, transport: .tcp, allocator: context.channel.allocator) else {
            logger.debug("closing a TCP connection that sent a frame without a query header", metadata: ["dns.transport": "tcp"])
            context.close(promise: nil)
            return
        }
        logger.debug("answered", metadata: response.logMetadata(transport: .tcp))
        var framed = context.channel.allocator.buffer(capacity: response.bytes.readableBytes + 2)
        framed.writeInteger(UInt16(response.bytes.readableBytes))
        framed.writeImmutableBuffer(response.bytes)
        context.write(wrapOutboundOut(framed), promise: nil)
        hasUnflushedWrites = true
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

/// Counts open TCP connections across all listeners so a flood cannot exhaust file descriptors.
final class ConnectionLimiter: Sendable {
    private let open = Atomic<Int>(0)
    let maximum: Int

    init(maximum: Int) {
        self.maximum = maximum
    }

    /// Takes a slot, or returns false when all are in use.
    func acquire() -> Bool {
        if open.wrappingAdd(1, ordering: .relaxed).newValue > maximum {
            open.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func release() {
        open.wrappingSubtract(1, ordering: .relaxed)
    }
}
