import ACME
import CertificateSupport
import Crypto
import _CryptoExtras
import DNSServer
import Foundation
import Logging
import Testing
import TestSupport
import X509

/// The ACME client against Debian's pebble, which validates DNS-01 against our own DNS server.
/// Nothing is mocked: real CA, real DNS, real TLS.
@Suite(.timeLimit(.minutes(5)))
struct ACMEPebbleTests {
    static let logger = Logger(label: "test.acme", factory: { _ in SwiftLogNoOpLogHandler() })
    static let name = "go.eval.example.com"

    /// Runs `body` with our DNS server and a pebble that validates against it.
    static func withPebble(
        _ options: Pebble.Options = .init(),
        _ body: @Sendable (_ pebble: Pebble, _ store: ZoneStore, _ transport: AsyncHTTPClientTransport) async throws -> Void
    ) async throws {
        let store = try TestZone.store()
        try await withRunningDNSServer(store: store) { dnsPort in
            let pebble = try await Pebble(dnsPort: dnsPort, options: options)
            defer { pebble.stop() }
            let transport = try pebble.makeTransport()
            do {
                try await body(pebble, store, transport)
                try await transport.shutdown()
            } catch {
                try? await transport.shutdown()
                throw error
            }
        }
    }

    static func registeredClient(_ pebble: Pebble, _ transport: AsyncHTTPClientTransport, key: ACMEAccountKey = .generateP256()) async throws -> ACMEClient {
        // A short request timeout: a CA that stops answering mid-order must not hold a test for long.
        let client = ACMEClient(directoryURL: pebble.directoryURL, accountKey: key, httpClient: transport, requestTimeout: .seconds(5), logger: logger)
        _ = try await client.registerAccount(contact: ["mailto:ops@example.com"], agreeToTermsOfService: true)
        return client
    }

    /// Issues for `name` with `key`'s CSR and checks the chain and the leaf's key.
    static func issueAndVerify(_ client: ACMEClient, store: ZoneStore, rootPEM: String, key: Certificate.PrivateKey) async throws {
        let csr = try TestCertificates.csr(for: [name], key: key)
        let issued = try await client.issueCertificate(
            IssuanceRequest(dnsNames: [name], csrDER: csr), solver: ZoneStoreSolver(store: store), deadline: .now + .seconds(60))
        let chain = try TestCertificates.chain(fromPEM: issued.pemChain)
        #expect(chain.count >= 2, "leaf and intermediate")
        #expect(chain[0].publicKey == key.publicKey, "the leaf carries the CSR's key")
        #expect(try chain[0].extensions.subjectAlternativeNames?.contains(.dnsName(name)) == true)
        #expect(try await TestCertificates.verify(chain: chain, rootPEM: rootPEM), "the chain verifies against pebble's root")
        #expect(store.txtValues(at: TestZone.challenge).isEmpty, "challenge values are withdrawn")
    }

    @Test func issuesForP256AndRSA4096CSRs() async throws {
        try await Self.withPebble(.init(nonceRejectPercent: 0)) { pebble, store, transport in
            let client = try await Self.registeredClient(pebble, transport)
            let root = try await pebble.rootPEM()
            try await Self.issueAndVerify(client, store: store, rootPEM: root, key: Certificate.PrivateKey(P256.Signing.PrivateKey()))
            try await Self.issueAndVerify(client, store: store, rootPEM: root, key: Certificate.PrivateKey(try _RSA.Signing.PrivateKey(keySize: .bits4096)))
        }
    }

    @Test func repeatedIssuancesSucceedWithPebblesDefaultsAndReusedAuthorizations() async throws {
        // Pebble's defaults: 5% of nonces rejected, half the valid authorizations reused.
        try await Self.withPebble { pebble, store, transport in
            let client = try await Self.registeredClient(pebble, transport, key: .rsa(try _RSA.Signing.PrivateKey(keySize: .bits2048)))
            let root = try await pebble.rootPEM()
            for _ in 0..<6 {
                try await Self.issueAndVerify(client, store: store, rootPEM: root, key: Certificate.PrivateKey(P256.Signing.PrivateKey()))
            }
        }
    }

    @Test func issuancesCompleteWhenHalfOfAllNoncesAreRejected() async throws {
        try await Self.withPebble(.init(nonceRejectPercent: 50)) { pebble, store, transport in
            let client = try await Self.registeredClient(pebble, transport)
            let root = try await pebble.rootPEM()
            for _ in 0..<3 {
                try await Self.issueAndVerify(client, store: store, rootPEM: root, key: Certificate.PrivateKey(P256.Signing.PrivateKey()))
            }
        }
    }

    @Test func externalAccountBindingIsAcceptedAndItsAbsenceRefused() async throws {
        let macKey = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
        try await Self.withPebble(.init(nonceRejectPercent: 0, externalAccountMACKeys: ["kid-1": macKey])) { pebble, _, transport in
            let unbound = ACMEClient(directoryURL: pebble.directoryURL, accountKey: .generateP256(), httpClient: transport, logger: Self.logger)
            #expect(try await unbound.directory().meta?.externalAccountRequired == true)
            await #expect { _ = try await unbound.registerAccount(agreeToTermsOfService: true) } throws: { error in
                (error as? ACMEError)?.code == .refused && (error as? ACMEError)?.problem?.acmeErrorName == "externalAccountRequired"
            }
            let wrongKey = ACMEClient(directoryURL: pebble.directoryURL, accountKey: .generateP256(), httpClient: transport, logger: Self.logger)
            await #expect { _ = try await wrongKey.registerAccount(agreeToTermsOfService: true, externalAccountBinding: try ExternalAccountBinding(keyID: "kid-1", macKey: Base64URL.encode(Array(repeating: UInt8(7), count: 32)))) } throws: { error in
                (error as? ACMEError)?.code == .refused
            }
            let bound = ACMEClient(directoryURL: pebble.directoryURL, accountKey: .generateP256(), httpClient: transport, logger: Self.logger)
            let account = try await bound.registerAccount(agreeToTermsOfService: true, externalAccountBinding: try ExternalAccountBinding(keyID: "kid-1", macKey: macKey))
            #expect(account.status == .valid)
            #expect(try await bound.lookUpAccount()?.url == account.url, "onlyReturnExisting finds it again")
        }
    }

    @Test func anUnknownAccountIsNotFoundWithoutBeingCreated() async throws {
        try await Self.withPebble(.init(nonceRejectPercent: 0)) { pebble, _, transport in
            let client = ACMEClient(directoryURL: pebble.directoryURL, accountKey: .generateP256(), httpClient: transport, logger: Self.logger)
            let found = try await client.lookUpAccount()
            #expect(found == nil)
        }
    }

    @Test func aMissingTXTRecordIsAValidationFailureNotAHang() async throws {
        struct SilentSolver: DNS01Solver {
            func present(name: String, value: String) async throws {}
            func cleanUp(name: String, value: String) async throws {}
        }
        try await Self.withPebble(.init(nonceRejectPercent: 0, authorizationReusePercent: 0)) { pebble, _, transport in
            let client = try await Self.registeredClient(pebble, transport)
            let csr = try TestCertificates.csr(for: [Self.name], key: Certificate.PrivateKey(P256.Signing.PrivateKey()))
            let started = ContinuousClock.now
            await #expect { _ = try await client.issueCertificate(IssuanceRequest(dnsNames: [Self.name], csrDER: csr), solver: SilentSolver(), deadline: .now + .seconds(30)) } throws: { error in
                guard let error = error as? ACMEError else { return false }
                return error.code == .validationFailed && error.problem != nil
            }
            #expect(ContinuousClock.now - started < .seconds(20))
        }
    }

    @Test func pebbleStoppedMidOrderIsACleanErrorNotAHang() async throws {
        /// Publishes, then stops the CA, so the next request finds nobody listening.
        struct CAKillingSolver: DNS01Solver {
            let inner: ZoneStoreSolver
            let pebble: Pebble
            func present(name: String, value: String) async throws {
                try await inner.present(name: name, value: value)
                pebble.stop()
            }
            func cleanUp(name: String, value: String) async throws { try await inner.cleanUp(name: name, value: value) }
        }
        try await Self.withPebble(.init(nonceRejectPercent: 0, authorizationReusePercent: 0)) { pebble, store, transport in
            let client = try await Self.registeredClient(pebble, transport)
            let csr = try TestCertificates.csr(for: [Self.name], key: Certificate.PrivateKey(P256.Signing.PrivateKey()))
            let started = ContinuousClock.now
            await #expect { _ = try await client.issueCertificate(IssuanceRequest(dnsNames: [Self.name], csrDER: csr), solver: CAKillingSolver(inner: ZoneStoreSolver(store: store), pebble: pebble), deadline: .now + .seconds(60)) } throws: { error in
                guard let error = error as? ACMEError else { return false }
                return error.code == .unavailable && error.isTransient
            }
            // Well before the 60 s deadline (about 10 s on a quiet machine): a stopped CA is an
            // error, not a wait for the deadline. The bound leaves room for a loaded machine.
            #expect(ContinuousClock.now - started < .seconds(30))
            #expect(store.txtValues(at: TestZone.challenge).isEmpty, "the value is withdrawn after the failure")
        }
    }
}
