import CSDLogin
#if canImport(Glibc)
import Glibc
#endif

/// A login session as logind describes it: what `open` needs to tell whether a person sits at
/// it, and at which display.
public struct LoginSession: Sendable, Equatable {
    public var id: String
    public var uid: uid_t
    /// x11, wayland, tty, mir or unspecified.
    public var type: String
    /// user, greeter, lock-screen or background.
    public var sessionClass: String
    public var seat: String?
    public var isActive: Bool
    public var isRemote: Bool
    /// The X display logind was told (PAM_XDISPLAY); display managers set it, not every session.
    public var display: String?
    /// The session's first process.
    public var leader: pid_t?

    public init(id: String, uid: uid_t, type: String, sessionClass: String, seat: String?, isActive: Bool, isRemote: Bool, display: String?, leader: pid_t?) {
        self.id = id
        self.uid = uid
        self.type = type
        self.sessionClass = sessionClass
        self.seat = seat
        self.isActive = isActive
        self.isRemote = isRemote
        self.display = display
        self.leader = leader
    }

    /// A person's session at a screen: x11 or wayland, class user, in the foreground of its
    /// seat, not over the network. A tty, a greeter and a background session are not.
    public var isForegroundDesktop: Bool {
        ["x11", "wayland"].contains(type) && sessionClass == "user" && isActive && !isRemote
    }
}

/// Where sessions come from: logind in the agent, a list in tests.
public protocol LoginSessionSource: Sendable {
    func sessions() -> [LoginSession]
    /// The session `pid` belongs to now: a leader pid is trusted only while this is still its session.
    func session(of pid: pid_t) -> String?
}

/// logind, read through sd-login (libsystemd, loaded when first asked). Reads what logind keeps
/// under /run/systemd; needs neither D-Bus nor root.
public struct SystemdLogin: LoginSessionSource {
    public init() {}

    public func sessions() -> [LoginSession] {
        var list: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let count = csrproxy_sd_get_sessions(&list)
        guard count > 0, let list else { return [] }
        defer {
            for index in 0..<Int(count) { free(list[index]) }
            free(list)
        }
        // A box has a handful; a bound all the same.
        return (0..<min(Int(count), 256)).compactMap { list[$0].map { session(String(cString: $0)) } ?? nil }
    }

    public func session(of pid: pid_t) -> String? {
        var value: UnsafeMutablePointer<CChar>?
        guard csrproxy_sd_pid_get_session(pid, &value) >= 0, let value else { return nil }
        defer { free(value) }
        return String(cString: value)
    }

    private func session(_ id: String) -> LoginSession? {
        // Session ids are logind's own ("2", "c1"); anything else is not looked at.
        guard !id.isEmpty, id.count <= 64, id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else { return nil }
        var uid: uid_t = 0
        guard csrproxy_sd_session_get_uid(id, &uid) >= 0 else { return nil }
        return LoginSession(
            id: id, uid: uid,
            type: string(csrproxy_sd_session_get_type, id) ?? "unspecified",
            sessionClass: string(csrproxy_sd_session_get_class, id) ?? "",
            seat: string(csrproxy_sd_session_get_seat, id),
            isActive: csrproxy_sd_session_is_active(id) > 0,
            isRemote: csrproxy_sd_session_is_remote(id) > 0,
            display: string(csrproxy_sd_session_get_display, id),
            leader: leader(id))
    }

    private func string(_ getter: (UnsafePointer<CChar>?, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32, _ id: String) -> String? {
        var value: UnsafeMutablePointer<CChar>?
        guard getter(id, &value) >= 0, let value else { return nil }
        defer { free(value) }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }

    /// sd_session_get_leader came in systemd 254; Debian 12's 252 answers through loginctl.
    private func leader(_ id: String) -> pid_t? {
        var pid: pid_t = 0
        if csrproxy_sd_session_get_leader(id, &pid) >= 0, pid > 1 { return pid }
        guard let shown = try? Spawn.capture(["loginctl", "show-session", id, "--property=Leader", "--value"], environment: .minimal([:], parent: [:]), timeLimit: .seconds(5)),
              shown.status == 0, let value = pid_t(shown.output.trimmingWhitespace), value > 1
        else { return nil }
        return value
    }
}
