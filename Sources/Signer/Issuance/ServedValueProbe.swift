import DNSCodec
import DNSServer
import NIOCore
import NIOPosix
import Synchronization

/// Asks nameservers of the zone, over the network, which TXT values they serve at a name: the
/// "verify it is served" step before the CA is told to look. The zone store saying a value is
/// there is not enough; the CA may ask any nameserver of the zone (Let's Encrypt asks from
/// several places at once), so each of them must answer with it.
struct ServedValueProbe: Sendable {
    /// A nameserver the CA may ask: our own listener, a secondary, or the servers of an
    /// external primary. `name` is what logs and metrics call it.
    struct Server: Sendable {
        let name: String
        let address: SocketAddress
    }

    /// What the signer's own DNS listener is called among the servers.
    static let ownListenerName = "self"

    /// Every nameserver checked before `respond`, our own listener first when we run one. A
    /// reload replaces the others when the secondaries change.
    var servers: [Server] { current.servers.withLock { $0 } }
    private let current: ServerList
    let exchange: DNSExchange

    private final class ServerList: Sendable {
        let servers: Mutex<[Server]>
        init(_ servers: [Server]) { self.servers = Mutex(servers) }
    }

    init(servers: [Server], eventLoopGroup: any EventLoopGroup) {
        current = ServerList(servers)
        self.exchange = DNSExchange(eventLoopGroup: eventLoopGroup)
    }

    /// Keeps our own listener (the first server) and asks `others` after it from now on.
    func replaceOthers(with others: [Server]) {
        current.servers.withLock { servers in
            servers = Array(servers.prefix(1)) + others
        }
    }

    /// Our own listener bound at `address` (a wildcard address is asked on loopback), then `others`.
    init(listener address: ListenAddress, others: [Server] = [], eventLoopGroup: any EventLoopGroup) throws {
        let host = switch address.host {
        case "0.0.0.0": "127.0.0.1"
        case "::": "::1"
        default: address.host
        }
        let own = Server(name: Self.ownListenerName, address: try SocketAddress(ipAddress: host, port: address.port))
        self.init(servers: [own] + others, eventLoopGroup: eventLoopGroup)
    }

    /// The TXT values the first server (our own listener) serves at `name`.
    func txtValues(at name: DNSName, timeout: TimeAmount = .milliseconds(500)) async throws -> [String] {
        try await txtValues(at: name, from: servers[0].address, timeout: timeout)
    }

    /// The TXT values `server` serves at `name`; up to three UDP tries of `timeout` each, then
    /// TCP when the answer was truncated (more values than fit 1232 bytes): a TC answer is not
    /// "none".
    func txtValues(at name: DNSName, from server: SocketAddress, timeout: TimeAmount = .milliseconds(500)) async throws -> [String] {
        var lastError: any Error = DNSExchange.Timeout(server: server)
        for _ in 0..<3 {
            do {
                let query = try Self.query(name, id: UInt16.random(in: 0...UInt16.max))
                let response = try DNSMessage(parsing: ByteBuffer(bytes: try await exchange.udp(query, to: server, timeout: timeout)))
                if response.responseCode == .serverFailure { throw CannotAnswer(server: server) }
                if response.header.isTruncated {
                    let overTCP = try await exchange.tcp(query, to: server, timeout: timeout)
                    return Self.values(in: try DNSMessage(parsing: ByteBuffer(bytes: overTCP)), at: name)
                }
                return Self.values(in: response, at: name)
            } catch let error as DNSExchange.Timeout {
                lastError = error
            }
        }
        throw lastError
    }

    /// The nameserver answered SERVFAIL: it says it cannot vouch for its values now (a node of
    /// a cluster cut off from the shared state), and resolvers ask another one.
    struct CannotAnswer: Error, CustomStringConvertible {
        let server: SocketAddress
        var description: String { "\(server) answered SERVFAIL" }
    }

    private static func query(_ name: DNSName, id: UInt16) throws -> [UInt8] {
        try DNSMessage(header: DNSHeader(id: id), questions: [DNSQuestion(name: name, type: .txt)], edns: EDNS(udpPayloadSize: 1232)).serialized()
    }

    private static func values(in response: DNSMessage, at name: DNSName) -> [String] {
        response.answers.compactMap {
            guard case .txt(let record) = $0.data, $0.name == name else { return nil }
            return record.value
        }
    }
}
