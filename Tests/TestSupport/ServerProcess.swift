import Foundation

/// The directory SwiftPM built this test bundle and the package's executables into.
public func buildProductsDirectory() throws -> URL {
    let testBinary = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
    return testBinary.deletingLastPathComponent()
}

/// One of this package's executables, from the same build as the tests.
public func builtExecutable(_ name: String) throws -> String {
    let path = try buildProductsDirectory().appendingPathComponent(name).path
    guard FileManager.default.isExecutableFile(atPath: path) else {
        throw TestFailure("\(path) is missing: build it first (scripts/test runs `swift build --build-tests`)")
    }
    return path
}

/// A long-running child process (a server under test) whose output is watched line by line.
public final class ServerProcess: @unchecked Sendable {
    public let process = Process()
    private let lock = NSLock()
    private var output = ""
    private var errors = ""

    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let outputPipe = Pipe()
        let errorPipe = Pipe()
        process.standardOutput = outputPipe
        process.standardError = errorPipe
        process.standardInput = FileHandle.nullDevice
        outputPipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let text = String(decoding: handle.availableData, as: UTF8.self)
            self?.lock.withLock { self?.output += text }
        }
        errorPipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let text = String(decoding: handle.availableData, as: UTF8.self)
            self?.lock.withLock { self?.errors += text }
        }
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }
    public var standardOutput: String { lock.withLock { output } }
    public var standardError: String { lock.withLock { errors } }

    public enum Stream: Sendable { case standardOutput, standardError }

    /// Waits until standard output (or `stream`) has a line matching `pattern` and returns its
    /// first capture group.
    public func waitForOutput(matching pattern: String, in stream: Stream = .standardOutput, timeout: Duration = .seconds(30)) async throws -> String {
        let regex = try NSRegularExpression(pattern: pattern)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let text = stream == .standardOutput ? standardOutput : standardError
            if let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
               let range = Range(match.range(at: match.numberOfRanges > 1 ? 1 : 0), in: text) {
                return String(text[range])
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("no line matching \(pattern) (running: \(process.isRunning)); stdout: \(standardOutput) stderr: \(standardError)")
    }

    /// Resident memory in KiB, from /proc.
    public func residentKilobytes() throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let value = Int(line.split(whereSeparator: \.isWhitespace)[1])
        else { throw TestFailure("no VmRSS for \(pid)") }
        return value
    }

    /// SIGTERM, then waits up to `grace` before SIGKILL; returns the exit status, or -1 when the
    /// process never reported its exit. The wait is bounded on purpose: tests call this from the
    /// cooperative pool (two threads on a 2-core CI box), where an unbounded `waitUntilExit` that
    /// misses a child's exit would stall every other test with it.
    @discardableResult
    public func stop(grace: Duration = .seconds(10)) -> Int32 {
        if process.isRunning { process.terminate() }
        if !waitForExit(within: grace) {
            warnOnStandardError("\(process.executableURL?.lastPathComponent ?? "child") \(pid) ignored SIGTERM for \(grace): sending SIGKILL")
            kill(pid, SIGKILL)
            guard waitForExit(within: .seconds(5)) else {
                warnOnStandardError("child \(pid) never reported its exit after SIGKILL; giving up on it")
                return -1
            }
        }
        return process.terminationStatus
    }

    /// Polls for the child's exit until `limit`; true once it has exited.
    public func waitForExit(within limit: Duration) -> Bool {
        let deadline = ContinuousClock.now + limit
        while process.isRunning {
            guard ContinuousClock.now < deadline else { return false }
            usleep(10_000)
        }
        return true
    }

    deinit {
        if process.isRunning { process.terminate() }
    }
}

/// A line on the test run's stderr, for events a person reading a stuck CI log needs to see.
func warnOnStandardError(_ line: String) {
    FileHandle.standardError.write(Data("warning: \(line)\n".utf8))
}
