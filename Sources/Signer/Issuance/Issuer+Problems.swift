import ACME
import Foundation
import Logging
import SignerProtocol

extension Issuer {
    /// The problem an installer gets for a failed issuance. CA problems are relayed without
    /// their free text beyond a bounded, printable excerpt: it is the CA's, not ours.
    func problem(for error: any Error, zone: String, ca: String, logger: Logger) -> Problem {
        switch error {
        case is DeadlinePassed, is CancellationError:
            return Problem(.caUnavailable, detail: "the certificate was not issued within \(deadline.components.seconds) s; try again", retryAfterSeconds: 30)
        case let error as ACMEError:
            metrics.recordCAError(ca: ca, type: error.problem?.acmeErrorName ?? "\(error.code)")
            let retryAfter = error.retryAfter.map { max(1, Int($0.timeIntervalSinceNow.rounded(.up))) }
            let caType = error.problem.map { Self.sanitised($0.type) }
            let caDetail = error.problem?.detail.map { ": " + Self.sanitised($0, limit: 300) } ?? ""
            if error.code == .rateLimited {
                // The CA's own limit: pause this zone's orders to it until it says, and relay that.
                let seconds = retryAfter ?? 60
                pauses.pause(zone: zone, ca: ca, until: Date().addingTimeInterval(TimeInterval(seconds)))
                return Problem(.caRateLimited, detail: "\(ca) rate-limited the order\(caDetail); no order goes to it for \(seconds) s", caProblemType: caType, retryAfterSeconds: seconds)
            }
            if error.isTransient {
                let what = "\(ca) could not be reached or did not finish in time"
                return Problem(.caUnavailable, detail: "\(what)\(caDetail); try again later", caProblemType: caType, retryAfterSeconds: retryAfter ?? 30)
            }
            return Problem(.caRefused, detail: "\(ca) refused the order (\(error.code))\(caDetail)", caProblemType: caType)
        // What went wrong inside is for the log only (database errors, a primary's address, a
        // key's name); the requester learns the kind of failure and the request id to quote.
        case let error as SignerError where error.code == .stateUnavailable:
            logger.warning("the shared state failed during an order", metadata: ["error": "\(error.message)"])
            return Problem(.notReady, detail: "the signer's shared state is unavailable; try another signer of the zone, or again shortly (\(Self.requestReference(logger)))", retryAfterSeconds: 5)
        case let error as SignerError where error.code == .dnsPublishing:
            logger.warning("the challenge could not be published", metadata: ["error": "\(error.message)"])
            let what = error.publicDetail ?? "the zone's DNS did not take or serve the challenge in time"
            return Problem(.dnsUnavailable, detail: "\(what); the signer's log says more (\(Self.requestReference(logger)))", retryAfterSeconds: 30)
        default:
            logger.error("issuance failed unexpectedly", metadata: ["error": "\(error)"])
            return Problem(.internalError, detail: "the signer failed while issuing; the fault is logged (\(Self.requestReference(logger)))")
        }
    }

    /// "request ID", from the request's logger (Hummingbird's id, on every log line of it).
    static func requestReference(_ logger: Logger) -> String {
        logger[metadataKey: "hb.request.id"].map { "request \($0)" } ?? "no request id"
    }

    /// Printable ASCII only, bounded: a CA's text must not smuggle anything into our answer.
    static func sanitised(_ text: String, limit: Int = 200) -> String {
        let printable = text.unicodeScalars.map { (0x20..<0x7F).contains($0.value) ? Character($0) : " " }
        return String(String(printable).prefix(limit))
    }
}
