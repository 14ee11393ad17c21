import DNSCodec
import NIOCore
import NIOPosix

/// One question, one answer, to another DNS server: the client side of the NOTIFYs, the
/// probes of our own and our secondaries' answers, and RFC 2136 updates. Bounded in time and
/// in size; an answer is only taken from the server asked, with the query's ID.
package struct DNSExchange: Sendable {
    package let eventLoopGroup: any EventLoopGroup

    package init(eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.eventLoopGroup = eventLoopGroup
    }

    package struct Timeout: Error, CustomStringConvertible {
        package let server: SocketAddress
        package init(server: SocketAddress) { self.server = server }
        package var description: String { "the DNS server at \(server.hostAndPort) did not answer in time" }
    }

    /// Sends `query` (wire form) over UDP and returns the first datagram from `server` whose ID
    /// matches and which is a response.
    package func udp(_ query: [UInt8], to server: SocketAddress, timeout: TimeAmount) async throws -> [UInt8] {
        let id = Self.id(of: query)
        let bindHost = server.protocol == .inet6 ? "::" : "0.0.0.0"
        let channel = try await DatagramBootstrap(group: eventLoopGroup).bind(host: bindHost, port: 0) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>(wrappingChannelSynchronously: channel)
            }
        }
        let closer = channel.channel.eventLoop.scheduleTask(in: timeout) { channel.channel.close(promise: nil) }
        defer { closer.cancel() }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(AddressedEnvelope(remoteAddress: server, data: ByteBuffer(bytes: query)))
            for try await envelope in inbound where envelope.remoteAddress == server {
                let bytes = Array(envelope.data.readableBytesView)
                if Self.isResponse(bytes, to: id) { return bytes }
            }
            throw Timeout(server: server)
        }
    }

    /// Sends `query` over TCP (RFC 7766 framing) and returns the answer with its ID.
    package func tcp(_ query: [UInt8], to server: SocketAddress, timeout: TimeAmount) async throws -> [UInt8] {
        try await tcpMessages(query, to: server, timeout: timeout) { _ in true }.first ?? []
    }

    /// Sends `query` over TCP and collects the answers with its ID until `isLast` says the
    /// stream is complete (a zone transfer spans several messages).
    package func tcpMessages(
        _ query: [UInt8], to server: SocketAddress, timeout: TimeAmount, isLast: @escaping @Sendable ([UInt8]) -> Bool
    ) async throws -> [[UInt8]] {
        let id = Self.id(of: query)
        var framed = ByteBuffer()
        framed.writeInteger(UInt16(query.count))
        framed.writeBytes(query)
        let channel = try await ClientBootstrap(group: eventLoopGroup).connectTimeout(timeout).connect(to: server) { channel in
            channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
        }
        let closer = channel.channel.eventLoop.scheduleTask(in: timeout) { channel.channel.close(promise: nil) }
        defer { closer.cancel() }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(framed)
            var received = ByteBuffer()
            var messages: [[UInt8]] = []
            for try await chunk in inbound {
                received.writeImmutableBuffer(chunk)
                // A transfer of our own zones is small; a peer sending more is not one we want.
                guard received.readableBytes <= 16 << 20 else { break }
                while let length = received.getInteger(at: received.readerIndex, as: UInt16.self),
                      received.readableBytes >= 2 + Int(length) {
                    received.moveReaderIndex(forwardBy: 2)
                    let message = received.readBytes(length: Int(length)) ?? []
                    guard Self.isResponse(message, to: id) else { continue }
                    messages.append(message)
                    if isLast(message) { return messages }
                }
            }
            throw Timeout(server: server)
        }
    }

    private static func id(of message: [UInt8]) -> UInt16 {
        message.count >= 2 ? UInt16(message[0]) << 8 | UInt16(message[1]) : 0
    }

    private static func isResponse(_ message: [UInt8], to id: UInt16) -> Bool {
        message.count >= DNSHeader.byteCount && self.id(of: message) == id && message[2] & 0x80 != 0
    }
}

extension SocketAddress {
    /// `192.0.2.1:53` or `[2001:db8::1]:53`, as people write it in configuration files.
    package var hostAndPort: String {
        let host = ipAddress ?? "?"
        let port = self.port ?? 0
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
