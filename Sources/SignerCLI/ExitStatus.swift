import ArgumentParser
import CommandLineSupport
import DNSCodec
import DNSServer
import NIOCore
import Signer

/// The one place the signer's errors become sysexits(3) codes and a one-line reason.
enum ExitStatus {
    /// The exit status for `error` and the sentence that says what to do next.
    static func describe(_ error: any Error, configurationPath: String? = nil) -> (code: Sysexit, reason: String) {
        let file = configurationPath.map { "\($0): " } ?? ""
        switch error {
        case let error as SignerError where error.code == .configuration:
            return (.configuration, "\(file)\(error); fix it and run csrproxy-signer check-config")
        case let error as SignerError where error.code == .accountKey:
            return (.cannotCreate, error.message)
        case let error as SignerError:
            return (.unavailable, error.message)
        case let error as IOError:
            return (.unavailable, "\(error); is the address in use, or does a port under 1024 need CAP_NET_BIND_SERVICE?")
        case let error as ValidationError:
            return (.usage, "\(error.message); see --help")
        case let error as DNSServerError where error.code == .bindFailed:
            return (.unavailable, "\(error.message); pick a free port with --listen, or run with CAP_NET_BIND_SERVICE for port 53")
        case let error as DNSServerError:
            return (.configuration, "\(error.message); fix the flag and try again (see --help)")
        case let error as DNSCodecError:
            return (.configuration, "\(error.message); fix the flag and try again (see --help)")
        default:
            return (.software, "unexpected error: \(error)")
        }
    }

    /// Prints the reason and turns it into ArgumentParser's exit.
    static func exit(for error: any Error, configurationPath: String? = nil) -> ExitCode {
        let (code, reason) = describe(error, configurationPath: configurationPath)
        return code.exit("csrproxy-signer", reason: reason)
    }
}
