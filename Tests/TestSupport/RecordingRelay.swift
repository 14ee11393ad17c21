#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A TCP relay on 127.0.0.1 in front of a server the test started: it forwards both ways and
/// records every byte the client sent and every connection it accepted, so a test can prove
/// what left the machine (a CSR, never a key) or that nothing did.
public final class RecordingRelay: @unchecked Sendable {
    public let port: Int
    private let target: Int
    private let listener: Int32
    private let lock = NSLock()
    private var sent: [UInt8] = []
    private var accepted = 0

    public init(forwardingTo targetPort: Int) throws {
        target = targetPort
        (listener, port) = try listeningLoopbackSocket()
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// Everything clients sent so far.
    public var bytesSent: [UInt8] { lock.withLock { sent } }
    /// How many connections were accepted so far.
    public var connections: Int { lock.withLock { accepted } }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            lock.withLock { accepted += 1 }
            guard let upstream = try? connectedLoopbackSocket(SOCK_STREAM, port: target) else { close(client); continue }
            Thread.detachNewThread { [self] in pump(from: client, to: upstream, record: true) }
            Thread.detachNewThread { [self] in pump(from: upstream, to: client, record: false) }
        }
    }

    private func pump(from source: Int32, to destination: Int32, record: Bool) {
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(source, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            if record { lock.withLock { sent += buffer[..<count] } }
            guard sendAll(destination, buffer[..<count]) else { break }
        }
        shutdown(destination, Int32(SHUT_WR))
        shutdown(source, Int32(SHUT_RD))
    }

    deinit {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }
}
