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

/// A long-running child process (a server under test): in its own process group, its output
/// in log files that are read as they grow. Stopping it, or dropping it, stops its whole group.
/// The logs stay in the run's scratch directory under `scripts/test` (kept when the run fails),
/// and are removed with the process otherwise.
public final class ServerProcess: @unchecked Sendable {
    public let child: ChildProcess
    private let logDirectory: URL
    private let lock = NSLock()
    private var output = Log()
    private var errors = Log()

    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        let name = (executable as NSString).lastPathComponent
        logDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("logs/\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: logDirectory, withIntermediateDirectories: true)
        let outputPath = logDirectory.appendingPathComponent("stdout").path
        let errorPath = logDirectory.appendingPathComponent("stderr").path
        child = try ChildProcess(executable, arguments, environment: environment, outputPath: outputPath, errorPath: errorPath)
        output.handle = FileHandle(forReadingAtPath: outputPath)
        errors.handle = FileHandle(forReadingAtPath: errorPath)
    }

    public var pid: Int32 { child.pid }
    public var isRunning: Bool { child.isRunning }
    /// The exit code, or 128 + the signal that ended it; nil while it runs.
    public var exitStatus: Int32? { child.exitStatus }
    public var standardOutput: String { lock.withLock { output.text() } }
    public var standardError: String { lock.withLock { errors.text() } }

    public enum Stream: Sendable { case standardOutput, standardError }

    /// Waits until standard output (or `stream`) has a line matching `pattern` and returns its
    /// first capture group.
    public func waitForOutput(matching pattern: String, in stream: Stream = .standardOutput, timeout: Duration = .seconds(30)) async throws -> String {
        let regex = try NSRegularExpression(pattern: pattern)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            // Whether it was running is read before the text, so the last lines it wrote count.
            let running = isRunning
            let text = stream == .standardOutput ? standardOutput : standardError
            if let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
               let range = Range(match.range(at: match.numberOfRanges > 1 ? 1 : 0), in: text) {
                return String(text[range])
            }
            guard running else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("no line matching \(pattern) (running: \(isRunning)); stdout: \(standardOutput) stderr: \(standardError)")
    }

    /// Resident memory in KiB, from /proc.
    public func residentKilobytes() throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let value = Int(line.split(whereSeparator: \.isWhitespace)[1])
        else { throw TestFailure("no VmRSS for \(pid)") }
        return value
    }

    /// SIGTERM (or `signal`), then up to `grace` before SIGKILL to its whole group; returns the
    /// exit status, or -1 when the process never reported its exit. Bounded on purpose: tests
    /// call this from the cooperative pool (two threads on a 2-core CI box).
    @discardableResult
    public func stop(signal: Int32 = SIGTERM, grace: Duration = .seconds(10)) -> Int32 {
        child.stop(signal: signal, grace: grace) ?? -1
    }

    /// Sends `signal` to the server alone, and only while it has not been reaped: a pid that
    /// was reaped may be someone else's by now (pids wrap at 32768 here). Use this, never
    /// `kill(server.pid, ...)`.
    public func send(_ signal: Int32) {
        child.signal(signal)
    }

    /// Polls for the child's exit until `limit`; true once it has exited.
    public func waitForExit(within limit: Duration) -> Bool {
        child.waitForExit(within: limit)
    }

    deinit {
        stop(grace: .seconds(5))
        try? output.handle?.close()
        try? errors.handle?.close()
        if ProcessInfo.processInfo.environment["CSRPROXY_TEST_RUN"] == nil {
            try? FileManager.default.removeItem(at: logDirectory)
        }
    }

    /// One log file, read from where the last read stopped (at most 64 MiB kept).
    private struct Log {
        var handle: FileHandle?
        var data = Data()

        mutating func text() -> String {
            if let handle, data.count < 64 << 20, let more = try? handle.readToEnd() { data += more }
            return String(decoding: data, as: UTF8.self)
        }
    }
}

/// A line on the test run's stderr, for events a person reading a stuck CI log needs to see.
func warnOnStandardError(_ line: String) {
    FileHandle.standardError.write(Data("warning: \(line)\n".utf8))
}
