import ArgumentParser
import Logging

/// `--log-level`, shared by every subcommand of both CLIs. Only the CLIs bootstrap logging;
/// libraries take the logger they are given.
public struct LoggingOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    public var logLevel: Logger.Level?

    public init() {}

    /// Sends logs to standard error and returns the root logger. Under systemd (JOURNAL_STREAM
    /// set) lines carry a `<priority>` prefix and no timestamp, which journald reads natively.
    public func bootstrap(label: String, defaultLevel: Logger.Level = .info, environment: [String: String]) -> Logger {
        let level = logLevel ?? defaultLevel
        let journal = environment["JOURNAL_STREAM"] != nil
        LoggingSystem.bootstrap { label in
            if journal {
                var handler = JournalLogHandler()
                handler.logLevel = level
                return handler
            }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: label)
    }
}

/// One line per message on standard error, prefixed with its syslog priority (sd-daemon(3)).
struct JournalLogHandler: LogHandler {
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        let fields = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let text = JournalLine.oneLine("\(event.message)\(fields.isEmpty ? "" : " \(fields)")")
        FileDescriptorOutput.standardError.write("<\(Self.priority(event.level))>\(text)\n")
    }

    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }
}

public enum JournalLine {
    /// One journal line whatever the text holds: a message may quote a peer (a signer's detail,
    /// a CSR's name), and a `\n` or `\r` in it must not start what looks like another entry with
    /// a priority of the peer's choosing, nor an escape sequence reach a terminal.
    public static func oneLine(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { scalar -> Unicode.Scalar in
            switch scalar.value {
            case 0x0A, 0x0D: " "
            case 0..<0x20, 0x7F...0x9F: "?"
            default: scalar
            }
        }))
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
