import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import X509

/// A certificate chain and its private key, checked to belong together, with the NIOSSL
/// context that serves them.
public struct TLSIdentity: Sendable {
    /// Leaf first.
    public let chain: [Certificate]
    public let context: NIOSSLContext

    public var leaf: Certificate { chain[0] }

    /// Parses and checks a PEM chain and key: both parse, the chain is not empty, and the key is
    /// the leaf's. Nothing here is loaded into a server until all of that holds.
    public init(certificateChainPEM: String, privateKeyPEM: String) throws {
        let chain: [Certificate]
        do {
            chain = try PEMDocument.parseMultiple(pemString: certificateChainPEM)
                .filter { $0.discriminator == "CERTIFICATE" }
                .map { try Certificate(pemDocument: $0) }
        } catch {
            throw ReloadableTLSError(.unreadable, "the certificate chain does not parse: \(error)")
        }
        guard !chain.isEmpty else { throw ReloadableTLSError(.unreadable, "the certificate file holds no certificate") }
        let key: Certificate.PrivateKey
        do {
            key = try Certificate.PrivateKey(pemEncoded: privateKeyPEM)
        } catch {
            throw ReloadableTLSError(.unreadable, "the private key does not parse: \(error)")
        }
        guard key.publicKey == chain[0].publicKey else {
            throw ReloadableTLSError(.mismatch, "the private key is not the key of the certificate for \(chain[0].subject)")
        }
        do {
            let configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(certificateChainPEM.utf8)).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(privateKeyPEM.utf8), format: .pem)))
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw ReloadableTLSError(.unreadable, "the TLS library refused the pair: \(error)")
        }
        self.chain = chain
    }

    /// Reads the pair from files, such as the agent's `fullchain.pem` and `key.pem`.
    public init(certificateChainPath: String, privateKeyPath: String) throws {
        let chain: String
        let key: String
        do {
            chain = try String(contentsOfFile: certificateChainPath, encoding: .utf8)
            key = try String(contentsOfFile: privateKeyPath, encoding: .utf8)
        } catch {
            throw ReloadableTLSError(.unreadable, "cannot read \(certificateChainPath) or \(privateKeyPath): \(error.localizedDescription)")
        }
        try self.init(certificateChainPEM: chain, privateKeyPEM: key)
    }

    /// A short description for logs: subject, serial and expiry.
    public var summary: String {
        "\(leaf.subject) serial \(leaf.serialNumber) until \(leaf.notValidAfter)"
    }
}
