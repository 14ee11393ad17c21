#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A unix datagram socket owned by the test, passed to a service as NOTIFY_SOCKET: collects
/// what the service tells "systemd", in order.
public final class NotifySocket: @unchecked Sendable {
    public let path: String
    private let descriptor: Int32

    public init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString.prefix(8)).sock").path
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.enumerated() where index < buffer.count - 1 { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard bound == 0 else { throw TestFailure("cannot bind \(path): \(errno)") }
    }

    /// Every message waiting now, each as its lines (`READY=1`, `STATUS=...`).
    public func receive() -> [[String]] {
        var messages: [[String]] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            guard count > 0 else { return messages }
            messages.append(String(decoding: buffer[..<count], as: UTF8.self).split(separator: "\n").map(String.init))
        }
    }

    deinit {
        close(descriptor)
        unlink(path)
    }
}
