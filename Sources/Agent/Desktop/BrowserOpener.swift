#if canImport(Glibc)
import Glibc
#endif

/// Opens the product's page in the desktop user's browser, from that user's shell or from a
/// root package script. Never fails an install: when nobody sits at a graphical session it only
/// says so, and the sentence it returns names the URL.
///
/// From root: the foreground x11 or wayland session logind knows (`DesktopSession.choose`),
/// its user's account and that session's display, bus and runtime directory only
/// (`DesktopSession.make`). The browser runs with that user's uid, gid and groups (`setpriv`),
/// never as root, in a session of its own with its input and output on /dev/null, and, under
/// systemd, in a scope of the user's slice, so it neither holds the postinst's output nor ends
/// with the unit that ran the postinst (a package manager's service). `open` waits at most
/// `settle` for the opener: one still running by then is the browser, left to run.
public struct BrowserOpener: Sendable {
    let environment: [String: String]
    let sessions: LoginSessionSource
    let command: [String]
    let settle: Duration

    public init(environment: [String: String], sessions: LoginSessionSource = SystemdLogin(),
                command: [String] = ["xdg-open"], settle: Duration = .seconds(5)) {
        self.environment = environment
        self.sessions = sessions
        self.command = command
        self.settle = settle
    }

    /// Tries to open `url`; returns a sentence saying what happened.
    public func open(_ url: String) -> String {
        if getuid() != 0 {
            guard environment["DISPLAY"] != nil || environment["WAYLAND_DISPLAY"] != nil else {
                return "no display in this session; open \(url) in a browser"
            }
            return launch(command + [url], environment: .inherited(adding: [:], parent: environment), opened: "opened \(url)", url: url)
        }
        let preferred = preferredUID
        guard let session = DesktopSession.choose(sessions.sessions(), preferredUID: preferred) else {
            return "no graphical session found (nobody is logged in at a screen); open \(url) in a browser"
        }
        let desktop: DesktopSession
        do {
            desktop = try DesktopSession.make(for: session, leaderEnvironment: DesktopSession.leaderEnvironment(session, source: sessions), language: environment["LANG"])
        } catch {
            return "\(error); open \(url) by hand"
        }
        var arguments = ["/usr/bin/setpriv", "--reuid=\(desktop.uid)", "--regid=\(desktop.gid)", "--init-groups", "--"] + command + [url]
        // Booted with systemd (sd_booted's test): out of the caller's unit, into the user's slice.
        if access("/run/systemd/system", F_OK) == 0, access("/usr/bin/systemd-run", X_OK) == 0 {
            arguments = ["/usr/bin/systemd-run", "--scope", "--quiet", "--collect", "--slice=user-\(desktop.uid).slice",
                         "--description=csrproxy-agent open for \(desktop.user)", "--"] + arguments
        }
        let shown = desktop.variables["WAYLAND_DISPLAY"] ?? desktop.variables["DISPLAY"] ?? ""
        // In the user's home when there is one (xdg-open and the browser resolve paths from it).
        var status = stat()
        let directory = stat(desktop.home, &status) == 0 && status.st_mode & S_IFMT == S_IFDIR ? desktop.home : "/"
        return launch(arguments, environment: .exactly(desktop.variables), directory: directory,
                      opened: "opened \(url) in \(desktop.user)'s browser (session \(desktop.sessionID), display \(shown))", url: url)
    }

    /// The user who ran sudo or pkexec to install: their session comes first.
    private var preferredUID: uid_t? {
        if let text = environment["SUDO_UID"], let uid = uid_t(text), uid != 0 { return uid }
        if let text = environment["PKEXEC_UID"], let uid = uid_t(text), uid != 0 { return uid }
        return nil
    }

    private func launch(_ arguments: [String], environment: Spawn.Environment, directory: String? = nil, opened: String, url: String) -> String {
        do {
            guard let status = try Spawn.detached(arguments, environment: environment, directory: directory, settle: settle), status != 0 else {
                return opened
            }
            return "could not start a browser (\(command[0]) exited \(status)); open \(url) by hand"
        } catch {
            return "could not start a browser (\(error)); open \(url) by hand"
        }
    }
}
