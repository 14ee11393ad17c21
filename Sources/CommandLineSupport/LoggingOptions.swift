import ArgumentParser
import Logging

/// `--log-level`, shared by every subcommand. Only this CLI bootstraps logging; libraries take loggers.
struct LoggingOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug (one line per query), info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    /// Sends logs to standard error and returns the root logger.
    func bootstrap(label: String) -> Logger {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: label)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
