import ACME
import DNSCodec
import DNSServer
import NIOCore
import NIOPosix

/// Asks our own DNS listener, over the network, which TXT values it serves at a name: the
/// "verify it is served" step before the CA is told to look. The zone store saying a value is there is not enough;
/// this proves the listener the CA will query answers with it.
struct ServedValueProbe: Sendable {
    let server: SocketAddress
    let eventLoopGroup: any EventLoopGroup

    /// Where to reach a listener bound at `address`: a wildcard address is asked on loopback.
    init(listener address: ListenAddress, eventLoopGroup: any EventLoopGroup) throws {
        let host = switch address.host {
        case "0.0.0.0": "127.0.0.1"
        case "::": "::1"
        default: address.host
        }
        self.server = try SocketAddress(ipAddress: host, port: address.port)
        self.eventLoopGroup = eventLoopGroup
    }

    /// The TXT values served at `name`; up to three UDP tries of `timeout` each, then TCP when
    /// the answer was truncated (more values than fit 1232 bytes): a TC answer is not "none".
    func txtValues(at name: DNSName, timeout: TimeAmount = .milliseconds(500)) async throws -> [String] {
        var lastError: any Error = ProbeTimeout(server: server)
        for _ in 0..<3 {
            do {
                let query = try Self.query(name, id: UInt16.random(in: 0...UInt16.max))
                let response = try await ask(query, timeout: timeout)
                if response.header.isTruncated {
                    return Self.values(in: try await askOverTCP(query, timeout: timeout), at: name)
                }
                return Self.values(in: response, at: name)
            } catch let error as ProbeTimeout {
                lastError = error
            }
        }
        throw lastError
    }

    private static func query(_ name: DNSName, id: UInt16) throws -> DNSMessage {
        DNSMessage(header: DNSHeader(id: id), questions: [DNSQuestion(name: name, type: .txt)], edns: EDNS(udpPayloadSize: 1232))
    }

    private static func values(in response: DNSMessage, at name: DNSName) -> [String] {
        response.answers.compactMap {
            guard case .txt(let record) = $0.data, $0.name == name else { return nil }
            return record.value
        }
    }

    struct ProbeTimeout: Error, CustomStringConvertible {
        let server: SocketAddress
        var description: String { "the DNS listener at \(server) did not answer" }
    }

    private func ask(_ message: DNSMessage, timeout: TimeAmount) async throws -> DNSMessage {
        let query = try message.serialized()
        let id = message.header.id
        let bindHost = server.protocol == .inet6 ? "::1" : "127.0.0.1"
        let channel = try await DatagramBootstrap(group: eventLoopGroup).bind(host: bindHost, port: 0) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>(wrappingChannelSynchronously: channel)
            }
        }
        let server = self.server
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(AddressedEnvelope(remoteAddress: server, data: ByteBuffer(bytes: query)))
            return try await Self.first(within: timeout, from: server) {
                for try await envelope in inbound where envelope.remoteAddress == server {
                    guard let response = try? DNSMessage(parsing: envelope.data), response.header.id == id, response.header.isResponse else { continue }
                    return response
                }
                return nil
            }
        }
    }

    /// The same question over TCP (RFC 7766: two-byte length, then the message), bounded by `timeout`.
    private func askOverTCP(_ message: DNSMessage, timeout: TimeAmount) async throws -> DNSMessage {
        var framed = ByteBuffer()
        let query = try message.serialized()
        framed.writeInteger(UInt16(query.count))
        framed.writeBytes(query)
        let id = message.header.id
        let channel = try await ClientBootstrap(group: eventLoopGroup).connectTimeout(timeout).connect(to: server) { channel in
            channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
        }
        let server = self.server
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(framed)
            return try await Self.first(within: timeout, from: server) {
                var received = ByteBuffer()
                for try await chunk in inbound {
                    received.writeImmutableBuffer(chunk)
                    guard let length = received.getInteger(at: received.readerIndex, as: UInt16.self),
                          received.readableBytes >= 2 + Int(length),
                          let frame = received.getSlice(at: received.readerIndex + 2, length: Int(length))
                    else { continue }
                    let response = try DNSMessage(parsing: frame)
                    guard response.header.id == id, response.header.isResponse else { return nil }
                    return response
                }
                return nil
            }
        }
    }

    /// The response `receive` finds, or `ProbeTimeout` when it finds none within `timeout`.
    private static func first(
        within timeout: TimeAmount, from server: SocketAddress, _ receive: @escaping @Sendable () async throws -> DNSMessage?
    ) async throws -> DNSMessage {
        let deadline = ContinuousClock.now + .nanoseconds(timeout.nanoseconds)
        let response = try await withDeadline(deadline, orThrow: { ProbeTimeout(server: server) }) { try await receive() }
        guard let response, !Task.isCancelled else { throw ProbeTimeout(server: server) }
        return response
    }
}
