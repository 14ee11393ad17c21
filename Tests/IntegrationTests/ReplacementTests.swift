import CertificateSupport
import Crypto
import Foundation
import Testing
import TestSupport
import X509

/// A renewal is exempt from the CA budgets only when it is the requester's own: the certificate
/// it names was issued by this signer (provenance) and carries the CSR's key (possession), and
/// it is the first renewal of that certificate. Against real pebble behind a front that
/// advertises ARI and answers `alreadyReplaced` to a CertID named twice, as Let's Encrypt does.
/// Budget: 3 new certificates per name set, `shared` naming (every install asks for one name).
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ReplacementTests {
    static let name = SignerHarness.name
    static let budget = 3

    static func harness(budget: Int = budget) async throws -> SignerHarness {
        var options = SignerHarness.Options()
        options.front = true
        options.budgets.nameSet = budget
        let harness = try await SignerHarness(options)
        harness.front?.refuseRepeatedReplaces()
        return harness
    }

    /// Asks for a certificate for `key`, naming `replacing` as the one it replaces; `proof`
    /// signs the CSR (its DER) for a renewal with a new key.
    static func request(
        _ harness: SignerHarness, key: P256.Signing.PrivateKey, replacing: Certificate? = nil, proof: (([UInt8]) throws -> [UInt8])? = nil
    ) async throws -> CurlResponse {
        let csr = try CALimitsTests.csr(harness, key: key)
        var headers: [String] = []
        if let replacing { headers.append("X-CSRProxy-Replaces: " + Base64URL.encode(try replacing.serializeAsPEM().derBytes)) }
        if let proof {
            let der = try Array(Data(contentsOf: URL(fileURLWithPath: csr)))
            headers.append("X-CSRProxy-Replaces-Proof: " + Base64URL.encode(try proof(der)))
        }
        return try await CALimitsTests.sign(harness, csr, headers: headers)
    }

    static func leaf(_ response: CurlResponse) throws -> Certificate {
        guard response.status == 200, let leaf = try TestCertificates.chain(fromPEM: response.text).first else {
            throw TestFailure("expected a certificate, got \(response.status): \(response.text)")
        }
        return leaf
    }

    /// What pebble was asked to order, from the front: exempt renewals and new certificates.
    static func orders(_ harness: SignerHarness) -> (exempt: Int, counted: Int) {
        let placed = harness.front?.newOrders ?? []
        let exempt = placed.filter { $0["replaces"] != nil }.count
        return (exempt, placed.count - exempt)
    }

    /// A certificate the requester made itself for the zone's name, with its own key and an
    /// Authority Key Identifier (so it has an ARI CertID).
    static func selfMade(key: P256.Signing.PrivateKey) throws -> Certificate {
        try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: Date() - 60, notValidAfter: Date() + 86_400 * 60,
            issuer: try DistinguishedName { CommonName(name) }, subject: try DistinguishedName { CommonName(name) },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                AuthorityKeyIdentifier(keyIdentifier: ArraySlice(SHA256.hash(data: key.publicKey.derRepresentation).prefix(20)))
                SubjectAlternativeNames([.dnsName(name)])
            },
            issuerPrivateKey: .init(key))
    }

    /// Six strangers, each with a fresh key and a certificate it made itself, name it as the
    /// one they replace: none is exempt, so the budget stops them like any new certificate;
    /// the install's own renewal afterwards is exempt and succeeds.
    @Test func aSelfMadeCertificateExemptsNothing() async throws {
        let harness = try await Self.harness()
        defer { harness.stop() }
        let installKey = P256.Signing.PrivateKey()
        let installed = try Self.leaf(try await Self.request(harness, key: installKey))

        var statuses: [Int] = []
        for _ in 0..<6 {
            let key = P256.Signing.PrivateKey()
            statuses.append(try await Self.request(harness, key: key, replacing: try Self.selfMade(key: key)).status)
        }
        #expect(statuses.filter { $0 == 200 }.count == Self.budget - 1, "\(statuses)")
        #expect(statuses.filter { $0 == 429 }.count == 6 - (Self.budget - 1), "\(statuses)")
        #expect(Self.orders(harness).exempt == 0)
        #expect(Self.orders(harness).counted <= Self.budget)

        let renewal = try await Self.request(harness, key: installKey, replacing: installed)
        #expect(renewal.status == 200, "\(renewal.text)")
        #expect(Self.orders(harness).exempt == 1)
        #expect(harness.front?.newOrders.last?["replaces"] as? String == (try ARICertificateID(certificate: installed).value))
    }

    /// Six strangers send the install's public certificate (every certificate is in CT logs)
    /// with keys of their own: each is refused with 403 and nothing reaches the CA; the install's
    /// own renewal afterwards is exempt and succeeds.
    @Test func anotherInstallsCertificateExemptsNothing() async throws {
        let harness = try await Self.harness()
        defer { harness.stop() }
        let installKey = P256.Signing.PrivateKey()
        let installed = try Self.leaf(try await Self.request(harness, key: installKey))
        let ordersBefore = harness.front?.newOrderRequests.count ?? 0

        for _ in 0..<6 {
            let refused = try await Self.request(harness, key: P256.Signing.PrivateKey(), replacing: installed)
            #expect(refused.status == 403, "\(refused.text)")
            #expect(refused.problemType == "urn:csrproxy:problem:replaces-not-allowed")
        }
        #expect(harness.front?.newOrderRequests.count == ordersBefore, "a stranger's request reached the CA")

        let renewal = try await Self.request(harness, key: installKey, replacing: installed)
        #expect(renewal.status == 200, "\(renewal.text)")
        #expect(Self.orders(harness) == (exempt: 1, counted: 1))
    }

    /// A certificate exempts one renewal: naming it again (the same key, the same names) is a
    /// new certificate, counted, and ordered without `replaces`.
    @Test func aCertificateExemptsOneRenewalOnly() async throws {
        let harness = try await Self.harness()
        defer { harness.stop() }
        let key = P256.Signing.PrivateKey()
        let installed = try Self.leaf(try await Self.request(harness, key: key))
        #expect(try await Self.request(harness, key: key, replacing: installed).status == 200)
        #expect(Self.orders(harness) == (exempt: 1, counted: 1))

        let again = try await Self.request(harness, key: key, replacing: installed)
        #expect(again.status == 200, "\(again.text)")
        #expect(Self.orders(harness) == (exempt: 1, counted: 2), "the second renewal of one certificate must be counted")
        #expect(harness.front?.newOrders.last?["replaces"] == nil)
        #expect(!(harness.front?.newOrderRequests.contains { $0.status == 409 } ?? true), "the signer itself should have known, before the CA")
    }

    /// The CA answers `alreadyReplaced` (here scripted: another node, or a signer whose ledger
    /// was lost, renewed it before): the certificate is counted against the budget before it
    /// is ordered again, and refused with `budget-exhausted` when the budget is spent.
    @Test func alreadyReplacedIsCountedAndRefusedOnceTheBudgetIsSpent() async throws {
        let harness = try await Self.harness(budget: 2)
        defer { harness.stop() }
        let alreadyReplaced = ACMEFront.Fault(status: 409, type: "urn:ietf:params:acme:error:alreadyReplaced", retryAfterSeconds: nil)
        let key = P256.Signing.PrivateKey()
        let first = try Self.leaf(try await Self.request(harness, key: key))

        harness.front?.failNewOrders(alreadyReplaced)
        let second = try Self.leaf(try await Self.request(harness, key: key, replacing: first))
        #expect(Self.orders(harness) == (exempt: 0, counted: 2), "the new order after alreadyReplaced spends the budget's second place")

        harness.front?.failNewOrders(alreadyReplaced)
        let refused = try await Self.request(harness, key: key, replacing: second)
        #expect(refused.status == 429, "\(refused.text)")
        #expect(refused.problemType == "urn:csrproxy:problem:budget-exhausted")
        #expect(Self.orders(harness) == (exempt: 0, counted: 2), "no order past the budget")
    }

    /// `--rotate-key`: the new key's CSR cannot prove the old certificate is the requester's, the
    /// old key's signature over the new CSR does. With it the renewal is exempt; a proof by
    /// another key, or one over another CSR, is refused with 403 before any CA traffic.
    @Test func aRotatedKeyProvesItsCertificateWithTheOldKey() async throws {
        let harness = try await Self.harness()
        defer { harness.stop() }
        let oldKey = P256.Signing.PrivateKey()
        let installed = try Self.leaf(try await Self.request(harness, key: oldKey))
        let ordersBefore = harness.front?.newOrderRequests.count ?? 0

        let byAnotherKey = try await Self.request(harness, key: P256.Signing.PrivateKey(), replacing: installed) { csr in
            try ReplacementProof.sign(csrDER: csr, with: .init(P256.Signing.PrivateKey()))
        }
        #expect(byAnotherKey.status == 403, "\(byAnotherKey.text)")
        #expect(byAnotherKey.problemType == "urn:csrproxy:problem:replaces-not-allowed")

        let otherCSR = try TestCertificates.csr(for: [Self.name], key: .init(P256.Signing.PrivateKey()))
        let overAnotherCSR = try await Self.request(harness, key: P256.Signing.PrivateKey(), replacing: installed) { _ in
            try ReplacementProof.sign(csrDER: otherCSR, with: .init(oldKey))
        }
        #expect(overAnotherCSR.status == 403, "\(overAnotherCSR.text)")
        #expect(overAnotherCSR.problemType == "urn:csrproxy:problem:replaces-not-allowed")

        let noProof = try await Self.request(harness, key: P256.Signing.PrivateKey(), replacing: installed) { _ in [0x30, 0x00] }
        #expect(noProof.status == 403, "\(noProof.text)")
        #expect(harness.front?.newOrderRequests.count == ordersBefore, "a request without a valid proof reached the CA")

        let rotated = try await Self.request(harness, key: P256.Signing.PrivateKey(), replacing: installed) { csr in
            try ReplacementProof.sign(csrDER: csr, with: .init(oldKey))
        }
        #expect(rotated.status == 200, "\(rotated.text)")
        #expect(Self.orders(harness) == (exempt: 1, counted: 1))
        #expect(harness.front?.newOrders.last?["replaces"] as? String == (try ARICertificateID(certificate: installed).value))
    }

    /// The CA has issued, and PostgreSQL goes away before the signer records the certificate in
    /// the shared ledger: the requester still gets its certificate, the record waits on the
    /// node's disk (it survives SIGKILL), and the shared ledger holds it once PostgreSQL is back.
    @Test func anIssuedCertificateOutlivesThePostgresLedgersOutage() async throws {
        // Restarted after a SIGKILL, the node waits for its own name's lease: 5 s here.
        let cluster = try await SignerCluster(nodes: 1, nodeLeaseSeconds: 5, front: true)
        defer { cluster.stop() }
        let front = try #require(cluster.front)
        front.holdDownloads()
        let answer = Task { try await cluster.requestCertificate(node: 0) }
        let waitedFrom = ContinuousClock.now
        while front.heldDownloads == 0, ContinuousClock.now - waitedFrom < .seconds(30) { try await Task.sleep(for: .milliseconds(20)) }
        try #require(front.heldDownloads == 1, "the CA never issued")
        cluster.postgres.stop()
        front.releaseDownloads()
        let response = try await answer.value
        let leaf = try Self.leaf(response)
        let id = try ARICertificateID(certificate: leaf).value

        // Only what is on disk survives.
        cluster.kill(0)
        let outbox = cluster.workDirectory.appendingPathComponent("node1/shared-ledger-outbox.jsonl").path
        #expect(try String(contentsOfFile: outbox, encoding: .utf8).contains(id), "the record is not kept on the node")
        try await cluster.postgres.start()
        try await cluster.start(0)
        let back = ContinuousClock.now
        var recorded: String?
        while ContinuousClock.now - back < .seconds(20) {
            recorded = try await cluster.postgres.query("SELECT count(*) FROM csrproxy_ledger WHERE kind = 'certificate' AND certificate_id = '\(id)'")
            if recorded == "1" { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(recorded == "1", "the shared ledger does not hold the certificate issued during the outage")
        #expect(try String(contentsOfFile: outbox, encoding: .utf8).isEmpty, "the outbox still holds what the shared ledger took")
    }
}
