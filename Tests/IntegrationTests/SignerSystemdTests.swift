import Foundation
import Testing
import TestSupport

/// The signer under a pretend systemd: READY=1 only once DNS and HTTP are bound, WATCHDOG=1
/// at half of WATCHDOG_USEC, STOPPING=1 on SIGTERM, in that order.
@Suite(.timeLimit(.minutes(3)))
struct SignerSystemdTests {
    @Test func notifiesReadyWatchdogAndStoppingInOrder() async throws {
        let harness = try await SignerHarness()
        defer { harness.stop() }
        harness.signer.stop()
        let socket = try NotifySocket()
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = socket.path
        environment["WATCHDOG_USEC"] = "200000"
        let signer = try ServerProcess(try builtExecutable("csrproxy-signer"), ["serve", "-c", harness.configurationPath], environment: environment)
        _ = try await signer.waitForOutput(matching: #"listening: http=(\S+)"#)
        try await Task.sleep(for: .milliseconds(2500))
        // 30 s: a hang guard for a loaded machine; a SIGTERM not acted on still fails here.
        let stopped = signer.stop(grace: .seconds(30))
        let messages = socket.receive()
        // On failure, what the signer said: a lost SIGTERM and a slow shutdown look alike here.
        #expect(stopped == 0, "exit \(stopped); the signer's log:\n\(signer.standardError.suffix(3000))")
        let kinds = messages.map { $0.first ?? "" }
        #expect(kinds.first == "READY=1", "\(messages)")
        #expect(messages.first?.contains { $0.hasPrefix("STATUS=serving DNS on 127.0.0.1:\(harness.dnsPort)") } == true, "\(messages)")
        #expect(kinds.last == "STOPPING=1", "\(messages)")
        // 100 ms pings over 2.5 s of running: more than the 10 messages a unix datagram socket
        // queues, so "systemd" must read as they come (see NotifySocket); generous bounds.
        #expect(kinds.filter { $0 == "WATCHDOG=1" }.count >= 3, "\(messages)")
        #expect(kinds.filter { $0 == "READY=1" }.count == 1)
    }
}
