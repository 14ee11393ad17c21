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
            Run by a user with a display, it runs xdg-open there. Run as root (a package's \
            postinst), it asks logind for the person at the screen: the active x11 or wayland \
            session of class user on this machine (the one of the user who ran sudo or pkexec \
            first, then the one on seat0). It starts xdg-open as that user (uid, gid and \
            groups; never as root) with that session's display, runtime directory and D-Bus \
            only, detached from the caller (it holds no output of the postinst, and under \
            systemd runs in a scope of the user's slice), and waits at most 5 s for it.

            It never fails an install: with nobody at a screen (a server, an SSH login, a text \
            console) it prints the URL and what to do, and it exits 0 in every case.
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
