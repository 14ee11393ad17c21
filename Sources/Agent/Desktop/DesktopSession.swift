#if canImport(Glibc)
import Glibc
#endif

/// The person at the screen, found from root: their account and the environment a program
/// needs to show something in their session, and nothing of root's.
public struct DesktopSession: Sendable, Equatable {
    public var sessionID: String
    public var user: String
    public var uid: uid_t
    public var gid: gid_t
    public var home: String
    /// The whole environment the browser gets.
    public var variables: [String: String]

    /// Which session a root `open` shows the page in: the foreground desktop sessions
    /// (`LoginSession.isForegroundDesktop`), those of `preferredUID` (the user who ran sudo or
    /// pkexec) first, then the one on seat0, then the lowest id.
    public static func choose(_ sessions: [LoginSession], preferredUID: uid_t?) -> LoginSession? {
        sessions.filter(\.isForegroundDesktop).min { rank($0, preferredUID) < rank($1, preferredUID) }
    }

    private static func rank(_ session: LoginSession, _ preferredUID: uid_t?) -> (Int, Int, Int, String) {
        (session.uid == preferredUID ? 0 : 1, session.seat == "seat0" ? 0 : 1, session.id.count, session.id)
    }

    /// Why no environment could be made for a session.
    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case rootSession
        case unknownUser(uid_t)
        case noDisplay(session: String)

        public var description: String {
            switch self {
            case .rootSession: "the graphical session is root's, and a browser is never run as root"
            case .unknownUser(let uid): "the graphical session's user (uid \(uid)) is not in the user database"
            case .noDisplay(let session): "graphical session \(session) has no display the agent can find"
            }
        }
    }

    /// The environment for `session`: the account from the user database; the display from
    /// logind, else from the session leader's environment (`leaderEnvironment`, read only
    /// while the leader is still in the session); the runtime directory and session bus only
    /// when they are the user's own. Every value is checked for shape: nothing from the leader
    /// can name a remote display or a path outside the user's runtime directory.
    public static func make(
        for session: LoginSession, leaderEnvironment: [String: String],
        language: String?, runtimeBase: String = "/run/user"
    ) throws(Refusal) -> DesktopSession {
        guard session.uid != 0 else { throw .rootSession }
        guard let entry = getpwuid(session.uid) else { throw .unknownUser(session.uid) }
        let user = String(cString: entry.pointee.pw_name), home = String(cString: entry.pointee.pw_dir)
        let shell = String(cString: entry.pointee.pw_shell)
        var variables = [
            "HOME": home, "USER": user, "LOGNAME": user, "SHELL": shell.isEmpty ? "/bin/sh" : shell,
            "PATH": "/usr/local/bin:/usr/bin:/bin", "XDG_SESSION_TYPE": session.type,
        ]
        if let language, isPlain(language, extra: "._@-") { variables["LANG"] = language }
        let runtime = "\(runtimeBase)/\(session.uid)"
        if isOwned(runtime, by: session.uid, kind: S_IFDIR) {
            variables["XDG_RUNTIME_DIR"] = runtime
            if isOwned("\(runtime)/bus", by: session.uid, kind: S_IFSOCK) {
                variables["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=\(runtime)/bus"
            }
            let wayland = leaderEnvironment["WAYLAND_DISPLAY"] ?? (session.type == "wayland" ? "wayland-0" : nil)
            if let wayland, isPlain(wayland, extra: "._-"), isOwned("\(runtime)/\(wayland)", by: session.uid, kind: S_IFSOCK) {
                variables["WAYLAND_DISPLAY"] = wayland
            }
        }
        if let display = [session.display, leaderEnvironment["DISPLAY"]].compactMap({ $0 }).first(where: isLocalDisplay) {
            variables["DISPLAY"] = display
        }
        if let authority = leaderEnvironment["XAUTHORITY"], authority.hasPrefix("/"), !authority.split(separator: "/").contains(".."),
           isOwned(authority, by: session.uid, kind: S_IFREG) {
            variables["XAUTHORITY"] = authority
        }
        // What xdg-open reads to pick the desktop's own opener (gio, kde-open, ...).
        for name in ["XDG_CURRENT_DESKTOP", "DESKTOP_SESSION"] {
            if let value = leaderEnvironment[name], value.count <= 64, isPlain(value, extra: ":_-") { variables[name] = value }
        }
        guard variables["DISPLAY"] != nil || variables["WAYLAND_DISPLAY"] != nil else { throw .noDisplay(session: session.id) }
        return DesktopSession(sessionID: session.id, user: user, uid: session.uid, gid: entry.pointee.pw_gid, home: home, variables: variables)
    }

    /// `:N` or `:N.S`: a display on this machine, never a host's.
    static func isLocalDisplay(_ display: String) -> Bool {
        let parts = display.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].isEmpty, !parts[1].isEmpty, parts[1].count <= 12 else { return false }
        return parts[1].split(separator: ".", omittingEmptySubsequences: false).allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }
    }

    private static func isPlain(_ value: String, extra: String) -> Bool {
        !value.isEmpty && value.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || extra.contains($0)) }
    }

    /// A `kind` of file (not a link to one) at `path`, owned by `uid`.
    private static func isOwned(_ path: String, by uid: uid_t, kind: mode_t) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0 && status.st_mode & S_IFMT == kind && status.st_uid == uid
    }

    /// The leader's environment, read only if `pid` is still in `session` (a pid logind named
    /// may have ended and been reused by then): at most 64 KiB of /proc/PID/environ.
    static func leaderEnvironment(_ session: LoginSession, source: LoginSessionSource) -> [String: String] {
        guard let pid = session.leader, pid > 1, source.session(of: pid) == session.id else { return [:] }
        let descriptor = Glibc.open("/proc/\(pid)/environ", O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard descriptor >= 0 else { return [:] }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 8192)
        while bytes.count < 1 << 16 {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += chunk[..<count]
        }
        // Checked again: the pid must not have changed hands while it was read.
        guard source.session(of: pid) == session.id else { return [:] }
        var environment: [String: String] = [:]
        for entry in bytes.split(separator: 0) {
            let text = String(decoding: entry, as: UTF8.self)
            guard let equals = text.firstIndex(of: "=") else { continue }
            environment[String(text[..<equals])] = String(text[text.index(after: equals)...])
        }
        return environment
    }
}
