import Agent
import ArgumentParser
import CommandLineSupport
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `csrproxy-agent status`: what is installed and when it renews; no network.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the installed certificate, its renewal time, key and files (text or --json).")

    @OptionGroup var options: AgentOptions

    @Flag(help: "Print JSON, for scripts.")
    var json = false

    func run() async throws {
        do {
            let agent = try options.makeAgent()
            let status = try agent.status()
            if json {
                let encoder = JSONEncoder()
                encoder.dateEncodingStrategy = .iso8601
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                FileDescriptorOutput.standardOutput.write(String(decoding: try encoder.encode(status), as: UTF8.self) + "\n")
                return
            }
            var text = ""
            if status.installed {
                text += "names         \(status.names.joined(separator: ", "))\(status.isFallback ? "  (temporary self-signed fallback)" : "")\n"
                text += "issuer        \(status.issuer ?? "-")\n"
                text += "valid         \(status.notBefore.map { "\($0)" } ?? "-") to \(status.notAfter.map { "\($0)" } ?? "-") (\(status.daysLeft ?? 0) days left)\n"
                text += "next renewal  \(status.nextRenewal.map { "\($0)" } ?? "-") (\(status.renewalSource ?? "-"))\n"
                text += "key           \(status.keyType ?? "-"), SHA-256 of SPKI \(status.keyFingerprintSHA256 ?? "-")\n"
            } else {
                text += "no certificate installed yet; run csrproxy-agent issue\n"
            }
            for name in ["key", "cert", "chain", "fullchain"] { let label = "\(name) file"
                text += label + String(repeating: " ", count: max(1, 14 - label.count)) + "\(status.files[name] ?? "-")\n" }
            if let success = status.lastSuccess { text += "last success  \(success)\n" }
            if let error = status.lastError { text += "last error    \(error)\n" }
            // Names, issuer and the last error came from a certificate or a signer: printed clean.
            FileDescriptorOutput.standardOutput.write(text.split(separator: "\n").map { TerminalText.clean(String($0), limit: 1000) + "\n" }.joined())
        } catch {
            throw ExitStatus.exit(for: error)
        }
    }
}
