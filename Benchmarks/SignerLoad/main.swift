// Drives a running signer's POST /v1/sign with `count` installs, `concurrency` at a time, each
// with its own P-256 key and CSR (made before the clock starts), over AsyncHTTPClient.
// Usage: SignerLoadBenchmark <sign-url> <name> <count> <concurrency>
// Prints "median_ms p90_ms certificates_per_second failures" on the last line.
import AsyncHTTPClient
import CertificateSupport
import Crypto
import Foundation
import NIOCore
import SwiftASN1
import X509

func csr(for name: String) throws -> [UInt8] {
    try SigningRequest.build(dnsNames: [name], key: .init(P256.Signing.PrivateKey()))
}

func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}

let arguments = CommandLine.arguments
guard arguments.count == 5, let count = Int(arguments[3]), let concurrency = Int(arguments[4]), concurrency > 0 else {
    FileHandle.standardError.write(Data("usage: SignerLoadBenchmark <sign-url> <name> <count> <concurrency>\n".utf8))
    exit(64)
}
let url = arguments[1]
let requests = try (0..<count).map { _ in try csr(for: arguments[2]) }
let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(timeout: .init(connect: .seconds(5), read: .seconds(120))))

actor Work {
    private var next = 0
    private let total: Int
    init(total: Int) { self.total = total }
    func take() -> Int? {
        guard next < total else { return nil }
        defer { next += 1 }
        return next
    }
}

let work = Work(total: count)
let started = ContinuousClock.now
let results: [(Double, Bool)] = try await withThrowingTaskGroup(of: [(Double, Bool)].self) { group in
    for _ in 0..<concurrency {
        group.addTask {
            var mine: [(Double, Bool)] = []
            while let index = await work.take() {
                var request = HTTPClientRequest(url: url)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/pkcs10")
                request.body = .bytes(ByteBuffer(bytes: requests[index]))
                let begin = ContinuousClock.now
                let response = try await client.execute(request, timeout: .seconds(120))
                let body = try await response.body.collect(upTo: 1 << 20)
                let ok = response.status == .ok && body.readableBytesView.starts(with: Array("-----BEGIN CERTIFICATE-----".utf8))
                if !ok { FileHandle.standardError.write(Data("request failed: \(response.status) \(String(buffer: body).prefix(300))\n".utf8)) }
                mine.append((milliseconds(ContinuousClock.now - begin), ok))
            }
            return mine
        }
    }
    var all: [(Double, Bool)] = []
    for try await part in group { all += part }
    return all
}
let elapsed = ContinuousClock.now - started
try await client.shutdown()
let sorted = results.map(\.0).sorted()
let failures = results.filter { !$0.1 }.count
print(String(format: "%.1f %.1f %.1f %d", sorted[sorted.count / 2], sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.9))],
             Double(count) / (milliseconds(elapsed) / 1000), failures))
