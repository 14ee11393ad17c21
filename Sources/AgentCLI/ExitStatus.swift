import Agent
import ArgumentParser
import CommandLineSupport

/// The one place agent errors become the documented exit codes and a one-line reason.
enum ExitStatus {
    static func code(for error: AgentError) -> Sysexit {
        switch error.code {
        case .refused, .badAnswer: .dataError
        case .unreachable: .unavailable
        case .cannotWrite: .cannotCreate
        case .temporary, .reloadFailed: .temporaryFailure
        default: .configuration  // configuration, insecureKey, unsafeFile
        }
    }

    static func exit(for error: any Error) -> any Error {
        if error is ValidationError || error is CleanExit { return error }
        if let error = error as? ExitCode { return error }
        guard let error = error as? AgentError else {
            return Sysexit.software.exit("csrproxy-agent", reason: TerminalText.clean("\(error)", limit: 2000))
        }
        var reason = error.message
        if let seconds = error.retryAfterSeconds { reason += " (the signer asks to retry in \(seconds) s)" }
        return code(for: error).exit("csrproxy-agent", reason: TerminalText.clean(reason, limit: 2000))
    }
}
