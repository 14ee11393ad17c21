import Foundation

/// Runs the real `csrproxy-agent` binary against a signer the test started, with its own
/// configuration file and certificate directory.
public struct AgentRunner: Sendable {
    public let configurationPath: String
    public let directory: String

    /// Writes `agent.toml` in `workDirectory`: the signer at `signerPort` (plain HTTP on loopback),
    /// pebble's root as the extra CA bundle so the issued chain verifies, and `extra` lines.
    public init(workDirectory: URL, signerPort: Int, caBundle: String, name: String = SignerHarness.name, extra: String = "") throws {
        directory = workDirectory.appendingPathComponent("agent-tls").path
        configurationPath = workDirectory.appendingPathComponent("agent.toml").path
        let text = """
            signer_url = "http://127.0.0.1:\(signerPort)"
            name = "\(name)"
            directory = "\(directory)"
            ca_bundle = "\(caBundle)"
            labels = ["product=tests"]
            deadline_seconds = 20
            \(extra)
            """
        try text.write(toFile: configurationPath, atomically: true, encoding: .utf8)
    }

    /// Writes `text` as `agent.toml` in `workDirectory`, as it is (an example a publisher
    /// copies, with the test's signer and directory put in by the caller); `directory` is the
    /// one `text` names.
    public init(workDirectory: URL, configurationText text: String, directory: String) throws {
        self.directory = directory
        configurationPath = workDirectory.appendingPathComponent("agent-\(UUID().uuidString).toml").path
        try text.write(toFile: configurationPath, atomically: true, encoding: .utf8)
    }

    /// Runs `csrproxy-agent ARGS -c agent.toml` to completion.
    public func run(_ arguments: [String], environment: [String: String]? = nil, timeout: Duration = .seconds(90)) async throws -> CommandResult {
        try await runCommand(try builtExecutable("csrproxy-agent"), arguments + ["-c", configurationPath], environment: environment, timeout: timeout)
    }

    /// Starts it without waiting, for tests that kill it mid-way.
    public func start(_ arguments: [String]) throws -> ServerProcess {
        try ServerProcess(try builtExecutable("csrproxy-agent"), arguments + ["-c", configurationPath])
    }

    public func path(_ name: String) -> String { "\(directory)/\(name)" }
}

extension AgentRunner {
    /// An agent set up against `harness` that has already run `issue`, with pebble's root (the
    /// file its chain verifies against).
    public static func issued(by harness: SignerHarness) async throws -> (agent: AgentRunner, pebbleRoot: String) {
        let root = try await harness.issuingRootFile()
        let agent = try AgentRunner(workDirectory: harness.workDirectory, signerPort: harness.baseURL.port!, caBundle: root)
        let result = try await agent.run(["issue", "--quiet"])
        guard result.status == 0 else { throw TestFailure("issue failed: \(result.standardError)") }
        return (agent, root)
    }
}

/// `csrproxy-demo` on a free loopback port, serving `agent`'s files; returns it and its port.
public func startDemo(on agent: AgentRunner, extraArguments: [String] = [], environment: [String: String]? = nil) async throws -> (ServerProcess, port: Int) {
    let demo = try ServerProcess(try builtExecutable("csrproxy-demo"), [
        "--certificate", agent.path("fullchain.pem"), "--key", agent.path("key.pem"), "--listen", "127.0.0.1:0",
    ] + extraArguments, environment: environment)
    let port = Int(try await demo.waitForOutput(matching: #"https=127\.0\.0\.1:(\d+)"#))!
    return (demo, port)
}
