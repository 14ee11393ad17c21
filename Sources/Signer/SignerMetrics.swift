import Prometheus
import SignerProtocol

/// The signer's Prometheus metrics, on a registry of its own (no global metrics system), and
/// the text `/metrics` serves.
final class SignerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    /// Label keys that become metric labels; fixed at start so every series has the same label names.
    let labelKeys: [String]
    private let inFlight: Gauge
    /// Made once: the DNS server counts every query, and a registry lookup per query would serialise them.
    private let dnsAnswers: [String: Counter]
    private let durationBuckets: [Duration] = [
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
    ]

    init(labelKeys: [String]) {
        self.labelKeys = labelKeys.sorted()
        inFlight = registry.makeGauge(descriptor: Self.ordersInFlight)
        var answers: [String: Counter] = [:]
        for rcode in ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "BADVERS", "other"] {
            answers[rcode] = registry.makeCounter(descriptor: Self.dnsQueries, labels: [("rcode", rcode)])
        }
        dnsAnswers = answers
    }

    /// One finished request to /v1/sign. `outcome` is `issued` or the problem's slug.
    func recordIssuance(zone: String, outcome: String, labels: [Label], duration: Duration) {
        var dimensions = [("zone", zone), ("outcome", outcome)]
        for key in labelKeys {
            dimensions.append(("label_\(key)", labels.first { $0.key == key }?.value ?? ""))
        }
        registry.makeCounter(descriptor: Self.issuances, labels: dimensions).increment()
        if outcome == "issued" {
            registry.makeDurationHistogram(descriptor: Self.issuanceDuration, labels: [("zone", zone)], buckets: durationBuckets)
                .recordNanoseconds(duration.nanoseconds)
        }
    }

    /// A failure reported by the CA, by ACME error type (`rateLimited`, `unauthorized`...).
    func recordCAError(type: String) {
        registry.makeCounter(descriptor: Self.caErrors, labels: [("type", type)]).increment()
    }

    func orderStarted() { inFlight.increment() }
    func orderEnded() { inFlight.decrement() }

    /// One DNS answer sent, by response code.
    func recordDNSAnswer(rcode: String) {
        (dnsAnswers[rcode] ?? dnsAnswers["other"]!).increment()
    }

    private static var issuances: MetricNameDescriptor { MetricNameDescriptor(namespace: "csrproxy", metricName: "issuances", unitName: "total", helpText: "Signing requests by zone, outcome and label") }
    private static var issuanceDuration: MetricNameDescriptor { MetricNameDescriptor(namespace: "csrproxy", metricName: "issuance_duration", unitName: "seconds", helpText: "Time from request to certificate") }
    private static var caErrors: MetricNameDescriptor { MetricNameDescriptor(namespace: "csrproxy", metricName: "ca_errors", unitName: "total", helpText: "Errors from the CA by type") }
    private static var ordersInFlight: MetricNameDescriptor { MetricNameDescriptor(namespace: "csrproxy", metricName: "orders_in_flight", unitName: "", helpText: "ACME orders in progress") }
    private static var dnsQueries: MetricNameDescriptor { MetricNameDescriptor(namespace: "csrproxy", metricName: "dns_queries", unitName: "total", helpText: "DNS queries answered, by response code") }

    func exposition() -> [UInt8] {
        var bytes: [UInt8] = []
        registry.emit(into: &bytes)
        return bytes
    }
}

extension Duration {
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
