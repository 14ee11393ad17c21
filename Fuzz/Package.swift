// swift-tools-version:6.0
// libFuzzer targets for the parsers that face the network. A package of its own, beside the main
// one, because a fuzz target's entry point is libFuzzer's, not Swift's: `scripts/fuzz` builds it
// with -sanitize=fuzzer -parse-as-library and runs each target on its seed corpus (Fuzz/Corpus).
import Foundation
import PackageDescription

/// SwiftPM names a path dependency after its directory, whatever the clone is called.
let main = URL(fileURLWithPath: Context.packageDirectory).deletingLastPathComponent()

let package = Package(
    name: "csrproxy-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(path: main.path)],
    targets: [
        // libFuzzer's driver, declared for the targets' entry points.
        .target(name: "CFuzzer"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzer"]),
        // DNS messages as the server reads them from UDP and TCP, and the answer it would give.
        .executableTarget(
            name: "FuzzDNSMessage",
            dependencies: [
                "FuzzSupport",
                .product(name: "DNSCodec", package: main.lastPathComponent),
                .product(name: "DNSServer", package: main.lastPathComponent),
            ]),
        // CSR bodies as the signer reads them, and every policy question asked of one.
        .executableTarget(
            name: "FuzzCSRPolicy",
            dependencies: ["FuzzSupport", .product(name: "CertificateSupport", package: main.lastPathComponent)]),
    ]
)
