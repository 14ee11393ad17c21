import CertificateSupport
import FuzzSupport

let subject = try? DistinguishedNamePattern("CN=go.eval.example.com, O=Example")

/// Reads the bytes as the signer reads a request body (PEM by its armour, else DER) and asks every
/// policy question of what parsed: no input may crash or trap, and nothing that fails to parse
/// may be treated as having passed.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let request = try? SigningRequest(bytes: bytes) else { return 0 }
    _ = request.keyAndExtensionViolations
    for name in request.dnsNames + request.commonNames { _ = DNSNameSyntax.problem(with: name) }
    _ = request.otherSubjectAlternativeNames
    _ = request.hasSubjectAlternativeNameExtension
    _ = subject?.matches(request.csr.subject)
    if let spki = try? request.subjectPublicKeyInfoDER() { _ = PerInstallName.names(for: ["go.eval.example.com"], subjectPublicKeyInfoDER: spki) }
    return 0
}

/// The entry point SwiftPM links as `main`.
@_cdecl("FuzzCSRPolicy_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runLibFuzzer(argc, argv) { data, size in data.map { fuzz($0, size) } ?? 0 }
}
