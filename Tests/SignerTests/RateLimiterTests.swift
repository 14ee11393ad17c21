import NIOCore
@testable import Signer
import SignerProtocol
import Synchronization
import Testing

struct RateLimiterTests {
    @Test func burstThenRefillAtTheRate() {
        let limiter = RateLimiter(.init(perMinute: 60, burst: 3))
        let start = ContinuousClock.now
        #expect((0..<3).map { _ in limiter.admit("192.0.2.1", now: start) } == [nil, nil, nil])
        #expect(limiter.admit("192.0.2.1", now: start) == 1)
        #expect(limiter.admit("192.0.2.2", now: start) == nil, "clients have their own buckets")
        #expect(limiter.admit("192.0.2.1", now: start + .seconds(1)) == nil)
        #expect(limiter.admit("192.0.2.1", now: start + .seconds(1)) == 1)
    }
}
