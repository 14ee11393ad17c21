#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A TCP relay on 127.0.0.1 in front of a Unix socket (a scratch PostgreSQL's), which the
/// test can cut as a network partition does: while cut, not a byte passes either way and no
/// connection is closed, so both ends see a silent peer, not an error; restored, what was
/// held goes through in order, as TCP's retransmissions would deliver it.
public final class PartitionRelay: @unchecked Sendable {
    public let port: Int
    private let target: String
    private let listener: Int32
    private let lock = NSLock()
    private var isCut = false
    private var descriptors: [Int32] = []
    private var stopped = false

    public init(forwardingTo unixSocketPath: String) throws {
        target = unixSocketPath
        (listener, port) = try listeningLoopbackSocket()
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// From now on nothing passes, until `restore()`.
    public func cut() { lock.withLock { isCut = true } }
    public func restore() { lock.withLock { isCut = false } }

    /// Closes the listener and ends every connection (each pair is closed by the last of its
    /// two pumps, so no descriptor number is closed twice or shut after reuse).
    public func stop() {
        // Under the lock: a pair's descriptors are closed under it too.
        let wasStopped = lock.withLock { () -> Bool in
            defer { stopped = true; isCut = false }
            if !stopped { for descriptor in descriptors { shutdown(descriptor, Int32(SHUT_RDWR)) } }
            return stopped
        }
        guard !wasStopped else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            guard let upstream = try? connectedUnixSocket(target) else { close(client); continue }
            let keep = lock.withLock { () -> Bool in
                guard !stopped else { return false }
                descriptors += [client, upstream]
                return true
            }
            guard keep else { close(client); close(upstream); return }
            let pair = Pair()
            Thread.detachNewThread { [self] in pump(from: client, to: upstream); pair.ended(client, upstream, relay: self) }
            Thread.detachNewThread { [self] in pump(from: upstream, to: client); pair.ended(client, upstream, relay: self) }
        }
    }

    /// Waits while the relay is cut; false once it is stopped.
    private func waitWhileCut() -> Bool {
        while true {
            let (cut, stopped) = lock.withLock { (isCut, self.stopped) }
            if stopped { return false }
            if !cut { return true }
            usleep(10_000)
        }
    }

    private func pump(from source: Int32, to destination: Int32) {
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while waitWhileCut() {
            let count = buffer.withUnsafeMutableBytes { recv(source, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            // What was read as the cut began is held with the rest.
            guard waitWhileCut() else { break }
            guard sendAll(destination, buffer[..<count]) else { break }
        }
        shutdown(destination, Int32(SHUT_WR))
        shutdown(source, Int32(SHUT_RD))
    }

    fileprivate func closePair(_ pair: [Int32]) {
        lock.withLock {
            descriptors.removeAll { pair.contains($0) }
            for descriptor in pair { Glibc.close(descriptor) }
        }
    }

    deinit { stop() }
}

/// One relayed connection's two descriptors, closed when both directions have ended.
private final class Pair: @unchecked Sendable {
    private let lock = NSLock()
    private var running = 2

    func ended(_ first: Int32, _ second: Int32, relay: PartitionRelay) {
        let last = lock.withLock { () -> Bool in
            running -= 1
            return running == 0
        }
        guard last else { return }
        relay.closePair([first, second])
    }
}

func connectedUnixSocket(_ path: String) throws -> Int32 {
    let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw TestFailure("socket() failed: \(errno)") }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { close(descriptor); throw TestFailure("socket path too long: \(path)") }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard result == 0 else {
        close(descriptor)
        throw TestFailure("connect() to \(path) failed: \(errno)")
    }
    return descriptor
}
