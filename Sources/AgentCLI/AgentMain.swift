import ArgumentParser
import Dispatch

/// The entry point. Twice a day on every box the timer runs `renew`, and nearly always nothing
/// is due; that answer needs neither the network nor Swift's task runtime. Starting the runtime
/// costs the process its thread pool and, as async `main` hands the main thread to
/// `dispatch_main`, an unwinding of that thread's stack through the binary's unwind tables
/// (about a megabyte of them read in). So `main` stays synchronous, answers a not-due `renew`
/// first, and starts the async command only when there is work or something to report.
@main
enum AgentMain {
    static func main() {
        if let renew = try? AgentCommand.parseAsRoot() as? RenewCommand, renew.finishIfNotDue() {
            AgentCommand.exit()
        }
        Task {
            await AgentCommand.main()
            AgentCommand.exit()
        }
        dispatchMain()
    }
}
