import DNSServer
import Logging
import NIOCore
import ServiceLifecycle

/// Runs our DNS server in-process on 127.0.0.1 with a free port for the length of `body`,
/// then shuts it down gracefully.
public func withRunningDNSServer<Result: Sendable>(
    store: ZoneStore,
    transfers: ZoneTransferPolicy = ZoneTransferPolicy(),
    tcpIdleTimeout: TimeAmount = .seconds(10),
    _ body: @Sendable (_ port: Int) async throws -> Result
) async throws -> Result {
    let (addresses, continuation) = AsyncStream.makeStream(of: [ListenAddress].self)
    let logger = Logger(label: "test.dns", factory: { _ in SwiftLogNoOpLogHandler() })
    let server = DNSServer(
        configuration: DNSServerConfiguration(listenAddresses: [ListenAddress(host: "127.0.0.1", port: 0)], tcpIdleTimeout: tcpIdleTimeout),
        store: store, transfers: TransferPolicyStore(transfers), logger: logger,
        onServerRunning: { continuation.yield($0) })
    let group = ServiceGroup(configuration: .init(services: [server], logger: logger))
    return try await withThrowingTaskGroup(of: Result?.self) { tasks in
        tasks.addTask {
            defer { continuation.finish() }
            try await group.run()
            return nil
        }
        var iterator = addresses.makeAsyncIterator()
        guard let port = await iterator.next()?.first?.port else {
            for try await _ in tasks {}
            throw TestFailure("the DNS server stopped before it listened")
        }
        do {
            let result = try await body(port)
            await group.triggerGracefulShutdown()
            for try await _ in tasks {}
            return result
        } catch {
            await group.triggerGracefulShutdown()
            throw error
        }
    }
}
