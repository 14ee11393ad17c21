#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CertificateSupport
import Logging
import SwiftASN1
import X509

/// The embeddable agent: gets the product's certificate from the signer, installs it without
/// ever leaving a mismatched key and certificate, renews it when due, and reloads the product.
/// The key is made here and never leaves the machine; only the CSR is sent.
public struct Agent: Sendable {
    public let configuration: AgentConfiguration
    public let files: CertificateFiles
    let product: ProductAccount
    let environment: [String: String]
    let logger: Logger
    /// Short lines for a person watching (`generating key`, `requesting`...); the CLI prints them.
    let progress: @Sendable (String) -> Void

    /// Who the product is; throws `configuration` when `owner` or `group` names no account.
    public init(
        configuration: AgentConfiguration, environment: [String: String], logger: Logger,
        progress: @escaping @Sendable (String) -> Void = { _ in }
    ) throws {
        self.configuration = configuration
        let product = try ProductAccount(user: configuration.owner, group: configuration.group)
        self.product = product
        self.files = CertificateFiles(directory: configuration.directory, productGroup: product.gid, productUser: product.uid)
        self.environment = environment
        self.logger = logger
        self.progress = progress
    }

    /// What an `issue` or `renew` did.
    public struct Outcome: Sendable {
        public var names: [String]
        public var notAfter: Date
        /// The installed leaf's serial, as swift-certificates prints it (hex bytes, colons between).
        public var serial: String = ""
        public var reloadFailures: [String]
    }

    /// The names the certificate is for: the well-known name, or `<label>.<name>` per install.
    public func names(for key: Certificate.PrivateKey) throws -> [String] {
        switch configuration.naming {
        case .shared: [configuration.name]
        case .perInstall: try PerInstallName.names(for: [configuration.name], publicKey: key.publicKey)
        }
    }

    /// Gets a certificate for the installed key (made now if there is none, or when `rotateKey`),
    /// checks it, installs it and reloads the product. Existing files are untouched on failure.
    public func issue(rotateKey: Bool = false) async throws -> Outcome {
        try files.migrateEarlierLayout()
        var state = AgentState.load(from: files)
        state.lastAttempt = Date()
        do {
            let outcome = try await obtainAndInstall(rotateKey: rotateKey)
            state.lastSuccess = Date()
            state.lastError = nil
            state.isFallback = false
            try? state.save(to: files)
            return outcome
        } catch {
            state.lastError = "\(error)"
            try? state.save(to: files)
            throw error
        }
    }

    private func obtainAndInstall(rotateKey: Bool) async throws -> Outcome {
        let key: Certificate.PrivateKey
        if !rotateKey, let installed = try files.installedKey() {
            key = installed
        } else if let pending = try files.pendingKey(), KeyKind(pending.publicKey).isRSA == (configuration.keyType != .p256) {
            key = pending
        } else {
            progress("generating the key (\(configuration.keyType))")
            key = try configuration.keyType.generate()
            try files.storePendingKey(key)
        }
        let names = try names(for: key)
        if rotateKey, configuration.naming == .perInstall {
            progress("a new key in per-install mode means a new name: \(names[0])")
        }
        let csr = try SigningRequest.build(dnsNames: names, key: key)
        let replacing = try replacement(csrDER: csr, key: key, names: names)
        progress("requesting a certificate for \(names.joined(separator: ", ")) from \(configuration.signerURL)\(replacing == nil ? "" : " (a renewal)")")
        let client = try SignerClient(configuration: configuration, environment: environment, logger: logger)
        let pem: String
        do {
            pem = try await client.sign(csrDER: csr, labels: configuration.labels, replacing: replacing, deadline: .now + configuration.deadline, progress: progress)
            await client.shutdown()
        } catch {
            await client.shutdown()
            throw error
        }
        progress("verifying the certificate")
        let roots = try AnswerCheck.loadRoots(extraBundle: configuration.extraTrustBundle)
        let chain = try await AnswerCheck(roots: roots).check(pem: pem, key: key, names: names)
        progress("installing into \(files.directory)")
        try files.install(key: key, chain: chain)
        logger.info("certificate installed", metadata: [
            "agent.cert.names": "\(names.joined(separator: ","))",
            "agent.cert.not_after": "\(chain[0].notValidAfter)",
            "agent.key.fingerprint": "\(key.publicKey.fingerprint)",
        ])
        let failures = reload()
        return Outcome(names: names, notAfter: chain[0].notValidAfter, serial: chain[0].serialNumber.description, reloadFailures: failures)
    }

    /// What a renewal names as the certificate it replaces, so the signer can pass its ARI CertID
    /// to the CA as `replaces`, which exempts the renewal from the CA's limits: the installed
    /// leaf when it is a CA's certificate for the same names. With the same key the CSR proves
    /// the leaf is ours; with a new key (`--rotate-key`) the installed key signs the new CSR
    /// (`ReplacementProof`). New names (a new key in per-install mode) make a new certificate.
    private func replacement(csrDER: [UInt8], key: Certificate.PrivateKey, names: [String]) throws -> Replacement? {
        guard !AgentState.load(from: files).isFallback, let leaf = try files.installedChain()?.first,
              Set(leaf.dnsNames) == Set(names)
        else { return nil }
        var serializer = DER.Serializer()
        try serializer.serialize(leaf)
        if leaf.publicKey == key.publicKey { return Replacement(certificateDER: serializer.serializedBytes, proof: nil) }
        guard let installedKey = try files.installedKey(), installedKey.publicKey == leaf.publicKey else { return nil }
        let proof = try ReplacementProof.sign(csrDER: csrDER, with: installedKey)
        return Replacement(certificateDER: serializer.serializedBytes, proof: proof)
    }

    /// Renews when due (see `RenewalCache`); returns nil when it was not due. Touches no network
    /// while the cached window is fresh and not reached.
    public func renew(force: Bool = false, rotateKey: Bool = false, now: Date = Date()) async throws -> Outcome? {
        try files.migrateEarlierLayout()
        guard let leaf = try files.installedChain()?.first else {
            progress("no certificate installed yet; issuing one")
            return try await issue(rotateKey: rotateKey)
        }
        if !force {
            var decision = localDecision(leaf: leaf, now: now)
            if decision == .askSigner {
                let cache = await refreshCache(leaf: leaf, now: now)
                decision = RenewalCache.decide(leaf: leaf, cache: cache, isFallback: AgentState.load(from: files).isFallback, now: now)
            }
            switch decision {
            case .notDue(let until):
                progress(Self.notDueLine(until: until))
                return nil
            case .due(let reason):
                progress("renewing: \(reason)")
            case .askSigner:
                progress("renewing: no renewal window available")
            }
        }
        return try await issue(rotateKey: rotateKey)
    }

    /// `renew`'s answer when the installed files and the cached window alone say nothing is due:
    /// reports it and returns true. False means `renew` has work to do or must ask the signer.
    /// Synchronous and without network, so a caller can answer the timer's usual run before it
    /// starts any task (the CLI does).
    public func finishIfNotDue(now: Date = Date()) -> Bool {
        guard let leaf = try? files.installedChain()?.first, case .notDue(let until) = localDecision(leaf: leaf, now: now) else { return false }
        progress(Self.notDueLine(until: until))
        return true
    }

    /// The decision from the installed certificate, its state and the cached window alone.
    private func localDecision(leaf: Certificate, now: Date) -> RenewalDecision {
        RenewalCache.decide(leaf: leaf, cache: readCache(), isFallback: AgentState.load(from: files).isFallback, now: now)
    }

    private static func notDueLine(until: Date) -> String { "not due; next renewal at \(until)" }

    /// Runs the reload methods; failures are returned (the files stay installed).
    func reload() -> [String] {
        guard !configuration.reloads.isEmpty else { return [] }
        progress("reloading the product")
        return Reloader(methods: configuration.reloads, files: files, product: product, environment: environment, logger: logger).reload()
    }

    func readCache() -> RenewalCache? {
        guard let bytes = files.readStateFile(RenewalCache.fileName) else { return nil }
        return try? JSONDecoder.agent.decode(RenewalCache.self, from: Data(bytes))
    }

    /// Asks the signer for the window and caches it; falls back to the computed window when the
    /// signer cannot answer (and caches that too, so an unreachable signer is not asked every run).
    private func refreshCache(leaf: Certificate, now: Date) async -> RenewalCache {
        var cache = RenewalCache(computedFor: leaf, now: now)
        do {
            var serializer = DER.Serializer()
            try serializer.serialize(leaf)
            let client = try SignerClient(configuration: configuration, environment: environment, logger: logger)
            do {
                let window = try await client.renewalInfo(certificateDER: serializer.serializedBytes, deadline: .now + .seconds(30))
                cache = try RenewalCache(serial: leaf.serialNumber.description, window: window, fetchedAt: now)
            } catch {
                await client.shutdown()
                throw error
            }
            await client.shutdown()
        } catch {
            logger.info("renewal window from the signer unavailable; using the certificate's lifetime", metadata: ["error": "\(error)"])
        }
        if let bytes = try? JSONEncoder.agent.encode(cache) {
            try? files.writeStateFile(Array(bytes), to: RenewalCache.fileName)
        }
        return cache
    }
}
