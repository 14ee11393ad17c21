import Foundation

/// A constant HTTPS load on a product, the way browsers make it: `clients` loops of curl,
/// each run asking `requestsPerConnection` times over one kept-alive connection and then
/// opening a new one; the name resolves to 127.0.0.1 and only `caFile` is trusted, so a
/// certificate the product should not serve fails the request. Every request is counted,
/// with its HTTP status and time; a run that ends early counts the requests it never made as
/// failures.
public final class HTTPSLoad: @unchecked Sendable {
    public struct Sample: Sendable {
        public let ok: Bool
        public let seconds: Double
        /// Which phase it was made in (`mark(_:)`).
        public let phase: String
    }

    private let lock = NSLock()
    private var samples: [Sample] = []
    private var phase = "baseline"
    private var stopped = false
    private var loops: [Task<Void, Never>] = []
    /// What the first few runs with a failed request printed, for the test's message.
    public private(set) var failures: [String] = []

    public init(name: String, port: Int, caFile: String, clients: Int = 4, requestsPerConnection: Int = 20) {
        let url = "https://\(name):\(port)/"
        for _ in 0..<clients {
            loops.append(Task { [self] in
                while !isStopped {
                    let currentPhase = lock.withLock { phase }
                    let result = try? await runCommand("/usr/bin/curl", [
                        "-s", "--resolve", "\(name):\(port):127.0.0.1", "--cacert", caFile,
                        "--max-time", "10", "-w", "%{http_code} %{time_total}\\n",
                    ] + Array(repeating: ["-o", "/dev/null", url], count: requestsPerConnection).flatMap { $0 }, timeout: .seconds(120))
                    let lines = (result?.standardOutput ?? "").split(separator: "\n")
                    if lines.count != requestsPerConnection || lines.contains(where: { !$0.hasPrefix("200 ") }) {
                        let said = "exit \(result?.status ?? -1): \(lines.prefix(3).joined(separator: " | ")) \(result?.standardError.prefix(300) ?? "")"
                        lock.withLock { if failures.count < 5 { failures.append(said) } }
                    }
                    var batch = lines.prefix(requestsPerConnection).map { line -> Sample in
                        let fields = line.split(separator: " ")
                        return Sample(ok: fields.first == "200", seconds: fields.count > 1 ? Double(fields[1]) ?? 0 : 0, phase: currentPhase)
                    }
                    batch += Array(repeating: Sample(ok: false, seconds: 0, phase: currentPhase), count: max(0, requestsPerConnection - lines.count))
                    lock.withLock { samples += batch }
                }
            })
        }
    }

    private var isStopped: Bool { lock.withLock { stopped } }

    /// Requests from now on are counted under `name`.
    public func mark(_ name: String) {
        lock.withLock { phase = name }
    }

    /// How many requests have been answered so far.
    public var count: Int { lock.withLock { samples.count } }

    /// Stops the loops (each finishes the run it is in) and returns every sample.
    public func stop() async -> [Sample] {
        lock.withLock { stopped = true }
        for loop in loops { await loop.value }
        return lock.withLock { samples }
    }

    /// The `p`-th percentile (0...1) of `samples`' times, in milliseconds.
    public static func percentile(_ p: Double, of samples: [Sample]) -> Double {
        let times = samples.filter(\.ok).map(\.seconds).sorted()
        guard !times.isEmpty else { return 0 }
        let index = max(0, min(times.count - 1, Int((Double(times.count) * p).rounded(.up)) - 1))
        return times[index] * 1000
    }
}
