import Foundation
import Testing
import TestSupport
import X509

/// Real products on the agent's files: Debian's nginx and Apache, configured with
/// `examples/nginx` and `examples/apache` as a publisher copies them (only ports, directories
/// and the instance are the test's), serve a constant HTTPS load while the agent renews 50
/// times and reloads them the way the examples say. No request may fail, and every new
/// connection after a reload presents the new certificate.
@Suite(.serialized, .timeLimit(.minutes(10)), .enabled(
    if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: NginxServer.binary) && FileManager.default.isExecutableFile(atPath: ApacheServer.binary),
    "needs root, Debian's nginx and Apache, as scripts/test has"))
struct ProductReloadTests {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("examples")
    static let name = SignerHarness.name

    /// `examples/<path>` with `replacements` made, each of which must be found: an example
    /// that drifted from what the test expects fails here.
    static func example(_ path: String, _ replacements: [(String, String)]) throws -> String {
        var text = try String(contentsOf: examples.appendingPathComponent(path), encoding: .utf8)
        for (from, to) in replacements {
            guard text.contains(from) else { throw TestFailure("examples/\(path) no longer contains \(from)") }
            text = text.replacingOccurrences(of: from, with: to)
        }
        return text
    }

    /// What the agent installed.
    static func installedSerial(_ agent: AgentRunner) throws -> String {
        try Certificate(pemEncoded: try String(contentsOfFile: agent.path("cert.pem"), encoding: .utf8)).serialNumber.description
    }

    /// nginx and an agent set up from the examples, the certificate issued, nginx serving it.
    /// With `checkedReload`, the example's commented alternative: `nginx -t` before the reload.
    static func nginxProduct(_ harness: SignerHarness, checkedReload: Bool = false) async throws -> (NginxServer, AgentRunner, port: Int, caFile: String) {
        let caFile = try await harness.issuingRootFile()
        let port = try freeTCPPort()
        let directory = harness.workDirectory.appendingPathComponent("product-tls-\(UUID().uuidString)").path
        // The server first: its pidfile's path goes into the agent's settings.
        let nginx = try NginxServer()
        try nginx.writeSite(try example("nginx/csrproxy.conf", [("listen 127.0.0.1:8443 ssl;", "listen 127.0.0.1:\(port) ssl;"), ("/var/lib/csrproxy/tls", directory)]))
        var replacements = [
            ("signer_url = \"https://signer.eval.example.com:8443\"", "signer_url = \"http://127.0.0.1:\(harness.baseURL.port!)\""),
            ("directory = \"/var/lib/csrproxy/tls\"", "directory = \"\(directory)\"\nca_bundle = \"\(caFile)\"\ndeadline_seconds = 30"),
            ("pidfile = \"/run/nginx.pid\"", "pidfile = \"\(nginx.pidFile)\""),
        ]
        if checkedReload {
            // The test's nginx has its own configuration file and prefix: named on each command.
            let options = "-c \(nginx.configurationPath) -p \(nginx.directory.path)"
            replacements += [
                ("[[reload]]\nmethod = \"signal\"\npidfile = \"\(nginx.pidFile)\"\nsignal = \"HUP\"\n", ""),
                ("# [[reload]]\n# method = \"exec\"\n# command = [\"/bin/sh\", \"-c\", \"nginx -t -q && if [ -s /run/nginx.pid ]; then nginx -s reload; fi\"]",
                 "[[reload]]\nmethod = \"exec\"\ncommand = [\"/bin/sh\", \"-c\", \"nginx -t -q \(options) && if [ -s \(nginx.pidFile) ]; then nginx -s reload \(options); fi\"]"),
            ]
        }
        let agent = try AgentRunner(workDirectory: harness.workDirectory, configurationText: try example("nginx/agent.toml", replacements), directory: directory)
        let issued = try await agent.run(["issue", "--quiet"])
        guard issued.status == 0 else { throw TestFailure("issue failed: \(issued.standardError)") }
        let check = try await nginx.check()
        guard check.status == 0 else { throw TestFailure("nginx -t refuses the example: \(check.standardError)") }
        try await nginx.start(port: port)
        return (nginx, agent, port, caFile)
    }

    /// 50 forced renewals (every fifth with `--rotate-key`) while four clients keep asking,
    /// kept-alive and on new connections: the product answers every request, and after each
    /// renewal a new connection is shown the certificate the agent installed. Prints the
    /// numbers under `label`.
    static func renewUnderLoad(_ agent: AgentRunner, port: Int, caFile: String, label: String) async throws {
        let firstSerial = try installedSerial(agent)
        #expect(try await ServedCertificate.serial(port: port) == firstSerial)
        let load = HTTPSLoad(name: name, port: port, caFile: caFile)
        let warmUp = ContinuousClock.now
        while load.count < 2000, ContinuousClock.now - warmUp < .seconds(30) { try await Task.sleep(for: .milliseconds(50)) }
        load.mark("renewals")
        var serials = [firstSerial]
        for round in 1...50 {
            let renewal = try await agent.run(["renew", "--force", "--quiet"] + (round % 5 == 0 ? ["--rotate-key"] : []))
            try #require(renewal.status == 0, "renewal \(round): \(renewal.standardError)")
            let installed = try installedSerial(agent)
            #expect(installed != serials.last, "renewal \(round) installed no new certificate")
            serials.append(installed)
            let served = try await ServedCertificate.serial(port: port, becoming: installed)
            #expect(served == installed, "after renewal \(round) \(label) still shows \(served), not \(installed)")
        }
        let samples = await load.stop()
        let baseline = samples.filter { $0.phase == "baseline" }, during = samples.filter { $0.phase == "renewals" }
        let failed = samples.filter { !$0.ok }.count
        print("""
            \(label): \(samples.count) requests, \(failed) failed; \
            p99 \(Int(HTTPSLoad.percentile(0.99, of: baseline))) ms without renewals (\(baseline.count) requests), \
            \(Int(HTTPSLoad.percentile(0.99, of: during))) ms during 50 renewals (\(during.count) requests); \
            serials \(serials.first!) ... \(serials.last!)
            """)
        #expect(failed == 0, "\(failed) of \(samples.count) requests failed; the first runs with a failure said: \(load.failures)")
        #expect(during.count >= 100, "the load hardly ran during the renewals: \(during.count) requests")
        #expect(Set(serials).count == 51)
    }

    @Test func nginxAnswersEveryRequestThroughFiftyRenewals() async throws {
        let harness = try await SignerHarness()
        defer { harness.stop() }
        let (nginx, agent, port, caFile) = try await Self.nginxProduct(harness)
        defer { nginx.stop() }
        try await Self.renewUnderLoad(agent, port: port, caFile: caFile, label: "nginx (signal reload, /run/nginx.pid as in the example)")
    }

    /// Apache and an agent set up from `examples/apache`, the certificate issued, Apache serving it.
    static func apacheProduct(_ harness: SignerHarness) async throws -> (ApacheServer, AgentRunner, port: Int, caFile: String) {
        let caFile = try await harness.issuingRootFile()
        let port = try freeTCPPort()
        let directory = harness.workDirectory.appendingPathComponent("product-tls-\(UUID().uuidString)").path
        let apache = try ApacheServer()
        try apache.writeSite(try example("apache/csrproxy-ssl.conf", [
            ("Listen 127.0.0.1:8443", "Listen 127.0.0.1:\(port)"), ("<VirtualHost 127.0.0.1:8443>", "<VirtualHost 127.0.0.1:\(port)>"),
            ("/var/lib/csrproxy/tls", directory), ("DocumentRoot /var/www/html", "DocumentRoot \(apache.documentRoot)"),
        ]))
        let settings = try example("apache/agent.toml", [
            ("signer_url = \"https://signer.eval.example.com:8443\"", "signer_url = \"http://127.0.0.1:\(harness.baseURL.port!)\""),
            ("directory = \"/var/lib/csrproxy/tls\"", "directory = \"\(directory)\"\nca_bundle = \"\(caFile)\"\ndeadline_seconds = 30"),
            // This Apache is an instance of its own: apachectl finds it the Debian way.
            ("command = [\"apachectl\", \"graceful\"]", "command = [\"/usr/bin/env\", \"APACHE_CONFDIR=\(apache.directory.path)\", \"apachectl\", \"graceful\"]"),
        ])
        // The first certificate without the reload: `apachectl graceful` starts an Apache that
        // is not running (what a postinst wants), as a daemon the test would not hold; the
        // test starts its own in the foreground instead.
        let withoutReload = try #require(settings.range(of: "[[reload]]")).lowerBound
        let first = try AgentRunner(workDirectory: harness.workDirectory, configurationText: String(settings[..<withoutReload]), directory: directory)
        let issued = try await first.run(["issue", "--quiet"])
        guard issued.status == 0 else { throw TestFailure("issue failed: \(issued.standardError)") }
        try await apache.start(port: port)
        let agent = try AgentRunner(workDirectory: harness.workDirectory, configurationText: settings, directory: directory)
        return (apache, agent, port, caFile)
    }

    @Test func apacheAnswersEveryRequestThroughFiftyRenewals() async throws {
        let harness = try await SignerHarness()
        defer { harness.stop() }
        let (apache, agent, port, caFile) = try await Self.apacheProduct(harness)
        defer { apache.stop() }
        try await Self.renewUnderLoad(agent, port: port, caFile: caFile, label: "Apache (exec apachectl graceful, as in the example)")
    }

    /// A product that cannot reload (the publisher shipped a broken nginx configuration): the
    /// agent says what nginx said and what is installed, exits 75, and nginx serves on with the
    /// certificate it had; once the configuration is fixed the next renewal reloads it.
    @Test func aBrokenNginxConfigurationIsReportedAndServingGoesOn() async throws {
        let harness = try await SignerHarness()
        defer { harness.stop() }
        let (nginx, agent, port, _) = try await Self.nginxProduct(harness, checkedReload: true)
        defer { nginx.stop() }
        let before = try Self.installedSerial(agent)
        let site = try String(contentsOfFile: nginx.directory.appendingPathComponent("site.conf").path, encoding: .utf8)
        try nginx.writeSite(site + "\nthis is not nginx;\n")

        let failed = try await agent.run(["renew", "--force"])
        #expect(failed.status == 75, "\(failed.standardError)")
        let installed = try Self.installedSerial(agent)
        #expect(installed != before)
        #expect(failed.standardError.contains("exited 1: ") && failed.standardError.contains("[emerg]") && failed.standardError.contains("unknown directive \"this\""), "\(failed.standardError)")
        #expect(failed.standardError.contains("is installed in \(agent.directory)") && failed.standardError.contains("still serves"), "\(failed.standardError)")
        #expect(try await ServedCertificate.serial(port: port) == before, "nginx lost the certificate it had")

        try nginx.writeSite(site)
        let fixed = try await agent.run(["renew", "--force"])
        #expect(fixed.status == 0, "\(fixed.standardError)")
        let renewed = try Self.installedSerial(agent)
        #expect(try await ServedCertificate.serial(port: port, becoming: renewed) == renewed)
    }
}
