import Foundation
import X509

/// What a TLS server on 127.0.0.1 shows a new connection, read with `openssl s_client`.
public enum ServedCertificate {
    /// The serial of the leaf a new connection to `port` with SNI `name` is shown.
    public static func serial(port: Int, name: String = SignerHarness.name) async throws -> String {
        let result = try await runCommand("/bin/sh", ["-c", "openssl s_client -connect 127.0.0.1:\(port) -servername \(name) </dev/null 2>/dev/null | openssl x509"], timeout: .seconds(20))
        guard result.status == 0 else { throw TestFailure("no certificate from 127.0.0.1:\(port)") }
        return try Certificate(pemEncoded: result.standardOutput).serialNumber.description
    }

    /// The served serial once it is `expected`, or what is served after `limit`: a product
    /// takes new files on its reload a moment after the reload was asked for, and the check is
    /// that it happens, not how fast.
    public static func serial(port: Int, name: String = SignerHarness.name, becoming expected: String, within limit: Duration = .seconds(10)) async throws -> String {
        let deadline = ContinuousClock.now + limit
        var served = try await serial(port: port, name: name)
        while served != expected, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            served = try await serial(port: port, name: name)
        }
        return served
    }
}
