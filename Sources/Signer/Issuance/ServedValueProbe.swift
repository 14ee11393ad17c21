import DNSCodec
import DNSServer
import NIOCore
import NIOPosix

/// Asks our own DNS listener, over the network, which TXT values it serves at a name: the
/// seed's "verify it is served" step. The zone store saying a value is there is not enough;
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

    /// The TXT values served at `name`; up to three UDP tries of `timeout` each.
    func txtValues(at name: DNSName, timeout: TimeAmount = .milliseconds(500)) async throws -> [String] {
        var lastError: (any Error)?
        for attempt in 0..<3 {
            do {
                return try await ask(name, id: UInt16.random(in: 0...UInt16.max), timeout: timeout)
            } catch let error as ProbeTimeout {
                lastError = error
                _ = attempt
            }
        }
        throw lastError!
    }

    struct ProbeTimeout: Error, CustomStringConvertible {
        let server: SocketAddress
        var description: String { "the DNS listener at \(server) did not answer" }
    }

    private func ask(_ name: DNSName, id: UInt16, timeout: TimeAmount) async throws -> [String] {
        let query = try DNSMessage(
            header: DNSHeader(id: id), questions: [DNSQuestion(name: name, type: .txt)],
            edns: EDNS(udpPayloadSize: 1232)
        ).serialized()
        let bindHost = server.protocol == .inet6 ? "::1" : "127.0.0.1"
        let channel = try await DatagramBootstrap(group: eventLoopGroup).bind(host: bindHost, port: 0) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>(wrappingChannelSynchronously: channel)
            }
        }
        let server = self.server
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(AddressedEnvelope(remoteAddress: server, data: ByteBuffer(bytes: query)))
            return try await withThrowingTaskGroup(of: [String]?.self) { group in
                group.addTask {
                    for try await envelope in inbound where envelope.remoteAddress == server {
                        guard let response = try? DNSMessage(parsing: envelope.data), response.header.id == id, response.header.isResponse else { continue }
                        return response.answers.compactMap {
                            guard case .txt(let record) = $0.data, $0.name == name else { return nil }
                            return record.value
                        }
                    }
                    return nil
                }
                group.addTask {
                    try await Task.sleep(for: .nanoseconds(timeout.nanoseconds))
                    return nil
                }
                defer { group.cancelAll() }
                guard let values = try await group.next()!, !Task.isCancelled else { throw ProbeTimeout(server: server) }
                return values
            }
        }
    }
}
