#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A plain UDP socket connected to 127.0.0.1:port, for sending packets no library would build.
public final class LoopbackUDPSocket {
    private let descriptor: Int32

    public init(port: Int) throws {
        descriptor = try connectedLoopbackSocket(SOCK_DGRAM, port: port)
        var size: Int32 = 8 << 20
        setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }

    public func send(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, 0) }
    }

    /// Sends `bytes` and waits up to `timeout` for one datagram back.
    public func exchange(_ bytes: [UInt8], timeout: Duration = .seconds(5)) -> [UInt8]? {
        send(bytes)
        var waiting = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&waiting, 1, Int32(timeout / .milliseconds(1))) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        return count > 0 ? Array(buffer[..<count]) : nil
    }

    /// Reads every datagram already waiting; returns how many there were.
    public func drain() -> Int {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var count = 0
        while buffer.withUnsafeMutableBytes({ recv(descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }) >= 0 {
            count += 1
        }
        return count
    }

    deinit { close(descriptor) }
}

/// Opens a TCP connection to 127.0.0.1:port, writes `bytes`, and closes it (abruptly with `reset`).
public func sendTCPStream(port: Int, _ bytes: [UInt8], reset: Bool = false) throws {
    let descriptor = try connectedLoopbackSocket(SOCK_STREAM, port: port)
    defer { close(descriptor) }
    _ = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    if reset {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
    }
}

/// A TCP socket listening on 127.0.0.1 at a port the kernel chose, and that port (a relay's
/// front); the caller closes it.
func listeningLoopbackSocket() throws -> (descriptor: Int32, port: Int) {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in.loopback(port: 0)
    let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard bound == 0, listen(descriptor, 64) == 0 else {
        close(descriptor)
        throw TestFailure("relay cannot listen: \(errno)")
    }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) } }
    return (descriptor, Int(UInt16(bigEndian: address.sin_port)))
}

/// A UDP socket bound to 127.0.0.1 at a port the kernel chose, and that port (a relay's front,
/// a responder a test answers from by hand); the caller closes it.
public func boundLoopbackUDPSocket() throws -> (descriptor: Int32, port: Int) {
    let descriptor = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    var address = sockaddr_in.loopback(port: 0)
    let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard descriptor >= 0, bound == 0 else {
        if descriptor >= 0 { close(descriptor) }
        throw TestFailure("cannot bind a UDP socket on 127.0.0.1: \(errno)")
    }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) } }
    return (descriptor, Int(UInt16(bigEndian: address.sin_port)))
}

/// Writes all of `bytes` to a stream socket; false if the peer is gone.
func sendAll(_ descriptor: Int32, _ bytes: ArraySlice<UInt8>) -> Bool {
    var offset = bytes.startIndex
    while offset < bytes.endIndex {
        let written = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard written > 0 else { return false }
        offset += written
    }
    return true
}

/// A socket of `kind` connected to 127.0.0.1:port; the caller closes it.
func connectedLoopbackSocket(_ kind: __socket_type, port: Int) throws -> Int32 {
    let descriptor = socket(AF_INET, Int32(kind.rawValue), 0)
    guard descriptor >= 0 else { throw TestFailure("socket() failed: \(errno)") }
    var address = sockaddr_in.loopback(port: port)
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard result == 0 else {
        close(descriptor)
        throw TestFailure("connect() to 127.0.0.1:\(port) failed: \(errno)")
    }
    return descriptor
}

extension sockaddr_in {
    public static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }
}

/// A TCP connection that sends nothing, to occupy a server's connection slot.
public final class IdleTCPConnection {
    private let descriptor: Int32

    public init(port: Int) throws {
        descriptor = try connectedLoopbackSocket(SOCK_STREAM, port: port)
    }

    /// True once the server has closed its side (a read returns end of file or an error).
    public func isClosedByPeer() -> Bool {
        var byte: UInt8 = 0
        let count = recv(descriptor, &byte, 1, Int32(MSG_DONTWAIT))
        return count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    }

    deinit { close(descriptor) }
}

/// A blocking TCP connection for speaking framed DNS by hand (pipelining, odd splits).
public final class LoopbackTCPConnection {
    private let descriptor: Int32

    public init(port: Int, receiveTimeoutSeconds: Int = 5) throws {
        descriptor = try connectedLoopbackSocket(SOCK_STREAM, port: port)
        var timeout = timeval(tv_sec: receiveTimeoutSeconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    public func write(_ bytes: [UInt8]) throws {
        let sent = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == bytes.count else { throw TestFailure("send() wrote \(sent) of \(bytes.count) bytes") }
    }

    /// Reads one length-prefixed message.
    public func readFrame() throws -> [UInt8] {
        let header = try read(count: 2)
        return try read(count: Int(header[0]) << 8 | Int(header[1]))
    }

    private func read(count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let got = bytes.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress! + filled, count - filled, 0) }
            if got == 0 { throw TestFailure("connection closed by the server after \(filled) of \(count) bytes") }
            if got < 0 { throw TestFailure("recv failed or timed out (errno \(errno)) after \(filled) of \(count) bytes") }
            filled += got
        }
        return bytes
    }

    deinit { close(descriptor) }
}

/// A TCP port on 127.0.0.1 that was free a moment ago, for a server another process binds
/// later. Drawn from below the kernel's ephemeral range (32768 and up here), so no outgoing
/// connection takes it as its source port in the meantime, and never handed out twice in one
/// test process: a port the kernel picked with bind(0) could be both.
public func freeTCPPort() throws -> Int {
    for _ in 0..<200 {
        let port = Int.random(in: 20_000..<32_000)
        guard handedOutPorts.withLock({ $0.insert(port).inserted }) else { continue }
        if try canBind(SOCK_STREAM, port: port) { return port }
    }
    throw TestFailure("found no free TCP port in 20000-31999")
}

private let handedOutPorts = Mutex<Set<Int>>([])

/// A port on 127.0.0.1 free for both UDP and TCP a moment ago, for a DNS server that another
/// process (pebble) must be told about before it starts.
public func freeDNSPort() throws -> Int {
    for _ in 0..<20 {
        let port = try freeTCPPort()
        if try canBind(SOCK_DGRAM, port: port) { return port }
    }
    throw TestFailure("found no port free for both UDP and TCP")
}

/// Whether a socket of `type` can bind 127.0.0.1:`port` now (it is closed again at once).
private func canBind(_ type: __socket_type, port: Int) throws -> Bool {
    let descriptor = socket(AF_INET, Int32(type.rawValue), 0)
    guard descriptor >= 0 else { throw TestFailure("socket() failed: \(errno)") }
    defer { close(descriptor) }
    var address = sockaddr_in.loopback(port: port)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    return bound == 0
}
