import X509

extension Certificate {
    /// The DNS names in the subject alternative name extension; throws when the extension is
    /// there but does not parse, so a check that must fail closed can.
    public func certifiedDNSNames() throws -> [String] {
        guard let names = try extensions.subjectAlternativeNames else { return [] }
        return names.compactMap { name in
            if case .dnsName(let dns) = name { return dns }
            return nil
        }
    }

    /// The same for display: empty when the extension is absent or does not parse.
    public var dnsNames: [String] { (try? certifiedDNSNames()) ?? [] }
}
