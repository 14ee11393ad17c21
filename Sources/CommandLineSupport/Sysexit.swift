import ArgumentParser

/// The exit statuses all three commands use, from sysexits(3), so that a script or a unit's
/// `RestartPreventExitStatus=` reads the same number the same way whichever command it ran.
/// Each command's `ExitStatus` maps its own errors onto these and documents them in `--help`.
public enum Sysexit: Int32, Sendable, CaseIterable {
    /// EX_USAGE: a flag is wrong.
    case usage = 64
    /// EX_DATAERR: the other side's data was refused or is not what was asked for.
    case dataError = 65
    /// EX_UNAVAILABLE: a peer cannot be reached, or a port cannot be bound.
    case unavailable = 69
    /// EX_SOFTWARE: a fault of ours; the message is worth a bug report.
    case software = 70
    /// EX_CANTCREAT: a file cannot be written.
    case cannotCreate = 73
    /// EX_TEMPFAIL: try again later; nothing is wrong with the setup.
    case temporaryFailure = 75
    /// EX_CONFIG: the configuration (or a file it names) is wrong.
    case configuration = 78

    /// Prints `<command>: error: <reason>` on standard error, unbuffered, and gives the exit
    /// to throw from `run()`.
    public func exit(_ command: String, reason: String) -> ExitCode {
        var standardError = StandardError()
        print("\(command): error: \(reason)", to: &standardError)
        return ExitCode(rawValue)
    }
}
