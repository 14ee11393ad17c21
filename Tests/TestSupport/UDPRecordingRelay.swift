#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A UDP relay on 127.0.0.1: each datagram a client sends goes on to the target port and the
/// answer (matched by DNS ID) back to that client; the datagrams clients sent are kept, so a
/// test can replay one exactly as it went over the wire.
public final class UDPRecordingRelay: @unchecked Sendable {
    public let port: Int
    private let front: Int32
    private let upstream: Int32
    private let lock = NSLock()
    private var clients: [UInt16: sockaddr_in] = [:]
    private var sent: [[UInt8]] = []

    public init(forwardingTo target: Int) throws {
        (front, port) = try boundLoopbackUDPSocket()
        upstream = try connectedLoopbackSocket(SOCK_DGRAM, port: target)
        Thread.detachNewThread { [self] in fromClients() }
        Thread.detachNewThread { [self] in fromTarget() }
    }

    /// Every datagram clients sent so far, oldest first.
    public var datagramsSent: [[UInt8]] { lock.withLock { sent } }

    private func fromClients() {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            var client = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let count = buffer.withUnsafeMutableBytes { bytes in
                withUnsafeMutablePointer(to: &client) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(front, bytes.baseAddress, bytes.count, 0, $0, &length) } }
            }
            guard count > 0 else { return }
            guard count >= 12 else { continue }
            let datagram = Array(buffer[..<count])
            lock.withLock {
                clients[UInt16(datagram[0]) << 8 | UInt16(datagram[1])] = client
                sent.append(datagram)
            }
            _ = datagram.withUnsafeBytes { send(upstream, $0.baseAddress, $0.count, 0) }
        }
    }

    private func fromTarget() {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(upstream, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return }
            guard count >= 12, var client = lock.withLock({ clients[UInt16(buffer[0]) << 8 | UInt16(buffer[1])] }) else { continue }
            _ = buffer.withUnsafeBytes { bytes in
                withUnsafePointer(to: &client) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(front, bytes.baseAddress, count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            }
        }
    }

    /// Wakes both threads (their reads return) and closes the sockets.
    public func stop() {
        shutdown(front, Int32(SHUT_RDWR))
        shutdown(upstream, Int32(SHUT_RDWR))
    }
}
