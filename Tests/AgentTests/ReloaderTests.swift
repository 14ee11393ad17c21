@testable import Agent
import CertificateSupport
import CommandLineSupport
import Crypto
import Foundation
import Logging
import SignerProtocol
import Testing
import X509

/// A product that is not running has nothing to reload: that is not a failure (a first install
/// runs `issue` before the product starts). A pidfile that says nothing useful is one.
struct ReloaderTests {
    let files = CertificateFiles(directory: "/nonexistent")

    func failures(_ method: AgentConfiguration.ReloadMethod) throws -> [String] {
        Reloader(methods: [method], files: files, product: try ProductAccount(user: nil, group: nil), environment: ["PATH": "/usr/bin:/bin"], logger: Logger(label: "test")).reload()
    }

    @Test func aProductThatIsNotRunningIsNotAFailure() throws {
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("missing-\(UUID().uuidString).pid").path
        #expect(try failures(.signal(pidFile: missing, pid: nil, signal: SIGHUP)).isEmpty)
        // A pid that no process has any more: one that exited and was reaped just now.
        let exited = Process()
        exited.executableURL = URL(fileURLWithPath: "/bin/true")
        try exited.run()
        exited.waitUntilExit()
        #expect(try failures(.signal(pidFile: nil, pid: exited.processIdentifier, signal: SIGHUP)).isEmpty)
    }

    /// Out of range, the pid of init, or our own pid: refused, and reported as a failure.
    @Test func pidsNoProductCanHaveAreRefused() throws {
        for pid: Int32 in [1, 0, -1, Int32.max] {
            let result = try failures(.signal(pidFile: nil, pid: pid, signal: 0))
            #expect(result.count == 1 && result[0].contains("refused"), "\(pid): \(result)")
        }
    }

    @Test func aPidfileWithoutAPidAndAFailingCommandAreFailures() throws {
        let garbage = FileManager.default.temporaryDirectory.appendingPathComponent("garbage-\(UUID().uuidString).pid").path
        try "not a pid\n".write(toFile: garbage, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: garbage) }
        #expect(try failures(.signal(pidFile: garbage, pid: nil, signal: SIGHUP)).count == 1)
        #expect(try failures(.exec(command: ["/bin/false"])).count == 1)
        #expect(try failures(.exec(command: ["/bin/true"])).isEmpty)
    }

    /// An exec reload is stopped at its time limit, with everything it started.
    @Test func anExecReloadIsStoppedAtItsTimeLimit() throws {
        let started = ContinuousClock.now
        let result = try failures(.exec(command: ["/bin/sh", "-c", "sleep 30 & sleep 30"], timeLimit: .seconds(1)))
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(result.count == 1 && result[0].contains("did not finish within 1 s"), "\(result)")
    }

    /// The command sees PATH, LANG and the CSRPROXY_ variables, nothing else of the agent's.
    @Test func anExecReloadGetsOnlyAMinimalEnvironment() throws {
        // The agent's environment as the agent read it, with a secret in it; the shared process
        // environment is never changed here (tests in parallel start programs from it).
        let parent = ["CSRPROXY_TEST_SECRET": "hunter2", "PATH": "/opt/secret/bin", "LANG": "C.UTF-8", "HOME": "/root"]
        let output = try Spawn.capture(["/usr/bin/env"], environment: .minimal(["CSRPROXY_KEY": "/k"], parent: parent)).output
        let names = Set(output.split(separator: "\n").map { String($0.prefix { $0 != "=" }) })
        #expect(names.isSubset(of: ["PATH", "LANG", "CSRPROXY_KEY"]) && names.contains("CSRPROXY_KEY"), "\(names)")
        #expect(!output.contains("hunter2") && !output.contains("/opt/secret") && output.contains("LANG=C.UTF-8"), "\(output)")
    }

    /// A product's reload that fails is reported with its exit status and what it said, made
    /// safe for a terminal: the publisher sees nginx's "[emerg]" line, not only "exit 1".
    @Test func aFailedReloadSaysWhatTheProductSaid() throws {
        let result = try failures(.exec(command: ["/bin/sh", "-c", "echo 'checking'; printf 'broken: line 3\\033[31m\\n' >&2; exit 2"]))
        #expect(result.count == 1, "\(result)")
        let text = result.first ?? ""
        #expect(text.contains("exited 2: checking | broken: line 3"), "\(text)")
        #expect(!text.contains("\u{1B}"), "an escape sequence reached the report: \(text)")
    }

    /// A reload that leaves something running with its output open (a daemon it started) is
    /// done when the command exits, not when the pipe closes, and what it said is kept.
    @Test func aReloadThatLeavesAChildRunningIsDoneWhenItExits() throws {
        let started = ContinuousClock.now
        let (status, output) = try Spawn.capture(["/bin/sh", "-c", "sleep 30 & echo reloaded; exit 0"], environment: .minimal([:], parent: [:]), timeLimit: .seconds(20), output: .combined)
        #expect(status == 0)
        #expect(output.contains("reloaded"), "\(output)")
        #expect(ContinuousClock.now - started < .seconds(10), "waited for the child's pipe")
    }
}
