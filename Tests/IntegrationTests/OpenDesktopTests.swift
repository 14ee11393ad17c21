import Foundation
import Testing
import TestSupport

/// `csrproxy-agent open` from a root postinst reaches the person at the screen: a Debian root
/// booted with systemd as PID 1 (`scripts/make-test-root --desktop`), a user `tester` logged in
/// to an x11 session that logind knows (PAM through `systemd-run -p PAMName=login`, as a display
/// manager opens one) on Xvfb, Debian's chromium as that user's default browser, pebble's root
/// in that user's NSS database. The demo package's own postinst, run as root by dpkg, must open
/// the page there, trusted, in a browser that runs as `tester`; with nobody at a screen, or only
/// a text login, it prints the URL and the install goes on.
@Suite(.serialized, .timeLimit(.minutes(10)), .enabled(
    if: getuid() == 0 && PackageTestInputs.fromEnvironment?.desktopRootTarball != nil,
    "needs root, CSRPROXY_DESKTOP_ROOT and CSRPROXY_DEBS, as scripts/test sets them"))
struct OpenDesktopTests {
    static let user = "tester"

    /// The booted root with the .debs in /root/debs (nspawn mounts a fresh /tmp), the demo's
    /// settings on `port` (its unit moved there too: the containers share the host's network),
    /// `tester` with chromium as default browser trusting pebble's root, and chromium's
    /// DevTools on `devtoolsPort`, where the test reads what the browser shows.
    static func desktop(_ harness: SignerHarness, port: Int, devtoolsPort: Int) async throws -> BootedSystem {
        let inputs = try #require(PackageTestInputs.fromEnvironment)
        let system = try await BootedSystem(tarball: try #require(inputs.desktopRootTarball))
        try await PackageInstallTests.prepare(system.root, signerURL: "http://127.0.0.1:\(harness.baseURL.port!)", pebbleRoot: try await harness.issuingRootFile(), deadlineSeconds: 60)
        try await system.root.mustRun("mkdir -p /root/debs && mv /tmp/debs/* /root/debs/")
        let settings = system.root.hostPath("/etc/csrproxy/agent.toml")
        try String(contentsOfFile: settings, encoding: .utf8).replacingOccurrences(of: "port = 8443", with: "port = \(port)").write(toFile: settings, atomically: true, encoding: .utf8)
        try system.write("""
            [Service]
            ExecStart=
            ExecStart=/usr/bin/csrproxy-demo --certificate /var/lib/csrproxy/tls/fullchain.pem --key /var/lib/csrproxy/tls/key.pem --listen 127.0.0.1:\(port)

            """, to: "/etc/systemd/system/csrproxy-demo.service.d/test-port.conf")
        // The well-known name goes to 127.0.0.1, as the signer's DNS would answer; nothing
        // leaves the machine.
        try await system.root.mustRun("echo '127.0.0.1 \(SignerHarness.name)' >> /etc/hosts")
        // Debian's /usr/bin/chromium reads /etc/chromium.d/*. The test's additions: DevTools on
        // loopback, no first-run dialogs, no GPU (Xvfb has none).
        try system.write("""
            export CHROMIUM_FLAGS="$CHROMIUM_FLAGS --remote-debugging-port=\(devtoolsPort) --no-first-run --no-default-browser-check --disable-gpu --password-store=basic"

            """, to: "/etc/chromium.d/csrproxy-test")
        try await system.root.mustRun("""
            useradd --create-home --shell /bin/bash \(user) &&
            runuser -l \(user) -c 'mkdir -p .pki/nssdb && certutil -N -d sql:$HOME/.pki/nssdb --empty-password &&
                certutil -A -d sql:$HOME/.pki/nssdb -n "pebble test root" -t C,, -i \(PackageInstallTests.pebbleRootInside) &&
                xdg-settings set default-web-browser chromium.desktop && xdg-settings get default-web-browser' 2>&1
            """)
        try await system.boot()
        return system
    }

    /// What `csrproxy-agent open` says as root, which must exit 0.
    static func open(_ system: BootedSystem) async throws -> String {
        let result = try await system.run("csrproxy-agent open 2>&1", timeout: .seconds(30))
        #expect(result.status == 0, "open must never fail: \(result.standardOutput)")
        return result.standardOutput
    }

    /// A login through PAM, as a display manager or getty makes one, as `unit`; returns the
    /// id of the (first) session of `type` logind then lists.
    static func login(_ system: BootedSystem, unit: String, type: String, command: String) async throws -> String {
        try await system.mustRun("""
            systemd-run --unit=\(unit) -p PAMName=login -p User=\(user) \
            -E XDG_SESSION_TYPE=\(type) -E XDG_SESSION_CLASS=user \(command)
            """)
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let sessions = try await system.run("loginctl list-sessions --no-legend").standardOutput
            for id in sessions.split(separator: "\n").compactMap({ $0.split(separator: " ").first }) {
                if try await system.run("loginctl show-session \(id) -p Type --value").standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == type {
                    return String(id)
                }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        let listing = try await system.run("loginctl list-sessions --no-legend; journalctl --no-pager -u \(unit) | tail -20").standardOutput
        throw TestFailure("no active \(type) session for \(unit):\n\(listing)")
    }

    @Test func thePostinstOpensThePageInTheDesktopUsersBrowser() async throws {
        let harness = try await SignerHarness()
        defer { harness.stop() }
        let port = try freeTCPPort(), devtoolsPort = try freeTCPPort()
        let display = ":\(Int.random(in: 100...999))"
        let system = try await Self.desktop(harness, port: port, devtoolsPort: devtoolsPort)
        defer { system.remove() }
        let url = "https://\(SignerHarness.name):\(port)/"

        // A headless box: nobody is logged in. The demo's first install issues, starts the
        // product, and its postinst's `open` prints the URL; dpkg succeeds.
        let headless = try await system.run("dpkg --force-confold -i /root/debs/csrproxy-agent_*.deb /root/debs/csrproxy-demo_*.deb 2>&1", timeout: .seconds(120))
        #expect(headless.status == 0, "\(headless.standardOutput)")
        #expect(headless.standardOutput.contains("no graphical session") && headless.standardOutput.contains(url), "\(headless.standardOutput)")
        #expect(try await system.property("ActiveState", of: "csrproxy-demo.service") == "active")

        // A text login is a session, but nobody sees a browser there.
        let textSession = try await Self.login(system, unit: "text-login", type: "tty", command: "/bin/sleep 600")
        let text = try await Self.open(system)
        #expect(text.contains("no graphical session") && text.contains(url), "a tty session (\(textSession)) was taken for a desktop: \(text)")
        #expect(try await system.run("pgrep -c chromium").standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == "0")

        // The person's x11 session on Xvfb; logind is not told the display (only a display
        // manager's PAM_XDISPLAY does that): the agent reads it from the session's leader.
        let desktopSession = try await Self.login(system, unit: "desktop-login", type: "x11",
                                                  command: "-E DISPLAY=\(display) /usr/bin/Xvfb \(display) -screen 0 1280x800x24 -nolisten tcp")
        let xSocket = "/tmp/.X11-unix/X\(display.dropFirst())"
        let waited = ContinuousClock.now
        while try await system.run("test -S \(xSocket)").status != 0, ContinuousClock.now - waited < .seconds(20) {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(try await system.run("loginctl show-session \(desktopSession) -p Active --value").standardOutput.hasPrefix("yes"))
        let told = try await system.run("loginctl show-session \(desktopSession) -p Display --value").standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        print("logind's Display for the x11 session: \"\(told)\" (empty: the agent reads it from the session leader)")

        // The demo's package installed again (an upgrade's postinst: renew if due, reload, open),
        // run by dpkg as root: the page opens, and dpkg returns without waiting for the browser.
        let started = ContinuousClock.now
        let install = try await system.run("dpkg --force-confold -i /root/debs/csrproxy-demo_*.deb 2>&1", timeout: .seconds(120))
        let took = ContinuousClock.now - started
        #expect(install.status == 0, "\(install.standardOutput)")
        #expect(install.standardOutput.contains("opened \(url) in \(Self.user)'s browser (session \(desktopSession), display \(display))"), "\(install.standardOutput)")
        #expect(took < .seconds(60), "dpkg waited \(took) (for the browser?)")

        // What the browser shows, from its DevTools: the page by its name, titled as the demo
        // titles it (a certificate it does not trust shows "Privacy error" instead).
        let devtools = URL(string: "http://127.0.0.1:\(devtoolsPort)/json/list")!
        var pages: [[String: Any]] = []
        let deadline = ContinuousClock.now + .seconds(90)
        while ContinuousClock.now < deadline {
            if let listing = try? await curl(devtools, timeout: .seconds(5)), listing.status == 200,
               let list = try? JSONSerialization.jsonObject(with: Data(listing.body)) as? [[String: Any]] {
                pages = list.filter { $0["type"] as? String == "page" }
                if pages.contains(where: { $0["url"] as? String == url && $0["title"] as? String == "CSRProxy demo product" }) { break }
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        let shown = pages.map { "\($0["url"] ?? "?") \"\($0["title"] ?? "?")\"" }
        print("chromium shows: \(shown)")
        #expect(pages.contains { $0["url"] as? String == url && $0["title"] as? String == "CSRProxy demo product" }, "the browser shows \(shown)")

        // Who runs the browser: the session's user, never root.
        let owners = try await system.mustRun("ps -o user:32=,pid=,args= -C chromium").standardOutput
        let users = Set(owners.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) })
        print("chromium processes by user: \(users.sorted()) (\(owners.split(separator: "\n").count) processes)")
        #expect(users == [Self.user], "\(owners)")
        // Out of dpkg's unit, in a scope of the user's slice: it outlives whatever ran dpkg.
        let uid = try await system.mustRun("id -u \(Self.user)").standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        let cgroup = try await system.mustRun("cat /proc/$(pgrep -o -u \(Self.user) chromium)/cgroup").standardOutput
        print("chromium's cgroup: \(cgroup.trimmingCharacters(in: .whitespacesAndNewlines)); dpkg -i took \(took)")
        #expect(cgroup.contains("/user.slice/user-\(uid).slice/") && cgroup.contains(".scope"), "\(cgroup)")

        // The screen as the person sees it.
        let artifacts = try buildProductsDirectory().appendingPathComponent("test-artifacts")
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        try await system.mustRun("xwd -root -silent -display \(display) | xwdtopnm 2>/dev/null | pnmtopng > /root/screen.png")
        let screenshot = artifacts.appendingPathComponent("open-desktop-screen.png").path
        try? FileManager.default.removeItem(atPath: screenshot)
        try FileManager.default.copyItem(atPath: system.root.hostPath("/root/screen.png"), toPath: screenshot)
        let png = try Data(contentsOf: URL(fileURLWithPath: screenshot))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 5_000, "no screenshot (\(png.count) bytes)")
        print("screenshot of the desktop after the postinst: \(screenshot)")
    }
}
