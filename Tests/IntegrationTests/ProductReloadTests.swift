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
    /// renewal a new connection is shown the certificate the agent installed. `renew` runs the
    /// agent with the arguments given; `installed` reads the serial it installed. Prints the
    /// numbers under `label`.
    static func renewUnderLoad(port: Int, caFile: String, label: String,
                               installed: () async throws -> String,
                               renew: ([String]) async throws -> CommandResult) async throws {
        let firstSerial = try await installed()
        #expect(try await ServedCertificate.serial(port: port) == firstSerial)
        let load = HTTPSLoad(name: name, port: port, caFile: caFile)
        let warmUp = ContinuousClock.now
        while load.count < 2000, ContinuousClock.now - warmUp < .seconds(30) { try await Task.sleep(for: .milliseconds(50)) }
        load.mark("renewals")
        var serials = [firstSerial]
        for round in 1...50 {
            let renewal = try await renew(["renew", "--force", "--quiet"] + (round % 5 == 0 ? ["--rotate-key"] : []))
            try #require(renewal.status == 0, "renewal \(round): \(renewal.standardError)")
            let serial = try await installed()
            #expect(serial != serials.last, "renewal \(round) installed no new certificate")
            serials.append(serial)
            let served = try await ServedCertificate.serial(port: port, becoming: serial)
            #expect(served == serial, "after renewal \(round) \(label) still shows \(served), not \(serial)")
        }
        let samples = await load.stop()
        let baseline = samples.filter { $0.phase == "baseline" }, during = samples.filter { $0.phase == "renewals" }
        let failed = samples.filter { !$0.ok }.count
        print("""
            \(label): \(samples.count) requests, \(failed) failed; \
            p99 \(Int(HTTPSLoad.percentile(0.99, of: baseline))) ms without renewals (\(baseline.count) requests), \
            \(Int(HTTPSLoad.percentile(0.99, of: during))) ms during 50 renewals (\(during.count) requests); \
            serial before \(serials.first!), after \(serials.last!), \(Set(serials).count) distinct
            """)
        #expect(failed == 0, "\(failed) of \(samples.count) requests failed; the first runs with a failure said: \(load.failures)")
        #expect(during.count >= 100, "the load hardly ran during the renewals: \(during.count) requests")
        #expect(Set(serials).count == 51)
    }

    static func renewUnderLoad(_ agent: AgentRunner, port: Int, caFile: String, label: String) async throws {
        try await renewUnderLoad(port: port, caFile: caFile, label: label,
                                 installed: { try installedSerial(agent) },
                                 renew: { try await agent.run($0) })
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

/// The same products as a Debian box runs them: systemd as PID 1 (`BootedSystem`, in the root
/// `scripts/make-test-root --boot` makes, where nginx and apache2 are installed and off),
/// nginx.service and apache2.service as Debian ships them, the agent's package, the example's
/// site, its `agent.toml` with the commented `method = "systemd"` reload taken instead of the
/// default one, and the example's postinst run as root as a product package's would be.
@Suite(.serialized, .timeLimit(.minutes(10)), .enabled(
    if: getuid() == 0 && PackageTestInputs.fromEnvironment?.bootRootTarball != nil,
    "needs root, CSRPROXY_BOOT_ROOT and CSRPROXY_DEBS, as scripts/test sets them"))
struct ProductSystemdReloadTests {
    typealias Examples = ProductReloadTests

    /// A booted root serving the example product through `unit`: `site` is written at
    /// `sitePath`, `settings` as /etc/csrproxy/agent.toml, the example's postinst at
    /// /root/product-postinst (nspawn mounts a fresh /tmp), which runs after the boot; the unit is then active and serves the
    /// certificate the agent installed.
    static func bootedProduct(_ harness: SignerHarness, unit: String, site: String, sitePath: String,
                              settings: String, postinst: String) async throws -> BootedSystem {
        let system = try await SystemdBootTests.system(with: ["csrproxy-agent"])
        try system.write(try String(contentsOfFile: try await harness.issuingRootFile(), encoding: .utf8), to: PackageInstallTests.pebbleRootInside)
        try system.write(site, to: sitePath)
        try system.write(settings, to: "/etc/csrproxy/agent.toml")
        try system.write(postinst, to: "/root/product-postinst", mode: 0o755)
        try await system.root.mustRun("dpkg --force-confold -i /tmp/debs/csrproxy-agent_*.deb 2>&1")
        try await system.boot()
        #expect(try await system.property("ActiveState", of: unit) == "inactive", "\(unit) must not run before the product's postinst")
        let installed = try await system.run("/root/product-postinst configure 2>&1", timeout: .seconds(120))
        #expect(installed.status == 0, "the product's postinst failed: \(installed.standardOutput)")
        let state = try await system.property("ActiveState", of: unit)
        guard state == "active" else {
            let journal = try await system.run("journalctl --no-pager -u \(unit)").standardOutput
            throw TestFailure("after the postinst \(unit) is \(state):\n\(installed.standardOutput)\n\(journal.suffix(2000))")
        }
        return system
    }

    /// The agent's settings from `examples/<product>/agent.toml`, pointed at the test's signer;
    /// with `systemdUnit`, the example's commented `method = "systemd"` reload on that unit
    /// instead of `defaultReload`, the example's own.
    static func settings(_ product: String, harness: SignerHarness, port: Int, defaultReload: String, systemdUnit: String?) throws -> String {
        var replacements = [
            ("signer_url = \"https://signer.eval.example.com:8443\"", "signer_url = \"http://127.0.0.1:\(harness.baseURL.port!)\""),
            ("directory = \"/var/lib/csrproxy/tls\"", "directory = \"/var/lib/csrproxy/tls\"\nca_bundle = \"\(PackageInstallTests.pebbleRootInside)\"\ndeadline_seconds = 30"),
            ("port = 8443", "port = \(port)"),
            (defaultReload, defaultReload),
        ]
        if let unit = systemdUnit {
            replacements += [
                (defaultReload, ""),
                ("# [[reload]]\n# method = \"systemd\"\n# unit = \"\(unit)\"", "[[reload]]\nmethod = \"systemd\"\nunit = \"\(unit)\""),
            ]
        }
        return try Examples.example("\(product)/agent.toml", replacements)
    }

    /// 50 renewals under load through `unit`, each a reload of the running unit: the same main
    /// process before and after, never restarted.
    static func renewUnderLoad(_ system: BootedSystem, unit: String, port: Int, caFile: String, label: String) async throws {
        let mainPID = try await system.property("MainPID", of: unit)
        try await Examples.renewUnderLoad(port: port, caFile: caFile, label: label,
                                          installed: { try await SystemdBootTests.installedSerial(system) },
                                          renew: { try await system.run("csrproxy-agent \($0.joined(separator: " ")) 2>&1", timeout: .seconds(120)) })
        #expect(try await system.property("MainPID", of: unit) == mainPID, "\(unit) was restarted, not reloaded")
        #expect(try await system.property("NRestarts", of: unit) == "0")
        #expect(try await system.property("ActiveState", of: unit) == "active")
    }

    static let nginxSignalReload = "[[reload]]\nmethod = \"signal\"\npidfile = \"/run/nginx.pid\"\nsignal = \"HUP\"\n"

    /// nginx.service, reloaded through `systemctl` (`method = "systemd"`) or, with the
    /// example's own settings, by SIGHUP to the master in the real `/run/nginx.pid` that
    /// nginx.service writes.
    static func nginxUnderLoad(systemdReload: Bool) async throws {
        let harness = try await SignerHarness()
        defer { harness.stop() }
        let port = try freeTCPPort()
        let system = try await bootedProduct(
            harness, unit: "nginx.service",
            site: try Examples.example("nginx/csrproxy.conf", [("listen 127.0.0.1:8443 ssl;", "listen 127.0.0.1:\(port) ssl;")]),
            sitePath: "/etc/nginx/conf.d/csrproxy.conf",
            settings: try settings("nginx", harness: harness, port: port, defaultReload: nginxSignalReload, systemdUnit: systemdReload ? "nginx.service" : nil),
            postinst: try Examples.example("nginx/postinst", []))
        defer { system.remove() }
        try await renewUnderLoad(system, unit: "nginx.service", port: port, caFile: try await harness.issuingRootFile(),
                                 label: systemdReload ? "nginx (nginx.service under systemd, method = \"systemd\")"
                                                      : "nginx (nginx.service under systemd, method = \"signal\" on /run/nginx.pid)")
    }

    @Test func nginxServiceAnswersEveryRequestThroughFiftyRenewals() async throws {
        try await Self.nginxUnderLoad(systemdReload: true)
    }

    /// The example's settings as they are: the agent's pidfile checks accept the pidfile
    /// nginx.service's master writes as root in /run.
    @Test func nginxServiceTakesTheSignalFromItsRealPidfile() async throws {
        try await Self.nginxUnderLoad(systemdReload: false)
    }

    @Test func apache2ServiceAnswersEveryRequestThroughFiftyRenewals() async throws {
        let harness = try await SignerHarness()
        defer { harness.stop() }
        let port = try freeTCPPort()
        let system = try await Self.bootedProduct(
            harness, unit: "apache2.service",
            site: try Examples.example("apache/csrproxy-ssl.conf", [
                ("Listen 127.0.0.1:8443", "Listen 127.0.0.1:\(port)"), ("<VirtualHost 127.0.0.1:8443>", "<VirtualHost 127.0.0.1:\(port)>"),
            ]),
            sitePath: "/etc/apache2/sites-available/csrproxy-ssl.conf",
            settings: try Self.settings("apache", harness: harness, port: port,
                                        defaultReload: "[[reload]]\nmethod = \"exec\"\ncommand = [\"apachectl\", \"graceful\"]\n",
                                        systemdUnit: "apache2.service"),
            postinst: try Examples.example("apache/postinst", []))
        defer { system.remove() }
        try await Self.renewUnderLoad(system, unit: "apache2.service", port: port, caFile: try await harness.issuingRootFile(),
                                      label: "Apache (apache2.service under systemd, method = \"systemd\")")
    }
}
