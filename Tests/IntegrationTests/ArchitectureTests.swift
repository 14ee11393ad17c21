import Foundation
import Testing

/// Keeps the module graph one-way by reading every `import` line under Sources/.
/// A new module must be added here with what it may import, or this test fails.
struct ArchitectureTests {
    static let systemModules: Set<String> = ["Glibc", "Musl", "Darwin", "Synchronization", "FoundationEssentials"]

    /// What each module may import, beyond the system modules.
    static let allowedImports: [String: Set<String>] = [
        "DNSCodec": ["NIOCore", "Crypto"],
        "DNSServer": ["DNSCodec", "NIOCore", "NIOPosix", "Logging", "ServiceLifecycle"],
        // The ACME client meets the DNS server only in the signer, through `DNS01Solver`.
        "ACME": ["CertificateSupport", "Foundation", "Crypto", "_CryptoExtras", "X509", "SwiftASN1", "AsyncHTTPClient", "NIOSSL", "NIOCore", "NIOHTTP1", "Logging"],
        // Wire types both halves share: no networking, no crypto, so the agent can take it whole.
        "SignerProtocol": ["Foundation", "Algorithms"],
        "CertificateSupport": ["Foundation", "Crypto", "_CryptoExtras", "X509", "SwiftASN1", "Algorithms"],
        "SystemdSupport": ["CSystemd", "ServiceLifecycle"],
        // Swappable TLS for any Swift server: no ACME, no agent networking.
        "ReloadableTLS": ["Foundation", "Crypto", "X509", "SwiftASN1", "NIOCore", "NIOSSL", "HummingbirdCore", "Logging"],
        // The composition root: the one module where DNS, ACME and HTTP meet.
        "Signer": [
            "DNSCodec", "DNSServer", "ACME", "SignerProtocol", "CertificateSupport", "ReloadableTLS", "SystemdSupport", "Foundation", "Crypto", "_CryptoExtras",
            "X509", "SwiftASN1", "Hummingbird", "HummingbirdCore", "HTTPTypes", "NIOHTTPTypes", "Prometheus", "TOMLKit",
            "NIOCore", "NIOPosix", "NIOSSL", "Logging", "ServiceLifecycle", "UnixSignals", "PostgresNIO",
        ],
        // The embeddable agent: no server stack (no Hummingbird, no DNS server, no ACME client).
        "Agent": ["SignerProtocol", "CertificateSupport", "CLinuxProcess", "CSDLogin", "Foundation", "Crypto", "X509", "SwiftASN1", "AsyncHTTPClient", "NIOCore", "NIOHTTP1", "NIOSSL", "Logging", "TOMLKit"],
        "CommandLineSupport": ["ArgumentParser", "Logging"],
        "AgentCLI": ["Agent", "CertificateSupport", "CommandLineSupport", "ArgumentParser", "Dispatch", "Foundation", "Logging"],
        "DemoCLI": ["ReloadableTLS", "SystemdSupport", "CommandLineSupport", "CertificateSupport", "Hummingbird", "ArgumentParser", "Foundation", "Logging", "ServiceLifecycle", "UnixSignals", "X509", "NIOCore"],
        "SignerCLI": ["DNSCodec", "DNSServer", "Signer", "CommandLineSupport", "Foundation", "Hummingbird", "ArgumentParser", "Logging", "ServiceLifecycle", "NIOCore", "NIOPosix"],
    ]

    /// Executables: the only places that parse flags or bootstrap logging.
    static let commandLineModules: Set<String> = ["SignerCLI", "AgentCLI", "DemoCLI", "CommandLineSupport"]

    static let sources = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources")

    static func swiftFiles(in module: String) throws -> [(name: String, text: String)] {
        let directory = sources.appendingPathComponent(module)
        guard let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil) else { return [] }
        return try walker.compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }.map {
            ($0.lastPathComponent, try String(contentsOf: $0, encoding: .utf8))
        }
    }

    static func imports(in text: String) -> [String] {
        text.split(separator: "\n").compactMap { line in
            let words = line.split(separator: " ").filter { !$0.hasPrefix("@") }
            guard let first = words.first, ["import", "public", "package", "internal", "@_exported"].contains(first) else { return nil }
            guard let index = words.firstIndex(of: "import"), index + 1 < words.count else { return nil }
            return words[index + 1].split(separator: ".").first.map(String.init)
        }
    }

    @Test func everyModuleIsListed() throws {
        // System-library targets (a module map over a C library, no Swift) have no imports to check.
        let modules = try FileManager.default.contentsOfDirectory(atPath: Self.sources.path).filter {
            !$0.hasPrefix(".") && !FileManager.default.fileExists(atPath: Self.sources.appendingPathComponent("\($0)/module.modulemap").path)
        }
        #expect(Set(modules) == Set(Self.allowedImports.keys), "add new modules to ArchitectureTests.allowedImports")
    }

    @Test("each module imports only what its layer allows", arguments: allowedImports.keys.sorted())
    func importsPointOneWay(module: String) throws {
        let allowed = Self.allowedImports[module]!.union(Self.systemModules)
        let files = try Self.swiftFiles(in: module)
        #expect(!files.isEmpty)
        for file in files {
            for imported in Self.imports(in: file.text) {
                #expect(allowed.contains(imported), "\(module)/\(file.name) imports \(imported)")
            }
        }
    }

    @Test func onlyCommandLineModulesBootstrapLogging() throws {
        for module in Self.allowedImports.keys where !Self.commandLineModules.contains(module) {
            for file in try Self.swiftFiles(in: module) {
                #expect(!file.text.contains("LoggingSystem.bootstrap"), "\(module)/\(file.name) bootstraps logging")
                #expect(!file.text.contains("Logger(label:"), "\(module)/\(file.name) makes its own logger; take one as a parameter")
            }
        }
    }

    @Test func theImportReaderSeesImports() {
        #expect(Self.imports(in: "import NIOCore\n@preconcurrency import Foundation\nlet x = 1 // import Fake") == ["NIOCore", "Foundation"])
    }

    /// Calls that change state the whole test process shares. Tests run in parallel, and one
    /// of them changing the environment while another starts a program crashed a run (Foundation
    /// copies `environ` as it spawns). A test passes what a child needs to that child instead.
    static let processWideCalls = ["set" + "env(", "unset" + "env(", "put" + "env(", "ch" + "dir(", "fch" + "dir(", "u" + "mask("]

    static func processWideCalls(in text: String) -> [String] {
        text.split(separator: "\n").flatMap { line -> [String] in
            let code = line.split(separator: "//", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            return processWideCalls.filter { call in
                code.ranges(of: call).contains { range in
                    // `umask(` as a word, not `Umask:` read from /proc or a longer name.
                    range.lowerBound == code.startIndex || !(code[code.index(before: range.lowerBound)].isLetter || code[code.index(before: range.lowerBound)] == "_")
                }
            }
        }
    }

    @Test func noTestChangesProcessWideState() throws {
        let tests = Self.sources.deletingLastPathComponent().appendingPathComponent("Tests")
        let walker = try #require(FileManager.default.enumerator(at: tests, includingPropertiesForKeys: nil))
        var checked = 0
        for case let file as URL in walker where file.pathExtension == "swift" {
            let calls = Self.processWideCalls(in: try String(contentsOf: file, encoding: .utf8))
            #expect(calls.isEmpty, "\(file.path) calls \(calls): pass an environment to the child, or use absolute paths")
            checked += 1
        }
        #expect(checked > 50)
    }

    /// A test signals what it started through `ServerProcess.send`, which refuses once the
    /// child has been reaped; `kill(x.pid, ...)` could reach whatever has that pid by then.
    @Test func noTestSignalsARawPid() throws {
        let tests = Self.sources.deletingLastPathComponent().appendingPathComponent("Tests")
        let walker = try #require(FileManager.default.enumerator(at: tests, includingPropertiesForKeys: nil))
        for case let file as URL in walker where file.pathExtension == "swift" && file.lastPathComponent != "ChildProcess.swift" {
            for whole in try String(contentsOf: file, encoding: .utf8).split(separator: "\n") {
                let line = whole.split(separator: "//", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
                guard line.contains("kil" + "l(") && line.contains(".pid") else { continue }
                #expect(Bool(false), "\(file.lastPathComponent): \(line.trimmingCharacters(in: .whitespaces)): use ServerProcess.send")
            }
        }
    }

    @Test func theProcessWideCallReaderSeesCalls() {
        #expect(Self.processWideCalls(in: "  " + "set" + "env(\"A\", \"b\", 1)\nlet x = 1 // un" + "setenv(\"A\")") == ["set" + "env("])
        #expect(Self.processWideCalls(in: "_ = u" + "mask(0)\nlet m = \"Umask:\"\nmy_u" + "mask(1)") == ["u" + "mask("])
    }
}
