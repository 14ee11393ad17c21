#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DNSCodec
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The authoritative DNS server as a swift-service-lifecycle `Service`: binds its UDP and TCP
/// sockets, reports where it listens, serves until graceful shutdown, then closes them.
public struct DNSServer: Service {
    public let configuration: DNSServerConfiguration
    public let store: ZoneStore
    /// TSIG keys and the secondaries that may transfer the zones.
    /// Who may transfer the zones and with which keys; a reload may replace it.
    public let transferPolicies: TransferPolicyStore
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let onServerRunning: (@Sendable ([ListenAddress]) async -> Void)?
    private let answerObserver: (@Sendable (DNSResponseCode) -> Void)?

    /// - Parameter onServerRunning: called once every socket is bound, with the addresses
    ///   actually bound (an ephemeral port 0 replaced by the port found).
    /// - Parameter answerObserver: told the response code of every answer, for metrics.
    public init(
        configuration: DNSServerConfiguration,
        store: ZoneStore,
        transfers: TransferPolicyStore = TransferPolicyStore(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger,
        onServerRunning: (@Sendable ([ListenAddress]) async -> Void)? = nil,
        answerObserver: (@Sendable (DNSResponseCode) -> Void)? = nil
    ) {
        self.answerObserver = answerObserver
        self.configuration = configuration
        self.store = store
        self.transferPolicies = transfers
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.onServerRunning = onServerRunning
    }

    public func run() async throws {
        try configuration.validate()
        try transferPolicies.policy.validate()
        let limiter = ConnectionLimiter(maximum: configuration.maximumTCPConnections, maximumPerClient: configuration.maximumTCPConnectionsPerClient)
        var channels: [any Channel] = []
        var bound: [ListenAddress] = []
        do {
            for address in configuration.listenAddresses {
                let (listeners, actual) = try await bind(address, limiter: limiter)
                channels += listeners
                bound.append(actual)
            }
        } catch {
            for channel in channels { try? await channel.close() }
            throw error
        }
        logger.info("DNS server listening", metadata: ["dns.listen": "\(bound.map(\.description).joined(separator: ", "))"])
        await onServerRunning?(bound)

        let toClose = channels
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                for channel in toClose { try? await channel.closeFuture.get() }
            } onCancel: {
                for channel in toClose { channel.close(promise: nil) }
            }
        } onGracefulShutdown: {
            for channel in toClose { channel.close(promise: nil) }
        }
        logger.info("DNS server stopped")
    }

    /// Binds the UDP sockets and then TCP on the same port. With port 0 the port UDP found may be
    /// taken for TCP; then everything is closed and tried again with a fresh port.
    ///
    /// Port 0 gets one UDP socket without SO_REUSEPORT: the kernel may hand a shareable ephemeral
    /// port that another process's SO_REUSEPORT socket already holds, and the two servers would
    /// then split each other's queries. Fixed ports (53 in production) get one socket per core.
    private func bind(_ address: ListenAddress, limiter: ConnectionLimiter) async throws -> ([any Channel], ListenAddress) {
        let ephemeral = address.port == 0
        let udpSockets = ephemeral ? 1 : configuration.udpSocketsPerAddress
        var lastError: (any Error)?
        for _ in 0..<(ephemeral ? 5 : 1) {
            var channels: [any Channel] = []
            do {
                let first = try await bindUDP(host: address.host, port: address.port, sharePort: udpSockets > 1)
                channels.append(first)
                guard let port = first.localAddress?.port else {
                    throw DNSServerError(.bindFailed, "UDP socket on \(address) has no local port")
                }
                for _ in 1..<udpSockets {
                    channels.append(try await bindUDP(host: address.host, port: port, sharePort: true))
                }
                channels.append(try await bindTCP(host: address.host, port: port, limiter: limiter))
                return (channels, ListenAddress(host: address.host, port: port))
            } catch {
                lastError = error
                for channel in channels { try? await channel.close() }
            }
        }
        throw DNSServerError(.bindFailed, "cannot listen on \(address): \(lastError.map { "\($0)" } ?? "unknown error")")
    }

    private func bindUDP(host: String, port: Int, sharePort: Bool) async throws -> any Channel {
        let responder = QueryResponder(store: store, transferPolicies: transferPolicies, observer: answerObserver)
        let logger = self.logger
        // No SO_REUSEADDR on UDP: it would let another socket silently bind the same port.
        return try await DatagramBootstrap(group: eventLoopGroup)
            .channelOption(ChannelOptions.socketOption(NIOBSDSocket.Option(rawValue: SO_REUSEPORT)), value: sharePort ? 1 : 0)
            // recvmmsg: up to 32 datagrams of up to 4 KiB per system call; larger queries are not DNS.
            .channelOption(.datagramVectorReadMessageCount, value: 32)
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 32 * 4096))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UDPQueryHandler(responder: responder, logger: logger))
                }
            }
            .bind(host: host, port: port)
            .get()
    }

    private func bindTCP(host: String, port: Int, limiter: ConnectionLimiter) async throws -> any Channel {
        let responder = QueryResponder(store: store, transferPolicies: transferPolicies, observer: answerObserver)
        let logger = self.logger
        let idleTimeout = configuration.tcpIdleTimeout
        return try await ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 32 * 1024, high: 128 * 1024))
            .childChannelInitializer { channel in
                let client = channel.remoteAddress?.ipAddress ?? "?"
                guard limiter.acquire(client: client) else {
                    logger.debug("refusing a TCP connection: too many open, or too many from this client", metadata: ["dns.transport": "tcp"])
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in limiter.release(client: client) }
                return channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    // One frame is at most 2 + 65,535 bytes; more unread than a few frames is abuse.
                    try pipeline.addHandler(ByteToMessageHandler(DNSTCPFrameDecoder(), maximumBufferSize: 4 * 65_537))
                    try pipeline.addHandler(MessageDeadlineHandler(timeout: idleTimeout, logger: logger))
                    try pipeline.addHandler(TCPQueryHandler(responder: responder, logger: logger))
                }
            }
            .bind(host: host, port: port)
            .get()
    }
}
