import NIOCore
import Prometheus
import SignerProtocol

/// The signer's Prometheus metrics, on a registry of its own (no global metrics system), and
/// the text `/metrics` serves.
final class SignerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    /// Label keys that become metric labels; fixed at start so every series has the same label names.
    let labelKeys: [String]
    /// The values a label may show; others show as `other`.
    let allowedValues: [String: Set<String>]
    private let inFlight: Gauge
    /// Made once: the DNS server counts every query, and a registry lookup per query would serialise them.
    private let dnsAnswers: [String: Counter]
    private let otherDNSAnswers: Counter
    private let durationBuckets: [Duration] = [
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
    ]

    private let propagationBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(200), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10),
    ]

    init(labelKeys: [String], allowedValues: [String: Set<String>] = [:]) {
        self.labelKeys = labelKeys.sorted()
        self.allowedValues = allowedValues
        inFlight = registry.makeGauge(descriptor: Self.ordersInFlight)
        var answers: [String: Counter] = [:]
        for rcode in ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "BADVERS"] {
            answers[rcode] = registry.makeCounter(descriptor: Self.dnsQueries, labels: [("rcode", rcode)])
        }
        dnsAnswers = answers
        otherDNSAnswers = registry.makeCounter(descriptor: Self.dnsQueries, labels: [("rcode", "other")])
    }

    /// One finished request to /v1/sign. `outcome` is `issued` or the problem's slug, `zone` a
    /// configured zone or `-`: every dimension comes from a fixed set. A label shows its value
    /// only when it is on the allow-list and the request was issued; otherwise `other` (or
    /// empty when the request sent none), so refused requests cannot add series.
    func recordIssuance(zone: String, outcome: String, labels: [Label], duration: Duration) {
        var dimensions = [("zone", zone), ("outcome", outcome)]
        for key in labelKeys {
            let value = labels.first { $0.key == key }?.value
            let shown = switch value {
            case nil: ""
            case let value? where outcome == "issued" && allowedValues[key]?.contains(value) == true: value
            default: "other"
            }
            dimensions.append(("label_\(key)", shown))
        }
        registry.makeCounter(descriptor: Self.issuances, labels: dimensions).increment()
        if outcome == "issued" {
            registry.makeDurationHistogram(descriptor: Self.issuanceDuration, labels: [("zone", zone)], buckets: durationBuckets)
                .recordNanoseconds(TimeAmount(duration).nanoseconds)
        }
    }

    /// A failure reported by the CA, by ACME error type (`rateLimited`, `unauthorized`...).
    /// `ca` is a configured CA's name; `type` is the CA's error name, so a hostile CA could
    /// add series, but only as many as it sends distinct names.
    func recordCAError(ca: String, type: String) {
        registry.makeCounter(descriptor: Self.caErrors, labels: [("ca", ca), ("type", String(type.prefix(40)))]).increment()
    }

    /// One certificate a CA issued, by zone and CA, and whether it was an ARI renewal.
    func recordCertificate(zone: String, ca: String, renewal: Bool) {
        registry.makeCounter(descriptor: Self.certificates, labels: [("zone", zone), ("ca", ca), ("renewal", renewal ? "true" : "false")]).increment()
    }

    /// Challenge values the sweep withdrew (see `ChallengeSweep`): should stay 0.
    func recordSweptValues(_ count: Int) {
        registry.makeCounter(descriptor: Self.sweptValues).increment(by: Int64(count))
    }

    /// How long a nameserver of the zone took to serve a new challenge value; `server` is
    /// `self` or a configured nameserver's address, a fixed set.
    func recordPropagation(server: String, duration: Duration) {
        registry.makeDurationHistogram(descriptor: Self.propagation, labels: [("server", server)], buckets: propagationBuckets)
            .recordNanoseconds(TimeAmount(duration).nanoseconds)
    }

    func orderStarted() { inFlight.increment() }
    func orderEnded() { inFlight.decrement() }

    /// One DNS answer sent, by response code.
    func recordDNSAnswer(rcode: String) {
        (dnsAnswers[rcode] ?? otherDNSAnswers).increment()
    }

    private static var issuances: MetricNameDescriptor { MetricNameDescriptor(namespace: "csrproxy", metricName: "issuances", unitName: "total", helpText: "Signing requests by zone, outcome and label") }
    private static var issuanceDuration: MetricNameDescriptor { MetricNameDescriptor(namespace: "csrproxy", metricName: "issuance_duration", unitName: "seconds", helpText: "Time from request to certificate") }
    private static var certificates: MetricNameDescriptor { MetricNameDescriptor(namespace: "csrproxy", metricName: "certificates", unitName: "total", helpText: "Certificates issued, by zone, CA and whether they renewed one with ARI replaces") }
    private static var caErrors: MetricNameDescriptor { MetricNameDescriptor(namespace: "csrproxy", metricName: "ca_errors", unitName: "total", helpText: "Errors from the CA by type") }
    private static var ordersInFlight: MetricNameDescriptor { MetricNameDescriptor(namespace: "csrproxy", metricName: "orders_in_flight", unitName: "", helpText: "ACME orders in progress") }
    private static var sweptValues: MetricNameDescriptor { MetricNameDescriptor(namespace: "csrproxy", metricName: "challenge_values_swept", unitName: "total", helpText: "Challenge values withdrawn by the sweep because no live order owned them (a bug if not 0)") }
    private static var propagation: MetricNameDescriptor { MetricNameDescriptor(namespace: "csrproxy", metricName: "dns_propagation", unitName: "seconds", helpText: "Time from publishing a challenge value until a nameserver of the zone served it, by nameserver") }
    private static var dnsQueries: MetricNameDescriptor { MetricNameDescriptor(namespace: "csrproxy", metricName: "dns_queries", unitName: "total", helpText: "DNS queries answered, by response code") }

    func exposition() -> [UInt8] {
        var bytes: [UInt8] = []
        registry.emit(into: &bytes)
        return bytes
    }
}
