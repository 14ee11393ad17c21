#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A unix datagram socket owned by the test, passed to a service as NOTIFY_SOCKET: collects
/// what the service tells "systemd", in order. It reads as the messages come, as systemd does:
/// a unix datagram socket queues only `net.unix.max_dgram_qlen` (10 here) messages, and a
/// sender finding the queue full blocks in `sendmsg`. A reader that waited until the end made a
/// signer under load (more than ten watchdog pings before its SIGTERM) hang in its STOPPING=1.
public final class NotifySocket: @unchecked Sendable {
    public let path: String
    private let reader: Reader

    public init() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString.prefix(8)).sock").path
        self.path = path
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.enumerated() where index < buffer.count - 1 { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard bound == 0 else {
            close(descriptor)
            throw TestFailure("cannot bind \(path): \(errno)")
        }
        let reader = Reader(descriptor: descriptor, path: path)
        self.reader = reader
        Thread.detachNewThread { reader.run() }
    }

    /// Every message so far, each as its lines (`READY=1`, `STATUS=...`).
    public func receive() -> [[String]] {
        reader.drain()
        return reader.lock.withLock { reader.messages }
    }

    deinit {
        reader.lock.withLock { reader.stopped = true }
    }

    /// Reads on its own thread until the socket's owner is gone, then closes and unlinks it.
    private final class Reader: @unchecked Sendable {
        let descriptor: Int32
        let path: String
        let lock = NSLock()
        var messages: [[String]] = []
        var stopped = false

        init(descriptor: Int32, path: String) {
            self.descriptor = descriptor
            self.path = path
        }

        func run() {
            while !lock.withLock({ stopped }) {
                var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                if poll(&poller, 1, 100) > 0 { drain() }
            }
            close(descriptor)
            unlink(path)
        }

        /// Takes every message waiting now.
        func drain() {
            var buffer = [UInt8](repeating: 0, count: 4096)
            lock.withLock {
                guard !stopped else { return }
                while true {
                    let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                    guard count > 0 else { return }
                    messages.append(String(decoding: buffer[..<count], as: UTF8.self).split(separator: "\n").map(String.init))
                }
            }
        }
    }
}
