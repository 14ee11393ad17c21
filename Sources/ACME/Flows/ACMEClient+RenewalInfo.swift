import CertificateSupport
import Foundation

extension ACMEClient {
    /// Asks the CA when to renew (RFC 9773). Unauthenticated GET; nil when the CA offers no ARI.
    public func renewalInfo(for id: ARICertificateID, deadline: ContinuousClock.Instant = .now + .seconds(30)) async throws -> RenewalInfo? {
        guard let base = try await directory(deadline: deadline).renewalInfo else { return nil }
        let url = base.appendingPathComponent(id.value)
        let response = try await transport.get(url, deadline: deadline)
        return try RenewalInfo(json: response.body, retryAfter: response.retryAfter())
    }
}
