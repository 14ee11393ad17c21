import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization

/// How long a client may take, and how many connections it may hold (nginx's
/// client_header_timeout, client_body_timeout, keepalive_timeout and limit_conn).
public struct ConnectionLimits: Sendable, Equatable {
    /// From accepting the connection (TLS handshake included) to a whole request head.
    public var headerTimeout: Duration = .seconds(10)
    /// From the head to the end of the body.
    public var bodyTimeout: Duration = .seconds(10)
    /// After a response, until the next request's head on the same connection.
    public var idleTimeout: Duration = .seconds(30)
    /// Open connections in all; past it the server stops accepting until one closes.
    public var maximumConnections = 1024
    /// Open connections from one client address; past it a new one is closed at once.
    public var maximumConnectionsPerClient = 32

    public init() {}
}

/// Open HTTP connections per client address, bounded.
final class ClientConnections: Sendable {
    private let counts = Mutex<[String: Int]>([:])
    let maximumPerClient: Int

    init(maximumPerClient: Int) {
        self.maximumPerClient = maximumPerClient
    }

    func acquire(_ client: String) -> Bool {
        counts.withLock { counts in
            let mine = counts[client, default: 0]
            guard mine < maximumPerClient else { return false }
            counts[client] = mine + 1
            return true
        }
    }

    func release(_ client: String) {
        counts.withLock { counts in
            let mine = counts[client, default: 1] - 1
            counts[client] = mine > 0 ? mine : nil
        }
    }
}

/// One per connection, behind the HTTP decoder: closes a connection whose client is too slow at
/// any step (a slowloris head, a trickled body, a handshake never finished, an idle keep-alive)
/// and refuses one past its client's share. Time spent answering (an issuance) is not counted.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let limits: ConnectionLimits
    private let clients: ClientConnections
    private let logger: Logger
    private var client: String?
    private var timer: Scheduled<Void>?

    init(limits: ConnectionLimits, clients: ClientConnections, logger: Logger) {
        self.limits = limits
        self.clients = clients
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let address = context.channel.remoteAddress?.ipAddress ?? "?"
        guard clients.acquire(address) else {
            logger.debug("refusing a connection: too many open from this client")
            context.close(promise: nil)
            return
        }
        client = address
        arm(context, limits.headerTimeout, "no whole request head")
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        if let client { clients.release(client) }
        client = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: arm(context, limits.bodyTimeout, "the body did not arrive in time")
        case .body: break
        case .end:
            timer?.cancel()
            timer = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { arm(context, limits.idleTimeout, "idle after a response") }
        context.write(data, promise: promise)
    }

    private func arm(_ context: ChannelHandlerContext, _ timeout: Duration, _ reason: String) {
        timer?.cancel()
        let channel = context.channel
        let logger = self.logger
        timer = context.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            logger.debug("closing a slow connection", metadata: ["http.close.reason": "\(reason)"])
            channel.close(promise: nil)
        }
    }
}
