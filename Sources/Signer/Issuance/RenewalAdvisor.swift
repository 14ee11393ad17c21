import ACME
import CertificateSupport
import Foundation
import Logging
import SignerProtocol
import X509

/// When a certificate should be renewed: the ARI window of the CA that issued it (the records
/// say which; the first CA otherwise) when it gives one, else a window computed from the
/// certificate's lifetime. An unreachable CA is not an error here; the computed window is
/// always a safe answer.
struct RenewalAdvisor: Sendable {
    let authorities: [CertificateAuthority]
    let records: any IssuanceRecords
    /// How long the CA may take to answer before the computed window is used.
    let caTimeout: Duration

    func window(for certificate: Certificate, logger: Logger) async -> RenewalWindowResponse {
        if let id = try? ARICertificateID(certificate: certificate) {
            do {
                let issuer = await records.certificate(withID: id.value)?.ca
                let account = (authorities.first { $0.name == issuer } ?? authorities[0]).account
                if let info = try await account.client.renewalInfo(for: id, deadline: .now + caTimeout) {
                    return RenewalWindowResponse(
                        suggestedWindow: .init(start: Self.timestamp(info.windowStart), end: Self.timestamp(info.windowEnd)),
                        source: "ca", explanationURL: info.explanationURL?.absoluteString)
                }
            } catch {
                logger.debug("ARI unavailable; computing the window", metadata: ["error": "\(error)"])
            }
        }
        let window = RenewalSchedule.window(notBefore: certificate.notValidBefore, notAfter: certificate.notValidAfter)
        return RenewalWindowResponse(suggestedWindow: .init(start: Self.timestamp(window.start), end: Self.timestamp(window.end)), source: "computed")
    }

    /// RFC 3339, as RFC 9773's `suggestedWindow` carries it.
    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}
