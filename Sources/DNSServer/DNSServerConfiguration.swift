import NIOCore

/// How the DNS server listens; what it answers lives in the `ZoneStore`.
public struct DNSServerConfiguration: Sendable {
    /// Each address is served over both UDP and TCP.
    public var listenAddresses: [ListenAddress]
    /// A TCP connection that completes no query for this long is closed (RFC 7766 §6.2.3
    /// suggests seconds); bytes of an unfinished query do not count.
    public var tcpIdleTimeout: TimeAmount
    /// Open TCP connections across all addresses; further ones are closed at once.
    public var maximumTCPConnections: Int
    /// Open TCP connections from one client address, so one client cannot take every slot.
    public var maximumTCPConnectionsPerClient: Int
    /// UDP sockets bound to each address with SO_REUSEPORT, so every core reads queries.
    /// An ephemeral port (0) always gets one socket.
    public var udpSocketsPerAddress: Int

    public init(
        listenAddresses: [ListenAddress] = [ListenAddress(host: "127.0.0.1", port: 53)],
        tcpIdleTimeout: TimeAmount = .seconds(10),
        maximumTCPConnections: Int = 256,
        maximumTCPConnectionsPerClient: Int = 16,
        udpSocketsPerAddress: Int = System.coreCount
    ) {
        self.listenAddresses = listenAddresses
        self.tcpIdleTimeout = tcpIdleTimeout
        self.maximumTCPConnections = maximumTCPConnections
        self.maximumTCPConnectionsPerClient = maximumTCPConnectionsPerClient
        self.udpSocketsPerAddress = udpSocketsPerAddress
    }

    public func validate() throws {
        guard !listenAddresses.isEmpty else { throw DNSServerError(.invalidConfiguration, "no listen address") }
        guard Set(listenAddresses).count == listenAddresses.count else {
            throw DNSServerError(.invalidConfiguration, "a listen address is given twice")
        }
        guard maximumTCPConnections > 0 else { throw DNSServerError(.invalidConfiguration, "maximumTCPConnections must be at least 1") }
        guard maximumTCPConnectionsPerClient > 0 else { throw DNSServerError(.invalidConfiguration, "maximumTCPConnectionsPerClient must be at least 1") }
        guard udpSocketsPerAddress > 0 else { throw DNSServerError(.invalidConfiguration, "udpSocketsPerAddress must be at least 1") }
        guard tcpIdleTimeout > .zero else { throw DNSServerError(.invalidConfiguration, "tcpIdleTimeout must be positive") }
    }
}
