import Crypto
import Foundation
import SwiftASN1
import Testing
import TestSupport
import X509

/// The signer under abuse, against real pebble and the real binary: hostile CSRs never reach
/// the CA, challenge values never stick, requesters cannot add metric series, and per-install
/// names are what the README says, computed with openssl alone.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct SignerAbuseTests {
    static let name = SignerHarness.name

    func shell(_ script: String) async throws -> String {
        let result = try await runCommand("/bin/sh", ["-c", script])
        guard result.status == 0 else { throw TestFailure("\(script): \(result.standardError)") }
        return result.standardOutput
    }

    /// Refused before any CA traffic, even with `require_san = false`: an extension request
    /// swift-certificates cannot read (40 extensions, `CA:TRUE` and a foreign SAN among them),
    /// names the CA would refuse (trailing dot, capitals, a U-label, an empty label) and a SHA-1
    /// signature, each with its own message. A PEM body labelled `application/pkcs10` is read as PEM.
    @Test func hostileCSRsNeverReachTheCA() async throws {
        var options = SignerHarness.Options()
        options.zones = [SignerHarness.Zone(requireSAN: false)]
        let harness = try await SignerHarness(options)
        defer { harness.stop() }
        let directory = harness.workDirectory.path
        try await shell("openssl ecparam -name prime256v1 -genkey -noout -out \(directory)/k.pem")

        var manyExtensions: [Certificate.Extension] = [try Certificate.Extension(BasicConstraints.isCertificateAuthority(maxPathLength: nil), critical: true)]
        for index in 0..<38 {
            manyExtensions.append(Certificate.Extension(oid: [1, 3, 6, 1, 4, 1, 99999, UInt(index)], critical: false, value: [0x05, 0x00]))
        }
        let hostile = try TestCertificates.csr(
            subject: try DistinguishedName { CommonName(Self.name) },
            subjectAlternativeNames: [.dnsName(Self.name), .dnsName("victim.example.org")], extraExtensions: manyExtensions,
            key: .init(P256.Signing.PrivateKey()))
        try Data(hostile).write(to: URL(fileURLWithPath: "\(directory)/many.der"))

        func opensslCSR(_ file: String, san: String, digest: String = "-sha256") async throws {
            try await shell("openssl req -new -key \(directory)/k.pem \(digest) -subj /CN=\(Self.name) -addext 'subjectAltName=\(san)' -outform DER -out \(directory)/\(file)")
        }
        try await opensslCSR("dot.der", san: "DNS:\(Self.name).")
        try await opensslCSR("upper.der", san: "DNS:GO.EVAL.EXAMPLE.COM.")
        try await opensslCSR("ulabel.der", san: "DNS:gö.eval.example.com")
        try await opensslCSR("empty.der", san: "DNS:go..eval.example.com")
        try await opensslCSR("sha1.der", san: "DNS:\(Self.name)", digest: "-sha1")

        let cases: [(file: String, status: Int, type: String, says: String)] = [
            ("many.der", 400, "bad-csr", "extension"),
            ("dot.der", 403, "names-not-allowed", "ends with a dot"),
            ("upper.der", 403, "names-not-allowed", "GO.EVAL.EXAMPLE.COM."),
            ("ulabel.der", 400, "bad-csr", "cannot be read"),
            ("empty.der", 403, "names-not-allowed", "empty label"),
            ("sha1.der", 400, "key-not-allowed", "SHA-256 or stronger"),
        ]
        for item in cases {
            let response = try await curl(harness.signURL, bodyFile: "\(directory)/\(item.file)", headers: ["Content-Type: application/pkcs10"])
            #expect(response.status == item.status, "\(item.file): \(response.text)")
            #expect(response.problemType == "urn:csrproxy:problem:\(item.type)", "\(item.file): \(response.text)")
            #expect(response.problemDetail?.contains(item.says) == true, "\(item.file): \(response.problemDetail ?? response.text)")
            #expect(response.problemDetail?.contains(".swift:") == false, "\(item.file): a source location in \(response.problemDetail ?? "")")
        }
        #expect(harness.pebble.newOrderCount == 0, "a refused CSR reached the CA")

        // PEM, labelled as DER: read by its armour, and issued.
        try await shell("openssl req -new -key \(directory)/k.pem -subj /CN=\(Self.name) -addext 'subjectAltName=DNS:\(Self.name)' -out \(directory)/good.pem")
        let pem = try await curl(harness.signURL, bodyFile: "\(directory)/good.pem", headers: ["Content-Type: application/pkcs10"])
        #expect(pem.status == 200, "\(pem.text)")
    }

    /// The per-install name as a shell installer computes it, with openssl and coreutils only:
    /// base32 of the SHA-256 of the DER SubjectPublicKeyInfo, lowercase, 26 characters.
    @Test func perInstallNameComputedWithOpenSSLGetsACertificate() async throws {
        var options = SignerHarness.Options()
        options.zones = [SignerHarness.Zone(naming: "per-install")]
        let harness = try await SignerHarness(options)
        defer { harness.stop() }
        let directory = harness.workDirectory.path
        let name = try await shell("""
            cd \(directory) && openssl ecparam -name prime256v1 -genkey -noout -out key.pem && \
            label=$(openssl pkey -in key.pem -pubout -outform DER | openssl dgst -sha256 -binary | base32 | tr -d '=' | tr A-Z a-z | cut -c1-26) && \
            echo "$label.\(Self.name)"
            """).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(name.count == 26 + 1 + Self.name.count, "\(name)")
        try await shell("openssl req -new -key \(directory)/key.pem -subj /CN=\(name) -addext 'subjectAltName=DNS:\(name)' -out \(directory)/req.pem")
        let response = try await curl(harness.signURL, bodyFile: "\(directory)/req.pem")
        #expect(response.status == 200, "\(response.text)")
        let leaf = try TestCertificates.chain(fromPEM: response.text)[0]
        #expect(try leaf.extensions.subjectAlternativeNames.map(Array.init) == [.dnsName(name)])
    }

    /// `max_values_per_name` past what fits a 1232-byte answer is refused by check-config with
    /// the computed maximum (20 here). Then 24 concurrent requests for the one name all complete
    /// through the name's TXT set, and no value is left published (asked with dig, UDP and TCP).
    /// The set is capped at 8 for this run, not 20: pebble's validator asks over UDP without EDNS
    /// and never retries over TCP, so it reads at most 512 bytes (8 values); a real CA's resolvers
    /// use EDNS and TCP (the probe's own TCP fallback is tested in ChallengePublisherTests).
    @Test func theValueCapIsComputedAndNothingSticks() async throws {
        var options = SignerHarness.Options()
        var zone = SignerHarness.Zone()
        zone.maxValuesPerName = 8
        options.zones = [zone]
        let harness = try await SignerHarness(options)
        defer { harness.stop() }
        let config = try String(contentsOfFile: harness.configurationPath, encoding: .utf8)
        for (cap, accepted) in [(24, false), (21, false), (20, true)] {
            let path = harness.workDirectory.appendingPathComponent("cap-\(cap).toml").path
            try config.replacingOccurrences(of: "max_values_per_name = 8", with: "max_values_per_name = \(cap)").write(toFile: path, atomically: true, encoding: .utf8)
            let checked = try await runCommand(try builtExecutable("csrproxy-signer"), ["check-config", "-c", path])
            #expect((checked.status == 0) == accepted, "\(cap): \(checked.standardOutput) \(checked.standardError)")
            if !accepted { #expect(checked.status == 78 && checked.standardError.contains("between 1 and 20"), "\(checked.standardError)") }
        }

        let requests = 24
        let directory = harness.workDirectory.path
        for index in 0..<requests {
            try Data(try TestCertificates.csr(for: [Self.name], key: .init(P256.Signing.PrivateKey()))).write(to: URL(fileURLWithPath: "\(directory)/req-\(index).der"))
        }
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<requests {
                group.addTask {
                    try await curl(harness.signURL, bodyFile: "\(directory)/req-\(index).der", headers: ["Content-Type: application/pkcs10"], timeout: .seconds(120)).status
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(statuses.allSatisfy { $0 == 200 }, "statuses: \(statuses.sorted())")
        for tcp in [false, true] {
            let answer = try await Dig.query(port: harness.dnsPort, "_acme-challenge.\(Self.name)", "TXT", tcp: tcp)
            #expect(answer.answer.isEmpty, "values left published: \(answer.answer)")
        }
    }

    /// 1,000 refused requests with random label values add no series to /metrics; an issued
    /// request shows its label only when the value is on the allow-list.
    @Test func requestersCannotAddMetricSeries() async throws {
        var options = SignerHarness.Options()
        options.extraHTTP = "metric_label_values = { product = [\"acme-ui\"] }"
        let harness = try await SignerHarness(options)
        defer { harness.stop() }
        func series() async throws -> Set<String> {
            let text = try await curl(harness.baseURL.appendingPathComponent("metrics")).text
            return Set(text.split(separator: "\n").filter { $0.hasPrefix("csrproxy_issuances_total{") }.map { String($0.prefix { $0 != "}" }) })
        }
        let script = harness.workDirectory.appendingPathComponent("junk.py").path
        try """
            import http.client, random, string, sys
            connection = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
            for _ in range(1000):
                value = "".join(random.choice(string.ascii_lowercase) for _ in range(12))
                connection.request("POST", "/v1/sign", body=b"junk", headers={"X-CSRProxy-Label": "product=" + value})
                connection.getresponse().read()
            """.write(toFile: script, atomically: true, encoding: .utf8)
        let sent = try await runCommand("/usr/bin/python3", [script, String(harness.baseURL.port!)], timeout: .seconds(120))
        #expect(sent.status == 0, "\(sent.standardError)")
        let afterJunk = try await series()
        #expect(afterJunk == [#"csrproxy_issuances_total{zone="-",outcome="bad-csr",label_product="other""#], "\(afterJunk)")

        let path = harness.workDirectory.appendingPathComponent("req.der").path
        try Data(try TestCertificates.csr(for: [Self.name], key: .init(P256.Signing.PrivateKey()))).write(to: URL(fileURLWithPath: path))
        for value in ["acme-ui", "not-listed"] {
            let response = try await curl(harness.signURL, bodyFile: path, headers: ["Content-Type: application/pkcs10", "X-CSRProxy-Label: product=\(value)"])
            #expect(response.status == 200, "\(response.text)")
        }
        let issued = try await series().subtracting(afterJunk)
        #expect(issued == [
            #"csrproxy_issuances_total{zone="eval.example.com",outcome="issued",label_product="acme-ui""#,
            #"csrproxy_issuances_total{zone="eval.example.com",outcome="issued",label_product="other""#,
        ], "\(issued)")
    }

    /// 1,000 slow HTTP connections and 300 DNS TCP connections trickling a byte a second, all
    /// from 127.0.0.1: meanwhile a client at 127.0.0.2 gets a certificate within 5 s and an
    /// answer from `dig +tcp`, the signer's descriptors stay within its caps, and every slow
    /// connection is closed within its timeout.
    @Test func slowClientsExhaustNothing() async throws {
        var options = SignerHarness.Options()
        options.extraHTTP = "header_timeout_seconds = 3\nbody_timeout_seconds = 3\nmax_connections = 512\nmax_connections_per_client = 32"
        options.extraDNS = "tcp_idle_timeout_seconds = 3\nmax_tcp_connections_per_client = 16"
        let harness = try await SignerHarness(options)
        defer { harness.stop() }
        let script = harness.workDirectory.appendingPathComponent("slow.py").path
        try """
            import resource, socket, sys, time
            resource.setrlimit(resource.RLIMIT_NOFILE, (4096, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
            http_port, dns_port = int(sys.argv[1]), int(sys.argv[2])
            sockets = []
            for kind, port, count, first in (("http", http_port, 1000, b"POST /v1/sign HTTP/1.1\\r\\nHost: s\\r\\nContent-Le"), ("dns", dns_port, 300, b"\\x00")):
                for _ in range(count):
                    s = socket.create_connection(("127.0.0.1", port))
                    s.setblocking(False)
                    try:
                        s.send(first)
                    except OSError:
                        pass
                    sockets.append((kind, s))
            print("opened", flush=True)
            start, open_, closed = time.time(), set(range(len(sockets))), []
            while time.time() < start + 15 and open_:
                for i in list(open_):
                    kind, s = sockets[i]
                    try:
                        if s.recv(4096) == b"":
                            raise OSError("closed")
                        s.send(b"n" if kind == "http" else b"\\x20")
                    except BlockingIOError:
                        try:
                            s.send(b"n" if kind == "http" else b"\\x20")
                        except BlockingIOError:
                            pass
                        except OSError:
                            open_.discard(i); closed.append(time.time() - start)
                    except OSError:
                        open_.discard(i); closed.append(time.time() - start)
                time.sleep(1)
            print("still-open=%d last-close=%.1f" % (len(open_), max(closed or [0])), flush=True)
            """.write(toFile: script, atomically: true, encoding: .utf8)
        let slow = try ServerProcess("/usr/bin/python3", [script, String(harness.baseURL.port!), String(harness.dnsPort)])
        defer { _ = slow.stop() }
        _ = try await slow.waitForOutput(matching: "(opened)", timeout: .seconds(60))

        let descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(harness.signer.pid)/fd").count
        #expect(descriptors < 32 + 16 + 100, "the signer holds \(descriptors) descriptors")
        let csr = harness.workDirectory.appendingPathComponent("req.der").path
        try Data(try TestCertificates.csr(for: [Self.name], key: .init(P256.Signing.PrivateKey()))).write(to: URL(fileURLWithPath: csr))
        let started = ContinuousClock.now
        let issued = try await runCommand("/usr/bin/curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--interface", "127.0.0.2", "--max-time", "30",
                                                             "-H", "Content-Type: application/pkcs10", "--data-binary", "@\(csr)", harness.signURL.absoluteString])
        #expect(issued.standardOutput == "200", "\(issued.standardOutput) \(issued.standardError)")
        #expect(ContinuousClock.now - started < .seconds(5), "the issuance took \(ContinuousClock.now - started) beside the slow clients")
        let answer = try await Dig.query(port: harness.dnsPort, Self.name, "A", tcp: true, options: ["-b", "127.0.0.2"])
        #expect(answer.status == "NOERROR" && !answer.answer.isEmpty, "\(answer.raw)")

        let report = try await slow.waitForOutput(matching: #"(still-open=\d+ last-close=[\d.]+)"#, timeout: .seconds(60))
        #expect(report.hasPrefix("still-open=0 "), "\(report)")
        if let last = Double(report.split(separator: "=").last ?? "") { #expect(last <= 3 + 2, "the last slow connection closed after \(last) s") }
    }
}
