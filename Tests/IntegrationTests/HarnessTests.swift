import Foundation
import Glibc
import Testing
import TestSupport

/// The test harness itself: what a test starts is stopped with everything it started, however
/// the test ends, and nothing it starts can make the harness wait past its bounds.
struct HarnessTests {
    /// Whether `pid` still names the process that started at `start` (not reaped, not reused).
    static func alive(_ pid: pid_t, startedAt start: UInt64?) -> Bool {
        guard let start else { return false }
        guard let now = processStartTime(pid), now == start,
              let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        // A zombie has exited: only its parent's bookkeeping is left.
        return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
    }

    /// Waits up to `limit` for every one of `processes` to be gone.
    static func allGone(_ processes: [(pid_t, UInt64?)], within limit: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + limit
        while processes.contains(where: { alive($0.0, startedAt: $0.1) }) {
            guard ContinuousClock.now < deadline else { return false }
            try await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    /// A command whose background grandchild keeps its standard output open forever: the
    /// command returns at its timeout, and the grandchild is gone with it.
    @Test func aGrandchildHoldingStandardOutputDoesNotHoldTheCommand() async throws {
        let marker = "harness-\(UUID().uuidString)"
        let started = ContinuousClock.now
        let result = try await runCommand("/bin/sh", ["-c", "sleep 300 & echo \(marker) $!; wait"], timeout: .seconds(2))
        let elapsed = ContinuousClock.now - started
        #expect(elapsed < .seconds(10), "runCommand took \(elapsed)")
        #expect(result.status == 128 + SIGKILL, "\(result)")
        let grandchild = try #require(result.standardOutput.split(separator: " ").last.flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }, "\(result.standardOutput)")
        #expect(result.standardOutput.hasPrefix(marker))
        let start = processStartTime(grandchild)
        #expect(try await Self.allGone([(grandchild, start)], within: .seconds(5)), "sleep \(grandchild) outlived the command")
    }

    /// A command that exits at once, leaving a background child with its output open: it
    /// returns at once and takes the child with it.
    @Test func aCommandThatExitsTakesWhatItLeftRunning() async throws {
        let started = ContinuousClock.now
        let result = try await runCommand("/bin/sh", ["-c", "sleep 300 & echo $!"], timeout: .seconds(20))
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(result.status == 0)
        let grandchild = try #require(pid_t(result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(try await Self.allGone([(grandchild, processStartTime(grandchild))], within: .seconds(5)))
    }

    /// A test that throws after starting a server leaves no process behind: dropping the
    /// server stops it and what it started.
    @Test func aTestThatThrowsAfterStartingAServerLeavesNoProcess() async throws {
        var tree: [(pid_t, UInt64?)] = []
        func failingTest() async throws {
            let server = try ServerProcess("/bin/sh", ["-c", "sleep 300 & sleep 300 & echo started; wait"])
            _ = try await server.waitForOutput(matching: "started")
            tree = ([server.pid] + descendants(of: server.pid)).map { ($0, processStartTime($0)) }
            throw TestFailure("the test failed here")
        }
        await #expect(throws: TestFailure.self) { try await failingTest() }
        #expect(tree.count == 3, "\(tree)")
        #expect(try await Self.allGone(tree, within: .seconds(10)), "left running: \(tree.filter { Self.alive($0.0, startedAt: $0.1) })")
    }

    /// A server that ignores SIGTERM is stopped, with its children, within the grace it was given.
    @Test func aServerIgnoringSIGTERMIsStoppedWithItsGroup() async throws {
        let server = try ServerProcess("/bin/sh", ["-c", "trap '' TERM; sleep 300 & echo started; while :; do sleep 1; done"])
        _ = try await server.waitForOutput(matching: "started")
        let tree = ([server.pid] + descendants(of: server.pid)).map { ($0, processStartTime($0)) }
        let started = ContinuousClock.now
        #expect(server.stop(grace: .seconds(1)) == 128 + SIGKILL)
        #expect(ContinuousClock.now - started < .seconds(8))
        #expect(try await Self.allGone(tree, within: .seconds(5)))
    }

    /// A tree started under the container helper (a PID namespace) dies whole when its parent
    /// is killed with SIGKILL, even a process that put itself in a session of its own.
    @Test(.enabled(if: geteuid() == 0, "a PID namespace needs root"))
    func aTreeInAPIDNamespaceDiesWithItsParent() async throws {
        let holder = try startInPIDNamespace("/bin/sh", ["-c", "setsid sleep 300 & sleep 300 & echo started; wait"])
        _ = try await holder.waitForOutput(matching: "started")
        var tree: [pid_t] = []
        let deadline = ContinuousClock.now + .seconds(10)
        while tree.filter({ (try? String(contentsOfFile: "/proc/\($0)/comm", encoding: .utf8)) == "sleep\n" }).count < 2 {
            guard ContinuousClock.now < deadline else { break }
            tree = descendants(of: holder.pid)
            try await Task.sleep(for: .milliseconds(20))
        }
        let sleepers = tree.filter { (try? String(contentsOfFile: "/proc/\($0)/comm", encoding: .utf8)) == "sleep\n" }
        #expect(sleepers.count == 2, "\(tree)")
        let watched = tree.map { ($0, processStartTime($0)) }
        // SIGKILL to unshare alone, not its group: the namespace must take the rest down.
        holder.send(SIGKILL)
        #expect(try await Self.allGone(watched, within: .seconds(10)), "left running: \(watched.filter { Self.alive($0.0, startedAt: $0.1) })")
    }
}
