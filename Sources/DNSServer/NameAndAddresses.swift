import DNSCodec

/// `NAME[=ADDRESS,...]`, the way configuration files and flags write a name server with its
/// glue or a host with its addresses; each address is IPv4 or IPv6.
package struct NameAndAddresses: Sendable, Hashable {
    package var name: DNSName
    package var ipv4: [IPv4Address]
    package var ipv6: [IPv6Address]

    /// `resolve` turns the name as written into a `DNSName` (absolute, or relative to a zone,
    /// as the caller decides); `defaultAddresses` stand in when the spec has none.
    package init(parsing spec: String, defaultAddresses: [String] = [], resolve: (String) throws -> DNSName = { try DNSName($0) }) throws {
        let parts = spec.split(separator: "=", maxSplits: 1).map(String.init)
        guard let written = parts.first, let name = try? resolve(written) else {
            throw DNSServerError(.invalidConfiguration, "\"\(spec)\" is not NAME[=ADDRESS,...]")
        }
        self.name = name
        (ipv4, ipv6) = try Self.addresses(parts.count == 2 ? parts[1].split(separator: ",").map(String.init) : defaultAddresses, in: spec)
    }

    /// Sorts address texts into IPv4 and IPv6; `spec` names the whole entry in the error.
    package static func addresses(_ texts: [String], in spec: String) throws -> ([IPv4Address], [IPv6Address]) {
        var ipv4: [IPv4Address] = []
        var ipv6: [IPv6Address] = []
        for address in texts {
            if let ip = IPv4Address(address) {
                ipv4.append(ip)
            } else if let ip = IPv6Address(address) {
                ipv6.append(ip)
            } else {
                throw DNSServerError(.invalidConfiguration, "\"\(spec)\": \(address) is not an IPv4 or IPv6 address")
            }
        }
        return (ipv4, ipv6)
    }
}
