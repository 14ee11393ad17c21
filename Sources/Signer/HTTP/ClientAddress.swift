import Foundation
import NIOCore

/// Who sent a request: the peer, or, when the peer is a trusted proxy, the last address in
/// `X-Forwarded-For` that is not itself a trusted proxy.
struct ClientAddress: Sendable, Hashable, CustomStringConvertible {
    let ip: String

    init(peer: SocketAddress?, forwardedFor: [String], trustedProxies: Set<String>) {
        var ip = peer?.ipAddress ?? "unknown"
        if trustedProxies.contains(ip) {
            let hops = forwardedFor.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            for hop in hops.reversed() {
                ip = hop
                if !trustedProxies.contains(hop) { break }
            }
        }
        self.ip = ip
    }

    var description: String { ip }

    /// What the rate limiter counts by: an IPv4 address, or an IPv6 /64. One host gets a whole
    /// /64 from most providers, so counting /128s would let it rotate through 2^64 addresses.
    var rateLimitKey: String {
        ipv6Prefix(bits: 64) ?? ip
    }

    /// The address with its host part dropped, for logs: an IPv4 /24 or an IPv6 /48. Enough to
    /// tell networks apart, not enough to point at one install.
    var anonymised: String {
        if let v4 = try? SocketAddress(ipAddress: ip, port: 0), case .v4(let address) = v4 {
            let bytes = withUnsafeBytes(of: address.address.sin_addr.s_addr) { Array($0) }
            return "\(bytes[0]).\(bytes[1]).\(bytes[2]).0/24"
        }
        return ipv6Prefix(bits: 48) ?? "unknown"
    }

    /// The first `bits` (a multiple of 16) of an IPv6 address, as `2001:db8:1::/48`; nil for IPv4.
    private func ipv6Prefix(bits: Int) -> String? {
        guard let v6 = try? SocketAddress(ipAddress: ip, port: 0), case .v6(let address) = v6 else { return nil }
        let bytes = withUnsafeBytes(of: address.address.sin6_addr) { Array($0) }
        let groups = stride(from: 0, to: bits / 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
        return groups.joined(separator: ":") + "::/\(bits)"
    }
}
