/// The problem types the signer answers with. Each has a stable URI, an HTTP status and a title.
/// The URIs are URNs on purpose: they name cases, they are not pages to fetch.
public struct ProblemType: Sendable, Hashable, CustomStringConvertible {
    public let slug: String
    public let status: Int
    public let title: String

    public var uri: String { "urn:csrproxy:problem:\(slug)" }
    public var description: String { uri }

    /// 400: the body is not a CSR in PEM or DER, or its self-signature does not verify.
    public static let badCSR = ProblemType(slug: "bad-csr", status: 400, title: "The CSR cannot be read")
    /// 400: the CSR names its host only in the CN; CAs other than Let's Encrypt refuse that at finalize.
    public static let missingSAN = ProblemType(slug: "missing-san", status: 400, title: "The CSR has no subjectAltName")
    /// 400: an `X-CSRProxy-Label` header breaks the label rules.
    public static let badLabel = ProblemType(slug: "bad-label", status: 400, title: "A label is malformed")
    /// 400: the key type or size, the signature algorithm or an extension is not accepted.
    public static let keyNotAllowed = ProblemType(slug: "key-not-allowed", status: 400, title: "The CSR's key or extensions are not accepted")
    /// 400: a request other than a CSR was malformed (a renewal-info query, say).
    public static let badRequest = ProblemType(slug: "bad-request", status: 400, title: "The request is malformed")
    /// 403: no zone has this subject.
    public static let subjectNotAllowed = ProblemType(slug: "subject-not-allowed", status: 403, title: "The subject is not served here")
    /// 403: the subject is known but the SAN set is not exactly the allowed one.
    public static let namesNotAllowed = ProblemType(slug: "names-not-allowed", status: 403, title: "The names are not allowed")
    /// 403: a renewal names a certificate to replace that has another key and that this signer
    /// did not issue for these names.
    public static let replacesNotAllowed = ProblemType(slug: "replaces-not-allowed", status: 403, title: "The certificate to replace is not yours")
    /// 404: no such route.
    public static let notFound = ProblemType(slug: "not-found", status: 404, title: "No such resource")
    /// 405: the path exists, but not for this method.
    public static let methodNotAllowed = ProblemType(slug: "method-not-allowed", status: 405, title: "Method not allowed")
    /// 413: the body is larger than the configured limit.
    public static let bodyTooLarge = ProblemType(slug: "body-too-large", status: 413, title: "The request body is too large")
    /// 429: this client sent too many requests; see Retry-After.
    public static let rateLimited = ProblemType(slug: "rate-limited", status: 429, title: "Too many requests")
    /// 429: the zone's budget of new certificates (per name set, per registered domain) or of
    /// orders is spent; see Retry-After, when the oldest counted one leaves the window.
    public static let budgetExhausted = ProblemType(slug: "budget-exhausted", status: 429, title: "The certificate budget is spent")
    /// 429: the CA rate-limited us; its Retry-After is relayed and no order goes to it until then.
    public static let caRateLimited = ProblemType(slug: "ca-rate-limited", status: 429, title: "The certificate authority rate-limited the signer")
    /// 502: the CA refused the order or the validation.
    public static let caRefused = ProblemType(slug: "ca-refused", status: 502, title: "The certificate authority refused")
    /// 503: the CA could not be reached, or the issuance deadline passed; see Retry-After.
    public static let caUnavailable = ProblemType(slug: "ca-unavailable", status: 503, title: "The certificate authority is unavailable")
    /// 503: the zone's DNS could not publish the challenge: a nameserver did not serve it in
    /// time, or the external primary refused the update (a wrong TSIG key, say).
    public static let dnsUnavailable = ProblemType(slug: "dns-unavailable", status: 503, title: "The zone's DNS could not publish the challenge")
    /// 503: the signer is starting or stopping.
    public static let notReady = ProblemType(slug: "not-ready", status: 503, title: "The signer is not ready")
    /// 500: a fault in the signer itself.
    public static let internalError = ProblemType(slug: "internal", status: 500, title: "Internal error")

    public static let all: [ProblemType] = [
        .badCSR, .missingSAN, .badLabel, .keyNotAllowed, .badRequest, .subjectNotAllowed, .namesNotAllowed,
        .replacesNotAllowed, .notFound, .methodNotAllowed, .bodyTooLarge, .rateLimited, .budgetExhausted, .caRateLimited,
        .caRefused, .caUnavailable, .dnsUnavailable, .notReady, .internalError,
    ]
}
