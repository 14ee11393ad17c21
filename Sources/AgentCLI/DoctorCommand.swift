import Agent
import ArgumentParser
import CommandLineSupport
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `csrproxy-agent doctor`: why would the browser warn? Checks and says what to do.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check name resolution, file permissions, the certificate and chain, the signer and the clock.",
        discussion: "Exits 0 when every check passes, 1 otherwise. --json prints the checks for scripts."
    )

    @OptionGroup var options: AgentOptions

    @Flag(help: "Print JSON.")
    var json = false

    @Flag(help: "Skip the name resolution check (it asks this machine's resolver).")
    var skipResolution = false

    func run() async throws {
        let agent: Agent
        do {
            agent = try options.makeAgent()
        } catch {
            throw ExitStatus.exit(for: error)
        }
        let checks = await agent.doctor(resolve: !skipResolution)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            FileDescriptorOutput.standardOutput.write(String(decoding: try encoder.encode(checks), as: UTF8.self) + "\n")
        } else {
            for check in checks {
                FileDescriptorOutput.standardOutput.write("\(check.ok ? "ok  " : "FAIL") \(check.name): \(check.detail)\n")
            }
        }
        if checks.contains(where: { !$0.ok }) { throw ExitCode(1) }
    }
}
