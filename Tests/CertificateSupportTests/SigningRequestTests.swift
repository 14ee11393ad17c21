import _CryptoExtras
import CertificateSupport
import Crypto
import Foundation
import SwiftASN1
import Testing
import TestSupport
import X509

struct SigningRequestTests {
    static let name = "go.eval.example.com"

    @Test func readsPEMAndDERAlike() throws {
        let der = try TestCertificates.csr(for: [Self.name], key: .init(P256.Signing.PrivateKey()))
        let pem = TestCertificates.pem(der)
        let fromPEM = try SigningRequest(pem: pem)
        let fromDER = try SigningRequest(der: der)
        let legacy = try SigningRequest(pem: pem.replacingOccurrences(of: "CERTIFICATE REQUEST", with: "NEW CERTIFICATE REQUEST"))
        #expect(fromPEM.derBytes == der && fromDER.derBytes == der && legacy.derBytes == der)
        #expect(try SigningRequest(bytes: der).dnsNames == [Self.name])
        #expect(try SigningRequest(bytes: Array(pem.utf8)).commonNames == [Self.name])
        #expect(fromPEM.keyKind == .p256)
        #expect(fromPEM.keyAndExtensionViolations.isEmpty)
    }

    /// Names are read as written (the CA sees the CSR, not our reading of it) and judged by
    /// `DNSNameSyntax`.
    @Test func namesAreReadAsWrittenAndJudged() throws {
        let der = try TestCertificates.csr(
            subject: try DistinguishedName { CommonName("GO.Eval.example.com.") },
            subjectAlternativeNames: [.dnsName("GO.Eval.example.com.")], key: .init(P256.Signing.PrivateKey()))
        let request = try SigningRequest(der: der)
        #expect(request.dnsNames == ["GO.Eval.example.com."])
        #expect(request.commonNames == ["GO.Eval.example.com."])
        #expect(DNSNameSyntax.problem(with: request.dnsNames[0]) != nil)
        #expect(DNSNameSyntax.problem(with: Self.name) == nil)
        #expect(DNSNameSyntax.problem(with: "xn--g-eka.eval.example.com") == nil, "A-labels are LDH")
        #expect(DNSNameSyntax.problem(with: String(repeating: "a", count: 64) + ".example.com") != nil)
    }

    @Test func refusesOtherPEMBlocksAndGarbage() throws {
        let certificate = try TestCertificates.localhostServerIdentity().certificatePEM
        #expect(throws: CertificateSupportError.self) { try SigningRequest(pem: certificate) }
        #expect(throws: CertificateSupportError.self) { try SigningRequest(bytes: Array("garbage".utf8)) }
        #expect(throws: CertificateSupportError.self) { try SigningRequest(der: [0x30, 0x03, 0x02, 0x01, 0x00]) }
    }

    @Test func keyAndExtensionPolicy() throws {
        let subject = try DistinguishedName { CommonName(Self.name) }
        func violations(_ key: Certificate.PrivateKey, extra: [Certificate.Extension] = []) throws -> [String] {
            try SigningRequest(der: try TestCertificates.csr(subject: subject, subjectAlternativeNames: [.dnsName(Self.name)], extraExtensions: extra, key: key)).keyAndExtensionViolations
        }
        #expect(try violations(.init(P384.Signing.PrivateKey())).isEmpty)
        #expect(try violations(.init(_RSA.Signing.PrivateKey(keySize: .bits2048))).isEmpty)
        #expect(try violations(.init(P521.Signing.PrivateKey())).count == 1)
        let serverAuth = try Certificate.Extension(ExtendedKeyUsage([.serverAuth, .clientAuth]), critical: false)
        #expect(try violations(.init(P256.Signing.PrivateKey()), extra: [serverAuth]).isEmpty)
        let codeSigning = try Certificate.Extension(ExtendedKeyUsage([.codeSigning]), critical: false)
        #expect(try violations(.init(P256.Signing.PrivateKey()), extra: [codeSigning]).count == 1)
        let notCA = try Certificate.Extension(BasicConstraints.notCertificateAuthority, critical: true)
        #expect(try violations(.init(P256.Signing.PrivateKey()), extra: [notCA]).isEmpty)
        let ca = try Certificate.Extension(BasicConstraints.isCertificateAuthority(maxPathLength: 0), critical: true)
        #expect(try violations(.init(P256.Signing.PrivateKey()), extra: [ca]).count == 1)
        let unknown = Certificate.Extension(oid: [1, 3, 6, 1, 4, 1, 99999, 1], critical: false, value: [0x05, 0x00])
        #expect(try violations(.init(P256.Signing.PrivateKey()), extra: [unknown]).count == 1)
    }
}
