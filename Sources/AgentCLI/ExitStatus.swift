import Agent
import ArgumentParser
import CommandLineSupport

/// The one place agent errors become the documented exit codes and a one-line reason.
enum ExitStatus {
    static func code(for error: AgentError) -> Int32 {
        switch error.code {
        case .refused, .badAnswer: 65
        case .unreachable: 69
        case .cannotWrite: 73
        case .temporary, .reloadFailed: 75
        default: 78  // configuration, insecureKey, unsafeFile
        }
    }

    static func exit(for error: any Error) -> any Error {
        if error is ValidationError || error is CleanExit { return error }
        if let error = error as? ExitCode { return error }
        var standardError = StandardError()
        guard let error = error as? AgentError else {
            print("csrproxy-agent: error: \(TerminalText.clean("\(error)", limit: 2000))", to: &standardError)
            return ExitCode(70)
        }
        var reason = error.message
        if let seconds = error.retryAfterSeconds { reason += " (the signer asks to retry in \(seconds) s)" }
        print("csrproxy-agent: error: \(TerminalText.clean(reason, limit: 2000))", to: &standardError)
        return ExitCode(code(for: error))
    }
}
