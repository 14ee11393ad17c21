import DNSCodec
import DNSServer
import FuzzSupport
import NIOCore

/// One store for every input: the zone the signer serves, with a challenge value.
let store: ZoneStore = {
    do {
        let store = try ZoneStore(zones: [ZoneConfiguration(
            origin: try DNSName("eval.example.com"),
            nameServers: [.init(name: try DNSName("ns1.eval.example.com"), ipv4: [IPv4Address("127.0.0.1")!], ipv6: [])],
            hostmaster: nil, negativeTTL: 60, recordTTL: 300, challengeTTL: 10,
            hosts: [.init(name: try DNSName("go.eval.example.com"), ipv4: [IPv4Address("127.0.0.1")!], ipv6: [], includesSubdomains: true)],
            caa: [])])
        try store.addTXT(String(repeating: "v", count: 43), at: try DNSName("_acme-challenge.go.eval.example.com"))
        return store
    } catch {
        fatalError("the fuzz zone does not build: \(error)")
    }
}()

let responder = QueryResponder(store: store, observer: { _ in })

/// Parses the bytes as a DNS message, serializes what parsed, and answers it over UDP and TCP:
/// no input may crash, hang or trap any of it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let message = try? DNSMessage(parsing: bytes) {
        _ = try? message.serialized()
    }
    let buffer = ByteBuffer(bytes: bytes)
    _ = responder.respond(to: buffer, transport: .udp, allocator: ByteBufferAllocator())
    _ = responder.respond(to: buffer, transport: .tcp, allocator: ByteBufferAllocator())
    return 0
}

/// The entry point SwiftPM links as `main`.
@_cdecl("FuzzDNSMessage_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runLibFuzzer(argc, argv) { data, size in data.map { fuzz($0, size) } ?? 0 }
}
