import ACME
import CertificateSupport
import Foundation
import Logging
import Synchronization

/// The signer's ACME account: its key on disk (created 0600 on first start, reused after) and
/// its registration at the CA, redone by itself when the CA has forgotten it (a reset staging
/// CA, a restarted pebble) instead of failing every request from then on.
final class AccountManager: Sendable {
    let client: ACMEClient
    private let settings: SignerConfiguration.ACMESettings
    private let logger: Logger
    private let registered = Mutex(false)

    /// - Parameter key: from `loadOrCreateKey(at:logger:)`.
    init(settings: SignerConfiguration.ACMESettings, key: ACMEAccountKey, httpClient: any ACMEHTTPClient, logger: Logger) {
        self.settings = settings
        self.logger = logger
        client = ACMEClient(
            directoryURL: settings.directoryURL, accountKey: key, httpClient: httpClient,
            additionalHosts: Set(settings.additionalHosts), logger: logger)
    }

    var isRegistered: Bool { registered.withLock { $0 } }

    /// Registers the account (the CA answers with the existing one for a known key).
    func register(deadline: ContinuousClock.Instant) async throws {
        let binding = try settings.externalAccountBinding.map { try ExternalAccountBinding(keyID: $0.keyID, macKey: $0.macKey) }
        _ = try await client.registerAccount(
            contact: settings.contact, agreeToTermsOfService: true, externalAccountBinding: binding, deadline: deadline)
        registered.withLock { $0 = true }
    }

    /// Runs `operation` with a registered account; when the CA says the account does not
    /// exist, registers again and runs it once more.
    func withAccount<Result: Sendable>(deadline: ContinuousClock.Instant, _ operation: (ACMEClient) async throws -> Result) async throws -> Result {
        if !isRegistered { try await register(deadline: deadline) }
        do {
            return try await operation(client)
        } catch let error as ACMEError where error.problem?.acmeErrorName == "accountDoesNotExist" {
            logger.notice("the CA no longer knows our account; registering again", metadata: ["acme.directory": "\(settings.directoryURL)"])
            registered.withLock { $0 = false }
            try await register(deadline: deadline)
            return try await operation(client)
        }
    }

    /// Reads the account key, or makes a P-256 key and stores it 0600 in a 0700 directory.
    /// A key readable by others is refused, as OpenSSH refuses such identity files.
    static func loadOrCreateKey(at path: String, logger: Logger) throws -> ACMEAccountKey {
        if let mode = SecureFile.permissions(of: path) {
            guard mode & 0o077 == 0 else {
                throw SignerError(.configuration, "the account key \(path) is readable by others (mode \(String(mode, radix: 8))); run chmod 600 \(path)")
            }
            do {
                return try ACMEAccountKey(pem: String(decoding: try SecureFile.read(path), as: UTF8.self))
            } catch {
                throw SignerError(.configuration, "cannot use the account key \(path): \(error); restore it from a backup, or move it away to register a new account")
            }
        }
        let key = ACMEAccountKey.generateP256()
        do {
            try SecureFile.write(Array(key.pemRepresentation.utf8), to: path)
        } catch {
            throw SignerError(.accountKey, "cannot store a new account key at \(path): \(error); check the directory's owner, or set acme.account_key_path")
        }
        logger.info("created a new ACME account key", metadata: ["acme.account_key.path": "\(path)", "acme.account_key.thumbprint": "\(key.thumbprint)"])
        return key
    }
}
