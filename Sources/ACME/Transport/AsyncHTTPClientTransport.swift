import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// The real HTTP transport, over AsyncHTTPClient: TLS with the system roots plus any extra
/// roots configured (a private or test CA), a User-Agent naming the product, and a timeout on
/// every request. Call `shutdown()` when done.
public final class AsyncHTTPClientTransport: ACMEHTTPClient {
    public struct Configuration: Sendable {
        /// PEM certificates trusted in addition to the system store (pebble's or a private CA's root).
        public var additionalTrustRootsPEM: [String]
        /// Trust only `additionalTrustRootsPEM`, not the system store (tests against a local CA).
        public var trustOnlyAdditionalRoots: Bool
        public var userAgent: String
        public var connectTimeout: Duration
        /// The largest response body read; a certificate chain is a few KiB.
        public var maximumBodyBytes: Int

        public init(
            additionalTrustRootsPEM: [String] = [], trustOnlyAdditionalRoots: Bool = false,
            userAgent: String = AsyncHTTPClientTransport.defaultUserAgent, connectTimeout: Duration = .seconds(10), maximumBodyBytes: Int = 1 << 20
        ) {
            self.additionalTrustRootsPEM = additionalTrustRootsPEM
            self.trustOnlyAdditionalRoots = trustOnlyAdditionalRoots
            self.userAgent = userAgent
            self.connectTimeout = connectTimeout
            self.maximumBodyBytes = maximumBodyBytes
        }
    }

    /// Names the product and version, as RFC 8555 §6.1 asks of clients.
    public static let defaultUserAgent = "CSRProxy-ACME/\(ACMEClient.version) (AsyncHTTPClient)"

    private let client: HTTPClient
    private let configuration: Configuration

    public init(configuration: Configuration) throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        let roots = try configuration.additionalTrustRootsPEM.flatMap { try NIOSSLCertificate.fromPEMBytes(Array($0.utf8)) }
        if configuration.trustOnlyAdditionalRoots {
            tls.trustRoots = .certificates(roots)
        } else if !roots.isEmpty {
            tls.additionalTrustRoots = [.certificates(roots)]
        }
        var httpConfiguration = HTTPClient.Configuration(
            tlsConfiguration: tls,
            timeout: .init(connect: TimeAmount(configuration.connectTimeout)))
        httpConfiguration.httpVersion = .automatic
        httpConfiguration.decompression = .disabled
        // The transport refuses redirects itself; the client must not follow one first.
        httpConfiguration.redirectConfiguration = .disallow
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)
        self.configuration = configuration
    }

    public func execute(_ request: ACMEHTTPRequest, timeout: Duration) async throws -> ACMEHTTPResponse {
        var outgoing = HTTPClientRequest(url: request.url.absoluteString)
        outgoing.method = HTTPMethod(rawValue: request.method.rawValue)
        outgoing.headers.add(name: "User-Agent", value: configuration.userAgent)
        for (name, value) in request.headers { outgoing.headers.add(name: name, value: value) }
        if let body = request.body { outgoing.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await client.execute(outgoing, timeout: max(TimeAmount(timeout), .milliseconds(1)))
        let body = request.method == .head ? ByteBuffer() : try await response.body.collect(upTo: configuration.maximumBodyBytes)
        return ACMEHTTPResponse(
            status: Int(response.status.code),
            headers: response.headers.map { ($0.name, $0.value) },
            body: Array(body.readableBytesView))
    }

    public func shutdown() async throws {
        try await client.shutdown()
    }
}
