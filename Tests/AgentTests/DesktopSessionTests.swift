@testable import Agent
import Foundation
import Testing

/// Which session a root `open` picks, and what it hands the browser: only a person's
/// foreground desktop, never root's, and nothing from the session leader that is not the shape
/// it should be.
struct DesktopSessionTests {
    static func session(_ id: String, uid: uid_t = 1000, type: String = "x11", sessionClass: String = "user", seat: String? = "seat0",
                        active: Bool = true, remote: Bool = false, display: String? = ":0", leader: pid_t? = nil) -> LoginSession {
        LoginSession(id: id, uid: uid, type: type, sessionClass: sessionClass, seat: seat, isActive: active, isRemote: remote, display: display, leader: leader)
    }

    /// Only the list it was given, and `pid`'s session as the test says.
    struct Sessions: LoginSessionSource {
        var list: [LoginSession] = []
        var sessionOfPID: [pid_t: String] = [:]
        func sessions() -> [LoginSession] { list }
        func session(of pid: pid_t) -> String? { sessionOfPID[pid] }
    }

    @Test func onlyAForegroundDesktopSessionIsChosen() {
        let notDesktops = [
            Self.session("1", type: "tty"), Self.session("2", type: "unspecified"),
            Self.session("3", sessionClass: "greeter"), Self.session("4", sessionClass: "background"),
            Self.session("5", active: false), Self.session("6", remote: true),
        ]
        #expect(DesktopSession.choose(notDesktops, preferredUID: nil) == nil)
        #expect(DesktopSession.choose([], preferredUID: nil) == nil)
        let wayland = Self.session("7", type: "wayland")
        #expect(DesktopSession.choose(notDesktops + [wayland], preferredUID: nil) == wayland)
    }

    @Test func seat0ComesFirstAndThenTheUserWhoRanSudo() {
        let elsewhere = Self.session("2", uid: 1001, seat: "seat1"), atSeat0 = Self.session("10", uid: 1002)
        #expect(DesktopSession.choose([elsewhere, atSeat0], preferredUID: nil) == atSeat0)
        #expect(DesktopSession.choose([elsewhere, atSeat0], preferredUID: 1001) == elsewhere)
        // Among equals, the lowest id, whatever order logind listed them in.
        let first = Self.session("3"), second = Self.session("12")
        #expect(DesktopSession.choose([second, first], preferredUID: nil) == first)
    }

    @Test func displaysAreLocalOnly() {
        for good in [":0", ":7", ":12.1"] { #expect(DesktopSession.isLocalDisplay(good), "\(good)") }
        for bad in ["", ":", "0", "host:0", "10.0.0.1:0", "::0", ":0.", ":a", ":0 ", "unix:0", ":1234567890123"] {
            #expect(!DesktopSession.isLocalDisplay(bad), "\(bad)")
        }
    }

    @Test func rootsSessionAndUnknownUsersAreRefused() {
        #expect(throws: DesktopSession.Refusal.rootSession) {
            try DesktopSession.make(for: Self.session("1", uid: 0), leaderEnvironment: [:], language: nil)
        }
        #expect(throws: DesktopSession.Refusal.unknownUser(3_999_999)) {
            try DesktopSession.make(for: Self.session("1", uid: 3_999_999), leaderEnvironment: [:], language: nil)
        }
    }

    /// `nobody` stands in for the person: the account comes from the user database, the display
    /// from logind before the leader, and what the leader holds is taken only in shape.
    @Test func theEnvironmentIsTheUsersAndShapeChecked() throws {
        let nobody = try #require(getpwnam("nobody")).pointee
        let session = Self.session("4", uid: nobody.pw_uid, display: nil)
        let leader = [
            "DISPLAY": ":7", "XDG_CURRENT_DESKTOP": "GNOME", "DESKTOP_SESSION": "gnome;rm -rf /",
            "XAUTHORITY": "/etc/passwd", "WAYLAND_DISPLAY": "../../tmp/socket", "LD_PRELOAD": "/tmp/evil.so",
            "HOME": "/root", "PATH": "/tmp/evil",
        ]
        let desktop = try DesktopSession.make(for: session, leaderEnvironment: leader, language: "C.UTF-8", runtimeBase: "/nonexistent")
        #expect(desktop.user == "nobody" && desktop.uid == nobody.pw_uid && desktop.gid == nobody.pw_gid)
        #expect(desktop.variables["DISPLAY"] == ":7")
        #expect(desktop.variables["HOME"] == String(cString: nobody.pw_dir))
        #expect(desktop.variables["PATH"] == "/usr/local/bin:/usr/bin:/bin")
        #expect(desktop.variables["XDG_CURRENT_DESKTOP"] == "GNOME")
        #expect(desktop.variables["LANG"] == "C.UTF-8")
        // Not the user's own file, not a plain name, not the shape, or not asked for at all.
        for absent in ["XAUTHORITY", "WAYLAND_DISPLAY", "DESKTOP_SESSION", "LD_PRELOAD", "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS"] {
            #expect(desktop.variables[absent] == nil, "\(absent) = \(desktop.variables[absent] ?? "")")
        }
        // What logind says wins over the leader.
        var told = session
        told.display = ":3"
        #expect(try DesktopSession.make(for: told, leaderEnvironment: leader, language: nil).variables["DISPLAY"] == ":3")
    }

    @Test func aSessionWithoutALocalDisplayIsRefused() {
        let nobody = getpwnam("nobody")!.pointee.pw_uid
        #expect(throws: DesktopSession.Refusal.noDisplay(session: "5")) {
            try DesktopSession.make(for: Self.session("5", uid: nobody, display: nil), leaderEnvironment: ["DISPLAY": "attacker.example:0"], language: nil)
        }
    }

    /// The runtime directory, the session bus and the Wayland socket only when they are the
    /// user's own (needs root to give them away).
    @Test(.enabled(if: geteuid() == 0, "chown needs root"))
    func theRuntimeDirectoryCountsOnlyWhenItIsTheUsers() throws {
        let nobody = try #require(getpwnam("nobody")).pointee
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("runtime-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: base) }
        let runtime = "\(base)/\(nobody.pw_uid)"
        try FileManager.default.createDirectory(atPath: runtime, withIntermediateDirectories: true)
        let session = Self.session("6", uid: nobody.pw_uid, type: "wayland", display: nil)
        // Root's directory: not the user's, so nothing from it.
        #expect(throws: DesktopSession.Refusal.noDisplay(session: "6")) {
            try DesktopSession.make(for: session, leaderEnvironment: [:], language: nil, runtimeBase: base)
        }
        chown(runtime, nobody.pw_uid, nobody.pw_gid)
        for name in ["bus", "wayland-0"] { try Self.listen(at: "\(runtime)/\(name)", owner: nobody.pw_uid) }
        let desktop = try DesktopSession.make(for: session, leaderEnvironment: [:], language: nil, runtimeBase: base)
        #expect(desktop.variables["XDG_RUNTIME_DIR"] == runtime)
        #expect(desktop.variables["DBUS_SESSION_BUS_ADDRESS"] == "unix:path=\(runtime)/bus")
        #expect(desktop.variables["WAYLAND_DISPLAY"] == "wayland-0")
    }

    static func listen(at path: String, owner: uid_t) throws {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard bound == 0 else { throw CocoaError(.fileWriteUnknown) }
        chown(path, owner, 0)
    }

    /// The leader's environment is read only while logind still counts its pid in the session.
    @Test func theLeaderIsReadOnlyWhileItIsInTheSession() {
        let me = getpid()
        let session = Self.session("8", leader: me)
        #expect(DesktopSession.leaderEnvironment(session, source: Sessions(sessionOfPID: [me: "9"])).isEmpty)
        #expect(DesktopSession.leaderEnvironment(session, source: Sessions()).isEmpty)
        let read = DesktopSession.leaderEnvironment(session, source: Sessions(sessionOfPID: [me: "8"]))
        #expect(read["PATH"] == ProcessInfo.processInfo.environment["PATH"], "\(read.keys.sorted())")
    }

    /// As root with no desktop session anywhere, `open` says so and names the URL; with only
    /// root's, it refuses to start a browser.
    @Test(.enabled(if: geteuid() == 0, "the root path"))
    func withoutADesktopTheURLIsPrinted() {
        let url = "https://go.eval.example.com:8443/"
        let none = BrowserOpener(environment: [:], sessions: Sessions(list: [Self.session("1", type: "tty")]), command: ["/bin/false"]).open(url)
        #expect(none.contains("no graphical session") && none.contains(url), "\(none)")
        let rootOnly = BrowserOpener(environment: [:], sessions: Sessions(list: [Self.session("2", uid: 0)]), command: ["/bin/false"]).open(url)
        #expect(rootOnly.contains("never run as root") && rootOnly.contains(url), "\(rootOnly)")
    }
}
