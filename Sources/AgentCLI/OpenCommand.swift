import Agent
import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `csrproxy-agent open`: shows the product to the person who installed it.
struct OpenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "open",
        abstract: "Open https://<name>:<port>/ in the desktop user's browser, or print the URL.",
        discussion: """
            From a root postinst it finds the desktop user (SUDO_USER, PKEXEC_UID, or the active \
            graphical session loginctl knows) and runs xdg-open as that user with that session's \
            display and D-Bus. It never fails: without a session it prints the URL, and it exits 0.
            """
    )

    @OptionGroup var options: AgentOptions

    @Flag(help: "Print the URL only.")
    var printOnly = false

    func run() async throws {
        guard let agent = try? options.makeAgent() else {
            options.say("csrproxy-agent: no usable configuration; nothing to open")
            return
        }
        // From the configuration (and, per install, the key's label), never from a certificate file.
        let name = (try? agent.files.installedKey()).flatMap { $0 }.flatMap { try? agent.names(for: $0).first } ?? agent.configuration.name
        let url = agent.configuration.productPort == 443 ? "https://\(name)/" : "https://\(name):\(agent.configuration.productPort)/"
        if printOnly {
            options.say(url)
            return
        }
        options.say("csrproxy-agent: \(BrowserOpener(environment: ProcessInfo.processInfo.environment).open(url))")
    }
}
