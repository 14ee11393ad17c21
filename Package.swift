// swift-tools-version:6.0
// CSRProxy: browser-trusted HTTPS certificates for evaluation installs, by CSR proxying.
// The module graph is kept one-way on purpose; Tests/IntegrationTests/ArchitectureTests.swift
// reads the import lines and fails when an arrow points back.
import PackageDescription

/// Keys, signatures, X.509 and ASN.1: what every certificate-handling target needs.
let cryptography: [Target.Dependency] = [
    .product(name: "Crypto", package: "swift-crypto"),
    .product(name: "_CryptoExtras", package: "swift-crypto"),
    .product(name: "X509", package: "swift-certificates"),
    .product(name: "SwiftASN1", package: "swift-asn1"),
]

let package = Package(
    name: "csrproxy",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "DNSCodec", targets: ["DNSCodec"]),
        .library(name: "DNSServer", targets: ["DNSServer"]),
        .library(name: "ACME", targets: ["ACME"]),
        .library(name: "SignerProtocol", targets: ["SignerProtocol"]),
        .library(name: "CertificateSupport", targets: ["CertificateSupport"]),
        .library(name: "Signer", targets: ["Signer"]),
        .library(name: "ReloadableTLS", targets: ["ReloadableTLS"]),
        .library(name: "Agent", targets: ["Agent"]),
        .library(name: "SystemdSupport", targets: ["SystemdSupport"]),
        .executable(name: "csrproxy-signer", targets: ["SignerCLI"]),
        .executable(name: "csrproxy-agent", targets: ["AgentCLI"]),
        .executable(name: "csrproxy-demo", targets: ["DemoCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-algorithms.git", from: "1.2.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // DNS wire format: messages, names with compression, records, EDNS0, TSIG. NIOCore and
        // swift-crypto (for HMAC) only.
        .target(
            name: "DNSCodec",
            // swift-crypto for TSIG's HMAC only.
            dependencies: [.product(name: "NIOCore", package: "swift-nio"), .product(name: "Crypto", package: "swift-crypto")]
        ),
        // The authoritative server: zone store, query answering, UDP and TCP listeners.
        .target(
            name: "DNSServer",
            dependencies: [
                "DNSCodec",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // RFC 8555 ACME client: wire types, JWS, transport with nonces, flows. Knows no DNS server, no HTTP routing.
        .target(
            name: "ACME",
            // CertificateSupport for Base64URL and the ARI CertID, which the agent uses too.
            dependencies: ["CertificateSupport"] + cryptography + [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // What agent and signer say to each other: paths, headers, labels, RFC 9457 problems.
        // Foundation and swift-algorithms only.
        .target(name: "SignerProtocol", dependencies: [.product(name: "Algorithms", package: "swift-algorithms")]),
        // CSR parsing and policy, subjects (RFC 4514), per-install names, renewal windows. No networking.
        .target(
            name: "CertificateSupport",
            dependencies: cryptography + [.product(name: "Algorithms", package: "swift-algorithms")]
        ),
        // TLS for SwiftNIO/Hummingbird servers whose certificate is swapped while they run. Knows
        // nothing of ACME or the agent, so any Swift product can embed it alone.
        .target(
            name: "ReloadableTLS",
            dependencies: cryptography + [
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // pidfd_open and pidfd_send_signal from glibc (Debian 12's 2.36), which Swift's Glibc lacks.
        .systemLibrary(name: "CLinuxProcess"),
        // sd-login (who sits at the screen, for `open`), loaded with dlopen: nothing linked.
        .systemLibrary(name: "CSDLogin"),
        // The embeddable agent: keys, CSR, the signer client, atomic installs, renewal, reloads.
        // No server stack: products link it.
        .target(
            name: "Agent",
            dependencies: ["SignerProtocol", "CertificateSupport", "CLinuxProcess", "CSDLogin"] + cryptography + [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ]
        ),
        // libsystemd's C API (Debian: libsystemd-dev), for sd_notify.
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        // sd_notify for services: READY, RELOADING with MONOTONIC_USEC, STOPPING, STATUS, WATCHDOG.
        .target(
            name: "SystemdSupport",
            dependencies: [
                "CSystemd",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The signer's composition root: configuration, policy, issuance orchestration, HTTP routes.
        // The only module where the DNS server and the ACME client meet.
        .target(
            name: "Signer",
            dependencies: [
                "DNSCodec", "DNSServer", "ACME", "SignerProtocol", "CertificateSupport", "ReloadableTLS", "SystemdSupport",
            ] + cryptography + [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                // Shared state for several signer nodes (`[state] backend = "postgres"`).
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        // What both command-line tools share: --log-level with journald-friendly output, raw stdout/stderr.
        .target(
            name: "CommandLineSupport",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // `csrproxy-agent`: the thin shell over the Agent library, with the documented exit codes.
        .executableTarget(
            name: "AgentCLI",
            dependencies: [
                "Agent", "CertificateSupport", "CommandLineSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // The agent runs on every evaluation box twice a day, so its memory is a budget. The
            // static stdlib's link arguments export every symbol of the executable; nothing here
            // looks a symbol up by name, so dropping the export saves 2.1 MB of symbol tables and
            // 1.1 MB of peak RSS. (GNU ld's packed relocations would save 2.6 MB more, but with
            // Swift's writable .rodata it cannot lay out RELRO; gold keeps it, so gold stays.)
            // Code is mapped 64 KB around each first touch, so the few hundred KB a not-due
            // `renew` runs cost 9.7 MB while scattered over 20 MB of code: gold puts the sections
            // listed in the link order (measured by scripts/make-agent-order; it needs the
            // function sections of scripts/lib/common.sh's RELEASE_BUILD_FLAGS) side by side.
            linkerSettings: [
                .unsafeFlags(
                    ["-use-ld=gold", "-Xlinker", "--no-export-dynamic", "-Xlinker", "--section-ordering-file=\(Context.packageDirectory)/packaging/csrproxy-agent.link-order"],
                    .when(platforms: [.linux], configuration: .release)
                ),
            ]
        ),
        // `csrproxy-demo`: the stand-in for the evaluated product, on ReloadableTLS and SystemdSupport.
        .executableTarget(
            name: "DemoCLI",
            dependencies: cryptography + [
                "ReloadableTLS", "SystemdSupport", "CommandLineSupport", "CertificateSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // `csrproxy-signer`: a thin shell that parses flags, bootstraps logging and runs services.
        .executableTarget(
            name: "SignerCLI",
            dependencies: [
                "DNSCodec",
                "DNSServer",
                "Signer", "CommandLineSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // scripts/bench-acme's driver: sequential issuances through our client against pebble.
        .executableTarget(
            name: "ACMEIssuanceBenchmark",
            dependencies: [
                "ACME", "DNSCodec", "DNSServer", "CertificateSupport",
            ] + cryptography + [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Benchmarks/ACMEIssuance"
        ),
        // scripts/bench-signer's driver: concurrent installs through the signer's HTTP API.
        .executableTarget(
            name: "SignerLoadBenchmark",
            dependencies: ["CertificateSupport"] + cryptography + [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/SignerLoad"
        ),
        // scripts/bench-agent's driver for in-process key + CSR times.
        .executableTarget(
            name: "KeyGenerationBenchmark",
            dependencies: ["CertificateSupport"],
            path: "Benchmarks/KeyGeneration"
        ),
        .target(
            name: "TestSupport",
            dependencies: [
                "DNSCodec", "DNSServer", "ACME", "CertificateSupport", "ReloadableTLS",
            ] + cryptography + [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/TestSupport"
        ),
        .testTarget(
            name: "DNSCodecTests",
            dependencies: ["DNSCodec", "TestSupport", .product(name: "NIOCore", package: "swift-nio")],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "ACMETests",
            dependencies: [
                "ACME", "CertificateSupport", "TestSupport",
            ] + cryptography + [
            ],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "CertificateSupportTests",
            dependencies: ["CertificateSupport", "TestSupport"] + cryptography
        ),
        .testTarget(
            name: "ReloadableTLSTests",
            dependencies: ["ReloadableTLS", "TestSupport"] + cryptography
        ),
        .testTarget(
            name: "AgentTests",
            dependencies: ["Agent", "CertificateSupport", "CommandLineSupport", "SignerProtocol", "TestSupport"] + cryptography
        ),
        .testTarget(
            name: "SignerTests",
            dependencies: [
                "Signer", "SignerProtocol", "CertificateSupport", "ACME", "DNSServer", "DNSCodec", "TestSupport",
            ] + cryptography + [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "DNSServerTests",
            dependencies: [
                "DNSCodec", "DNSServer", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ]
        ),
        // End-to-end tests: real servers on loopback, checked with Debian's `dig`.
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "DNSCodec", "DNSServer", "ACME", "TestSupport", "SignerCLI", "AgentCLI", "DemoCLI", "Signer", "SignerProtocol", "CertificateSupport",
            ] + cryptography + [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
    ]
)
