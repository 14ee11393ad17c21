// Times the agent's in-process key generation plus CSR, per key type.
// Usage: KeyGenerationBenchmark <p256-count> <rsa4096-count>
// Prints "type median_ms p90_ms" per type.
import CertificateSupport
import Foundation

func measure(_ type: KeyType, count: Int) throws -> (Double, Double) {
    var durations: [Double] = []
    for _ in 0..<count {
        let started = ContinuousClock.now
        let key = try type.generate()
        _ = try SigningRequest.build(dnsNames: ["go.eval.example.com"], key: key)
        let elapsed = ContinuousClock.now - started
        durations.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
    }
    let sorted = durations.sorted()
    return (sorted[sorted.count / 2], sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.9))])
}

let arguments = CommandLine.arguments
guard arguments.count == 3, let p256Count = Int(arguments[1]), let rsaCount = Int(arguments[2]) else {
    FileHandle.standardError.write(Data("usage: KeyGenerationBenchmark <p256-count> <rsa4096-count>\n".utf8))
    exit(64)
}
for (type, count) in [(KeyType.p256, p256Count), (.rsa4096, rsaCount)] where count > 0 {
    let (median, p90) = try measure(type, count: count)
    print(String(format: "%@ %.2f %.2f", type.rawValue, median, p90))
}
