import Foundation
import Testing
import TestSupport

/// The real `csrproxy-agent` against a signer that lies: a tiny HTTP server (Python's, on
/// loopback) that answers `POST /v1/sign` with too much, forever, a certificate for another key,
/// one with a name the agent did not ask for (signed by a CA the agent trusts, so only the name
/// check stands in the way), or a problem whose detail carries terminal escapes. Each time the
/// agent exits with the documented code, installs nothing, and prints no control character.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct HostileSignerTests {
    static let server = #"""
        import http.server, os, signal, subprocess, sys, tempfile, time
        # The test runner's threads block SIGTERM, and a spawned child inherits that mask.
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])
        mode, ca = sys.argv[1], sys.argv[2]
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def log_message(self, *args): pass
            def do_GET(self):
                self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers()
            def do_POST(self):
                csr = self.rfile.read(int(self.headers["Content-Length"]))
                print("request POST %s" % self.path, flush=True)
                if mode == "redirect":
                    # To plain http on this same server: a second request would show here.
                    self.send_response(302); self.send_header("Location", "http://127.0.0.1:%d/v1/elsewhere" % server.server_address[1]); self.send_header("Content-Length", "0"); self.end_headers(); return
                if mode == "ca-refused":
                    body = b'{"type":"urn:csrproxy:problem:ca-refused","title":"The CA refused the request","status":502,"detail":"the CA could not validate the challenge","ca_problem_type":"urn:ietf:params:acme:error:unauthorized"}'
                    self.send_response(502); self.send_header("Content-Type", "application/problem+json"); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body); return
                if mode == "count":
                    body = b'{"type":"urn:csrproxy:problem:ca-unavailable","title":"x","status":503,"detail":"second node"}'
                    self.send_response(503); self.send_header("Content-Type", "application/problem+json"); self.send_header("Retry-After", "1"); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body); return
                if mode == "oversized":
                    body = b"A" * (5 << 20); self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body); return
                if mode == "endless":
                    self.send_response(200); self.send_header("Transfer-Encoding", "chunked"); self.end_headers()
                    chunk = b"-----BEGIN CERTIFICATE-----\n" * 512
                    while True:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk)); self.wfile.flush(); time.sleep(0.01)
                if mode == "escapes":
                    body = b'{"type":"urn:csrproxy:problem:policy","title":"x","status":403,"detail":"\\u001b[2J\\u001b]0;pwned\\u0007\\rall good\\u009b31m"}'
                    self.send_response(403); self.send_header("Content-Type", "application/problem+json"); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body); return
                work = tempfile.mkdtemp()
                names = "DNS:go.eval.example.com,DNS:evil.example.com" if mode == "extra-names" else "DNS:go.eval.example.com"
                open(work + "/ext", "w").write("subjectAltName=" + names + "\n")
                if mode == "other-key":
                    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", work + "/k", "-subj", "/CN=go.eval.example.com", "-outform", "DER", "-out", work + "/csr"], check=True, capture_output=True)
                else:
                    open(work + "/csr", "wb").write(csr)
                subprocess.run(["openssl", "x509", "-req", "-inform", "DER", "-in", work + "/csr", "-CA", ca + ".pem", "-CAkey", ca + ".key", "-days", "2", "-extfile", work + "/ext", "-out", work + "/crt"], check=True, capture_output=True)
                body = open(work + "/crt", "rb").read()
                self.send_response(200); self.send_header("Content-Type", "application/pem-certificate-chain"); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        print("port=%d" % server.server_address[1], flush=True)
        server.serve_forever()
        """#

    /// Starts the script in `mode`; returns it and its port.
    static func start(_ mode: String, in work: URL, ca: String) async throws -> (ServerProcess, Int) {
        let script = work.appendingPathComponent("server.py").path
        try Self.server.write(toFile: script, atomically: true, encoding: .utf8)
        let signer = try ServerProcess("/usr/bin/python3", [script, mode, ca])
        return (signer, Int(try await signer.waitForOutput(matching: #"port=(\d+)"#))!)
    }

    static func requests(_ signer: ServerProcess) -> Int {
        signer.standardOutput.components(separatedBy: "request POST").count - 1
    }

    /// A signer that answers 302 to a plain-http URL: the agent sends no second request, says
    /// where it was sent, and exits 65 with nothing installed.
    @Test func aRedirectIsNeverFollowed() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-signer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let (signer, port) = try await Self.start("redirect", in: work, ca: "/nonexistent")
        defer { _ = signer.stop() }
        let agent = try AgentRunner(workDirectory: work, signerPort: port, caBundle: "/etc/ssl/certs/ca-certificates.crt")
        let result = try await agent.run(["issue", "--deadline", "15"])
        #expect(result.status == 65, "exit \(result.status): \(result.standardError)")
        #expect(result.standardError.contains("302") && result.standardError.contains("http://127.0.0.1:\(port)/v1/elsewhere"), "\(result.standardError)")
        #expect(Self.requests(signer) == 1, "\(signer.standardOutput)")
        #expect(!FileManager.default.fileExists(atPath: agent.path("cert.pem")))
    }

    /// Two signers of one zone: the first answers `ca-refused` (a 502). The agent stops there,
    /// sending nothing to the second: asking again would spend the CA's failed-validation limit.
    @Test func caRefusedIsFinalAcrossSigners() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-signer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let first = work.appendingPathComponent("first"), second = work.appendingPathComponent("second")
        for directory in [first, second] { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) }
        let (refusing, refusingPort) = try await Self.start("ca-refused", in: first, ca: "/nonexistent")
        defer { _ = refusing.stop() }
        let (other, otherPort) = try await Self.start("count", in: second, ca: "/nonexistent")
        defer { _ = other.stop() }
        let configuration = work.appendingPathComponent("agent.toml").path
        try """
            signer_urls = ["http://127.0.0.1:\(refusingPort)", "http://127.0.0.1:\(otherPort)"]
            name = "\(SignerHarness.name)"
            directory = "\(work.appendingPathComponent("agent-tls").path)"
            deadline_seconds = 15
            """.write(toFile: configuration, atomically: true, encoding: .utf8)
        let result = try await runCommand(try builtExecutable("csrproxy-agent"), ["issue", "-c", configuration], timeout: .seconds(60))
        #expect(result.status == 65, "exit \(result.status): \(result.standardError)")
        #expect(result.standardError.contains("could not validate"), "\(result.standardError)")
        #expect(Self.requests(refusing) == 1, "\(refusing.standardOutput)")
        #expect(Self.requests(other) == 0, "the second signer was asked: \(other.standardOutput)")
    }

    @Test(arguments: ["oversized", "endless", "other-key", "extra-names", "escapes"])
    func aLyingSignerGetsNothingInstalled(mode: String) async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-signer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let ca = work.appendingPathComponent("ca").path
        let made = try await runCommand("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "\(ca).key",
                                                             "-out", "\(ca).pem", "-days", "3", "-subj", "/CN=Hostile Test CA", "-addext", "basicConstraints=critical,CA:TRUE"])
        #expect(made.status == 0, "\(made.standardError)")
        let script = work.appendingPathComponent("server.py").path
        try Self.server.write(toFile: script, atomically: true, encoding: .utf8)
        let signer = try ServerProcess("/usr/bin/python3", [script, mode, ca])
        defer { _ = signer.stop() }
        let port = Int(try await signer.waitForOutput(matching: #"port=(\d+)"#))!
        let agent = try AgentRunner(workDirectory: work, signerPort: port, caBundle: "\(ca).pem")

        let started = ContinuousClock.now
        let result = try await agent.run(["issue", "--deadline", "15"])
        #expect(ContinuousClock.now - started < .seconds(30), "\(mode): the agent took too long")
        #expect(result.status == 65, "\(mode): exit \(result.status): \(result.standardError)")
        #expect(result.standardError.contains("csrproxy-agent: error:"), "\(mode): \(result.standardError)")
        let printed = result.standardOutput + result.standardError
        let controls = printed.unicodeScalars.filter { ($0.value < 0x20 && $0 != "\n") || (0x7F...0x9F).contains($0.value) }
        #expect(controls.isEmpty, "\(mode): printed control characters \(controls.map { $0.value })")
        for name in ["key.pem", "cert.pem", "fullchain.pem", "live"] {
            #expect(!FileManager.default.fileExists(atPath: agent.path(name)), "\(mode): \(name) was installed")
        }
        if mode == "escapes" { #expect(result.standardError.contains("all good"), "\(result.standardError)") }
        if mode == "extra-names" { #expect(result.standardError.contains("evil.example.com"), "\(result.standardError)") }
    }
}
