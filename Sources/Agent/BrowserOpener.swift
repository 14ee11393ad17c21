#if canImport(Glibc)
import Glibc
#endif

/// Opens the product's page in the desktop user's browser, from a user's shell or from a root
/// package script. Never fails an install: when no graphical session is found it only says so,
/// and the caller prints the URL.
public struct BrowserOpener: Sendable {
    let environment: [String: String]

    public init(environment: [String: String]) {
        self.environment = environment
    }

    /// Who will see the page, and with which environment.
    public struct Session: Sendable, Equatable {
        public var user: String?
        public var variables: [String: String]
    }

    /// Tries to open `url`; returns a sentence saying what happened.
    public func open(_ url: String) -> String {
        guard let session = findSession() else {
            return "no graphical session found; open \(url) in a browser"
        }
        var command = ["xdg-open", url]
        let assignments = session.variables.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        if let user = session.user {
            command = ["runuser", "-u", user, "--", "env"] + assignments + command
        }
        guard let status = try? Spawn.run(command, environment: .inherited(adding: session.user == nil ? session.variables : [:], parent: environment)), status == 0 else {
            return "could not start a browser (xdg-open); open \(url) by hand"
        }
        return "opened \(url) in \(session.user.map { "\($0)'s" } ?? "the") browser"
    }

    /// Our own session when we have a display; as root, the user who ran sudo or pkexec, or
    /// the active local graphical session loginctl knows.
    func findSession() -> Session? {
        if getuid() != 0 {
            guard environment["DISPLAY"] != nil || environment["WAYLAND_DISPLAY"] != nil else { return nil }
            return Session(user: nil, variables: [:])
        }
        if let user = environment["SUDO_USER"], user != "root", let entry = getpwnam(user) {
            return session(for: user, uid: entry.pointee.pw_uid, display: environment["DISPLAY"], type: environment["WAYLAND_DISPLAY"] != nil ? "wayland" : "x11")
        }
        if let uidText = environment["PKEXEC_UID"], let uid = uid_t(uidText), let entry = getpwuid(uid) {
            return session(for: String(cString: entry.pointee.pw_name), uid: uid, display: nil, type: nil)
        }
        return loginctlSession()
    }

    private func loginctlSession() -> Session? {
        guard let list = try? Spawn.capture(["loginctl", "list-sessions", "--no-legend"], environment: .minimal([:], parent: environment)), list.status == 0 else { return nil }
        for line in list.output.split(separator: "\n") {
            guard let id = line.split(separator: " ", omittingEmptySubsequences: true).first,
                  let shown = try? Spawn.capture(["loginctl", "show-session", String(id), "-p", "Active", "-p", "Type", "-p", "Name", "-p", "User", "-p", "Display", "-p", "Remote"], environment: .minimal([:], parent: environment))
            else { continue }
            var properties: [String: String] = [:]
            for entry in shown.output.split(separator: "\n") {
                let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
                if parts.count == 2 { properties[parts[0]] = parts[1] }
            }
            guard properties["Active"] == "yes", properties["Remote"] != "yes", ["x11", "wayland"].contains(properties["Type"] ?? ""),
                  let name = properties["Name"], let uid = properties["User"].flatMap(uid_t.init)
            else { continue }
            return session(for: name, uid: uid, display: properties["Display"], type: properties["Type"])
        }
        return nil
    }

    private func session(for user: String, uid: uid_t, display: String?, type: String?) -> Session {
        var variables = [
            "XDG_RUNTIME_DIR": "/run/user/\(uid)",
            "DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/\(uid)/bus",
            "DISPLAY": display.flatMap { $0.isEmpty ? nil : $0 } ?? ":0",
        ]
        if type == "wayland" { variables["WAYLAND_DISPLAY"] = environment["WAYLAND_DISPLAY"] ?? "wayland-0" }
        return Session(user: user, variables: variables)
    }
}
