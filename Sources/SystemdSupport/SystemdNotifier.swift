#if canImport(Glibc)
import Glibc
#endif
import CSystemd

/// Tells systemd how the service is doing (sd_notify(3)): READY=1 once it serves, the reload
/// protocol (RELOADING=1 with MONOTONIC_USEC, then READY=1), STOPPING=1, STATUS=, and
/// WATCHDOG=1 pings. Outside systemd (no NOTIFY_SOCKET) every call does nothing.
///
/// Debian 12's systemd 252 predates `Type=notify-reload` (253), so units there use
/// `Type=notify` with `ExecReload=/bin/kill -HUP $MAINPID`, and the service announces
/// RELOADING=1 and READY=1 itself around each reload, as these calls do.
public struct SystemdNotifier: Sendable {
    public init() {}

    /// Whether a service manager listens (NOTIFY_SOCKET is set).
    public var isActive: Bool { getenv("NOTIFY_SOCKET") != nil }

    public func ready(status: String? = nil) {
        send(["READY=1"] + (status.map { ["STATUS=\($0)"] } ?? []))
    }

    /// Before a reload starts; `ready()` again when it is done.
    public func reloading() {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let microseconds = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
        send(["RELOADING=1", "MONOTONIC_USEC=\(microseconds)"])
    }

    public func stopping() { send(["STOPPING=1"]) }

    public func status(_ text: String) { send(["STATUS=\(text)"]) }

    public func watchdog() { send(["WATCHDOG=1"]) }

    /// How often to ping the watchdog: half of WATCHDOG_USEC, as sd_watchdog_enabled(3)
    /// advises; nil when no watchdog is set for this process.
    public var watchdogInterval: Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(microseconds / 2))
    }

    private func send(_ assignments: [String]) {
        guard isActive else { return }
        _ = sd_notify(0, assignments.joined(separator: "\n"))
    }
}
