import X509

/// The ARI certificate identifier (RFC 9773 §4.1): base64url(AKI keyIdentifier) "." base64url(serial).
/// The CA's renewal-info URL ends in it, and a renewal's `replaces` names the certificate by it.
public struct ARICertificateID: Hashable, Sendable, CustomStringConvertible {
    public let value: String

    /// - Parameter serialNumber: the serial's DER INTEGER content octets (two's complement, so a
    ///   leading zero where the high bit is set); other big-endian forms are normalised to that.
    public init(authorityKeyIdentifier: [UInt8], serialNumber: [UInt8]) {
        var serial = Array(serialNumber.drop { $0 == 0 })
        if serial.isEmpty || serial[0] & 0x80 != 0 { serial.insert(0, at: 0) }
        value = Base64URL.encode(authorityKeyIdentifier) + "." + Base64URL.encode(serial)
    }

    public init(certificate: Certificate) throws {
        guard let aki = try certificate.extensions.authorityKeyIdentifier?.keyIdentifier else {
            throw CertificateSupportError(.unreadable, "the certificate has no Authority Key Identifier, so it has no ARI identifier")
        }
        self.init(authorityKeyIdentifier: Array(aki), serialNumber: Array(certificate.serialNumber.bytes))
    }

    public var description: String { value }
}
