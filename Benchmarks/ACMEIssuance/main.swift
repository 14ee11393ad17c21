// Times N sequential certificate issuances through our ACME client against a running pebble
// that validates DNS-01 against the DNS server this program starts on 127.0.0.1:<dns-port>.
// Usage: ACMEIssuanceBenchmark <directory-url> <pebble-tls-root.pem> <dns-port> <count>
// Prints one duration per line in milliseconds, then "median_ms p90_ms".
import ACME
import CertificateSupport
import Crypto
import DNSCodec
import DNSServer
import Foundation
import Logging
import ServiceLifecycle
import SwiftASN1
import X509

struct StoreSolver: DNS01Solver {
    let store: ZoneStore
    func present(name: String, value: String) async throws { try store.addTXT(value, at: try DNSName(name)) }
    func cleanUp(name: String, value: String) async throws { store.removeTXT(value, at: try DNSName(name)) }
}

func csr(for name: String) throws -> [UInt8] {
    try SigningRequest.build(dnsNames: [name], key: .init(P256.Signing.PrivateKey()))
}

let arguments = CommandLine.arguments
guard arguments.count == 5, let directory = URL(string: arguments[1]), let dnsPort = Int(arguments[3]), let count = Int(arguments[4]) else {
    FileHandle.standardError.write(Data("usage: ACMEIssuanceBenchmark <directory-url> <tls-root.pem> <dns-port> <count>\n".utf8))
    exit(64)
}
let rootPEM = try String(contentsOfFile: arguments[2], encoding: .utf8)
let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
let name = "go.eval.example.com"
let store = try ZoneStore(zones: [ZoneConfiguration(
    origin: try DNSName("eval.example.com"),
    nameServers: [.init(name: try DNSName("ns.eval.example.com"), ipv4: [.loopback])],
    hosts: [.init(name: try DNSName(name))])])
let server = DNSServer(
    configuration: .init(listenAddresses: [ListenAddress(host: "127.0.0.1", port: dnsPort)], udpSocketsPerAddress: 1),
    store: store, logger: logger)
let group = ServiceGroup(configuration: .init(services: [server], logger: logger))

try await withThrowingTaskGroup(of: Void.self) { tasks in
    tasks.addTask { try await group.run() }
    try await Task.sleep(for: .milliseconds(200))
    let transport = try AsyncHTTPClientTransport(configuration: .init(additionalTrustRootsPEM: [rootPEM], trustOnlyAdditionalRoots: true))
    let client = ACMEClient(directoryURL: directory, accountKey: .generateP256(), httpClient: transport, logger: logger)
    _ = try await client.registerAccount(agreeToTermsOfService: true)
    var durations: [Double] = []
    for _ in 0..<count {
        let request = IssuanceRequest(dnsNames: [name], csrDER: try csr(for: name))
        let started = ContinuousClock.now
        _ = try await client.issueCertificate(request, solver: StoreSolver(store: store), deadline: .now + .seconds(60))
        let elapsed = ContinuousClock.now - started
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        durations.append(milliseconds)
        print(String(format: "%.1f", milliseconds))
    }
    let sorted = durations.sorted()
    print(String(format: "%.1f %.1f", sorted[sorted.count / 2], sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.9))]))
    try await transport.shutdown()
    await group.triggerGracefulShutdown()
    try await tasks.waitForAll()
}
