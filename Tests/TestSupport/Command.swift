import Foundation
import Glibc

/// What a finished command printed and how it ended.
public struct CommandResult: Sendable {
    /// The exit code, or 128 + the signal that ended it (137 when the timeout killed it).
    public let status: Int32
    public let standardOutput: String
    public let standardError: String
}

/// Runs a program to completion and returns what it printed. Past `timeout` its whole process
/// group is killed; when it exits, anything it left running in its group is killed too. Its
/// output goes to files, so a background grandchild that kept them open cannot hold this up.
/// `environment` replaces the test process's own for the child when given.
public func runCommand(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, timeout: Duration = .seconds(30)) async throws -> CommandResult {
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("command-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: scratch) }
    let outputPath = scratch.appendingPathComponent("stdout").path
    let errorPath = scratch.appendingPathComponent("stderr").path
    let child = try ChildProcess(executable, arguments, environment: environment, outputPath: outputPath, errorPath: errorPath)
    let deadline = ContinuousClock.now + timeout
    var pause = Duration.milliseconds(1)
    while child.isRunning {
        if ContinuousClock.now >= deadline {
            child.signalGroup(SIGKILL)
            if !child.waitForExit(within: .seconds(5)) {
                warnOnStandardError("\(executable) \(child.pid) outlived SIGKILL past its \(timeout) timeout")
            }
            break
        }
        do {
            try await Task.sleep(for: pause)
        } catch {
            child.stop(grace: .seconds(2))
            throw error
        }
        pause = min(pause * 2, .milliseconds(50))
    }
    return CommandResult(
        status: child.exitStatus ?? -1,
        standardOutput: readBounded(outputPath),
        standardError: readBounded(errorPath))
}

/// A file's first `limit` bytes as text (an empty string when it cannot be read).
func readBounded(_ path: String, limit: Int = 32 << 20) -> String {
    guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
    defer { try? handle.close() }
    let data = (try? handle.read(upToCount: limit)) ?? Data()
    return String(decoding: data ?? Data(), as: UTF8.self)
}
