import CertificateSupport
import Crypto
import SignerProtocol
@testable import Signer
import Testing
import TestSupport
import X509

struct ZoneTableTests {
    static let name = "go.eval.example.com"

    static func table(naming: String = "shared", requireSAN: Bool = true) throws -> ZoneTable {
        let text = ConfigurationTests.minimal + "\nnaming = \"\(naming)\"\nrequire_san = \(requireSAN)\n"
        return ZoneTable(zones: try SignerConfiguration(toml: text).zones)
    }

    static func request(cn: String?, sans: [String]?, key: P256.Signing.PrivateKey = .init()) throws -> SigningRequest {
        let subject = try DistinguishedName { if let cn { CommonName(cn) } }
        return try SigningRequest(der: try TestCertificates.csr(subject: subject, subjectAlternativeNames: sans.map { $0.map(GeneralName.dnsName) }, key: .init(key)))
    }

    /// The problem type `body` was refused with; nil when it was approved.
    func problem(_ body: () throws -> ZoneTable.Approval) -> String? {
        do {
            _ = try body()
            return nil
        } catch {
            return (error as? Problem)?.type ?? "not a problem: \(error)"
        }
    }

    @Test func sharedNameIsApproved() throws {
        let table = try Self.table()
        #expect(try table.approve(Self.request(cn: Self.name, sans: [Self.name])).names == [Self.name])
        #expect(try table.approve(Self.request(cn: Self.name, sans: [Self.name])).zone.name == "eval.example.com")
    }

    /// The CSR goes to the CA as it is, so its names must already be in the CA's form: capitals,
    /// a trailing dot, a U-label or an empty label are refused here, not by the CA.
    @Test(arguments: ["Go.Eval.Example.Com", "go.eval.example.com.", "GO.EVAL.EXAMPLE.COM.", "go..eval.example.com", "-go.eval.example.com"])
    func namesNotInTheCAsFormAreRefused(name: String) throws {
        let refused = problem { try Self.table().approve(Self.request(cn: Self.name, sans: [name])) }
        #expect(refused == ProblemType.namesNotAllowed.uri, "\(name): \(refused ?? "approved")")
    }

    @Test func cnOnlyCSRsDependOnTheZoneSetting() throws {
        let cnOnly = try Self.request(cn: Self.name, sans: nil)
        #expect(problem { try Self.table().approve(cnOnly) } == ProblemType.missingSAN.uri)
        #expect(try Self.table(requireSAN: false).approve(cnOnly).names == [Self.name])
        // Even when allowed, the CN must be the allowed name.
        let otherCN = try Self.request(cn: "x.eval.example.com", sans: nil)
        #expect(problem { try Self.table(requireSAN: false).approve(otherCN) } == ProblemType.subjectNotAllowed.uri)
    }

    @Test func namesMustBeExactlyTheAllowedSet() throws {
        let table = try Self.table()
        #expect(problem { try table.approve(Self.request(cn: Self.name, sans: [Self.name, Self.name])) } == ProblemType.namesNotAllowed.uri)
        #expect(problem { try table.approve(Self.request(cn: Self.name, sans: ["x.eval.example.com"])) } == ProblemType.namesNotAllowed.uri)
        #expect(problem { try table.approve(Self.request(cn: nil, sans: [Self.name])) } == ProblemType.subjectNotAllowed.uri)
    }

    @Test func perInstallNamesFollowTheKey() throws {
        let table = try Self.table(naming: "per-install")
        let key = P256.Signing.PrivateKey()
        let label = PerInstallName.label(subjectPublicKeyInfoDER: try Certificate.PublicKey(key.publicKey).subjectPublicKeyInfoDER())
        let own = "\(label).\(Self.name)"
        #expect(try table.approve(Self.request(cn: own, sans: [own], key: key)).names == [own])
        #expect(problem { try table.approve(Self.request(cn: own, sans: [own])) } == ProblemType.subjectNotAllowed.uri)
        #expect(problem { try table.approve(Self.request(cn: Self.name, sans: [Self.name], key: key)) } == ProblemType.subjectNotAllowed.uri)
        #expect(problem { try table.approve(Self.request(cn: own, sans: [own, Self.name], key: key)) } == ProblemType.namesNotAllowed.uri)
    }
}
