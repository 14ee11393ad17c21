import NIOCore
@testable import Signer
import SignerProtocol
import Synchronization
import Testing

struct ClientAddressTests {
    @Test func anonymisesToNetworks() throws {
        #expect(ClientAddress(peer: try SocketAddress(ipAddress: "198.51.100.77", port: 1), forwardedFor: [], trustedProxies: []).anonymised == "198.51.100.0/24")
        #expect(ClientAddress(peer: try SocketAddress(ipAddress: "2001:db8:abcd:12::1", port: 1), forwardedFor: [], trustedProxies: []).anonymised == "2001:db8:abcd::/48")
    }

    /// An IPv6 host usually holds a whole /64: the rate limiter counts the /64, IPv4 per address.
    @Test func rateLimitsCountIPv6By64() throws {
        func key(_ ip: String) throws -> String { ClientAddress(peer: try SocketAddress(ipAddress: ip, port: 1), forwardedFor: [], trustedProxies: []).rateLimitKey }
        #expect(try key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64")
        #expect(try key("2001:db8:1:2:ffff::1") == key("2001:db8:1:2::9"))
        #expect(try key("2001:db8:1:3::1") != key("2001:db8:1:2::1"))
        #expect(try key("198.51.100.77") == "198.51.100.77")
    }

    @Test func forwardedForIsBelievedOnlyFromTrustedProxies() throws {
        let proxy = try SocketAddress(ipAddress: "10.0.0.1", port: 1)
        #expect(ClientAddress(peer: proxy, forwardedFor: ["203.0.113.9, 10.0.0.2"], trustedProxies: ["10.0.0.1", "10.0.0.2"]).ip == "203.0.113.9")
        #expect(ClientAddress(peer: proxy, forwardedFor: ["203.0.113.9"], trustedProxies: []).ip == "10.0.0.1")
        // A client cannot hide behind a forged first hop: the last untrusted hop is the client.
        #expect(ClientAddress(peer: proxy, forwardedFor: ["1.2.3.4, 203.0.113.9"], trustedProxies: ["10.0.0.1"]).ip == "203.0.113.9")
    }
}
