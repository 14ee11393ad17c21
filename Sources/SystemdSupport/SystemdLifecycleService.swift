import ServiceLifecycle

/// Runs beside a server in its ServiceGroup: once the server says it is ready, sends READY=1
/// and pings the watchdog; says STOPPING=1 when the group shuts down gracefully.
public struct SystemdLifecycleService: Service {
    let notifier: SystemdNotifier
    let ready: AsyncStream<String>

    /// - Parameter ready: yields once, with a STATUS= text, when the server really serves.
    public init(notifier: SystemdNotifier = SystemdNotifier(), ready: AsyncStream<String>) {
        self.notifier = notifier
        self.ready = ready
    }

    public func run() async throws {
        var iterator = ready.cancelOnGracefulShutdown().makeAsyncIterator()
        guard let status = try? await iterator.next() else {
            notifier.stopping()
            return
        }
        notifier.ready(status: status)
        if let interval = notifier.watchdogInterval {
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                notifier.watchdog()
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            }
        } else {
            try? await gracefulShutdown()
        }
        notifier.stopping()
    }
}
