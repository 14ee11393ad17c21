import CertificateSupport
import Crypto
import Foundation
import Logging
import Synchronization

/// An RFC 8555 client for one CA and one account key: the single-request operations.
/// The whole issuance flow is in `ACMEClient+Issuance.swift`.
public final class ACMEClient: Sendable {
    /// This client's version, sent in the User-Agent.
    public static let version = "0.1.0"
    public let directoryURL: URL
    public let accountKey: ACMEAccountKey
    let transport: ACMETransport
    let logger: Logger
    private let cachedDirectory = Mutex<ACMEDirectory?>(nil)
    private let cachedAccountURL = Mutex<URL?>(nil)

    /// - Parameters:
    ///   - requestTimeout: the most one HTTP exchange may take.
    ///   - additionalHosts: hosts besides the directory's that the CA's URLs may name (for a CA
    ///     that serves orders or certificates from another host); every URL must be https.
    ///   - logger: where the client logs, at debug and info; it never logs keys or JWS bodies.
    public init(
        directoryURL: URL, accountKey: ACMEAccountKey, httpClient: any ACMEHTTPClient, requestTimeout: Duration = .seconds(15),
        additionalHosts: Set<String> = [], logger: Logger
    ) {
        self.directoryURL = directoryURL
        self.accountKey = accountKey
        let hosts = Set([directoryURL.host?.lowercased()].compactMap { $0 }).union(additionalHosts.map { $0.lowercased() })
        self.transport = ACMETransport(http: httpClient, requestTimeout: requestTimeout, allowedHosts: hosts, logger: logger)
        self.logger = logger
    }

    /// The account URL (`kid`) once an account was registered or found.
    public var accountURL: URL? { cachedAccountURL.withLock { $0 } }

    /// The directory, fetched once and then remembered.
    public func directory(deadline: ContinuousClock.Instant = .now + .seconds(30)) async throws -> ACMEDirectory {
        if let directory = cachedDirectory.withLock({ $0 }) { return directory }
        let response = try await transport.get(directoryURL, deadline: deadline)
        let directory: ACMEDirectory = try Self.decode(response, from: directoryURL)
        cachedDirectory.withLock { $0 = directory }
        return directory
    }

    // MARK: Accounts

    /// Creates the account for this key, or returns the existing one (newAccount answers 200 for a known key).
    public func registerAccount(
        contact: [String] = [], agreeToTermsOfService: Bool, externalAccountBinding: ExternalAccountBinding? = nil,
        deadline: ContinuousClock.Instant = .now + .seconds(30)
    ) async throws -> ACMEAccount {
        let directory = try await directory(deadline: deadline)
        var fields = [#""termsOfServiceAgreed":\#(agreeToTermsOfService)"#]
        if !contact.isEmpty { fields.append(#""contact":\#(String(decoding: try JSONEncoder().encode(contact), as: UTF8.self))"#) }
        // Without a binding at a CA that wants one, the CA's own externalAccountRequired problem says so best.
        if let externalAccountBinding {
            fields.append(#""externalAccountBinding":\#(try externalAccountBinding.jws(accountKey: accountKey, newAccountURL: directory.newAccount))"#)
        }
        return try await postAccount(Array("{\(fields.joined(separator: ","))}".utf8), directory: directory, deadline: deadline)
    }

    /// Finds the account for this key without creating one (`onlyReturnExisting`); nil when there is none.
    public func lookUpAccount(deadline: ContinuousClock.Instant = .now + .seconds(30)) async throws -> ACMEAccount? {
        let directory = try await directory(deadline: deadline)
        do {
            return try await postAccount(Array(#"{"onlyReturnExisting":true}"#.utf8), directory: directory, deadline: deadline)
        } catch let error as ACMEError where error.problem?.acmeErrorName == "accountDoesNotExist" {
            return nil
        }
    }

    private func postAccount(_ payload: [UInt8], directory: ACMEDirectory, deadline: ContinuousClock.Instant) async throws -> ACMEAccount {
        let response = try await transport.post(
            directory.newAccount, payload: payload, key: accountKey, keyReference: .jwk,
            newNonceURL: directory.newNonce, deadline: deadline)
        guard let location = response.header("location").flatMap(URL.init(string:)) else {
            throw ACMEError(.protocolViolation, "newAccount answered \(response.status) without a Location")
        }
        let body: ACMEAccountBody = try Self.decode(response, from: directory.newAccount)
        cachedAccountURL.withLock { $0 = location }
        logger.info("ACME account ready", metadata: ["acme.account.url": "\(location)", "acme.account.new": "\(response.status == 201)"])
        return ACMEAccount(url: location, status: body.status, contact: body.contact ?? [])
    }

    // MARK: Orders, authorizations, challenges

    /// Places an order. With `replaces` (ARI) and a CA that says `alreadyReplaced`, orders again
    /// without it, as RFC 9773 §5 advises: the certificate is still needed.
    public func newOrder(
        identifiers: [ACMEIdentifier], profile: String? = nil, replaces: String? = nil,
        deadline: ContinuousClock.Instant = .now + .seconds(30)
    ) async throws -> ACMEOrder {
        try await placeOrder(identifiers: identifiers, profile: profile, replaces: replaces, orderAgainWhenAlreadyReplaced: true, deadline: deadline).order
    }

    /// `newOrder`, saying which CertID the placed order carries as `replaces`: none when the CA
    /// has no ARI (RFC 9773 §5: only then may a client send it) or answered `alreadyReplaced`.
    /// Without `orderAgainWhenAlreadyReplaced`, that answer is thrown instead.
    func placeOrder(
        identifiers: [ACMEIdentifier], profile: String?, replaces requested: String?, orderAgainWhenAlreadyReplaced: Bool, deadline: ContinuousClock.Instant
    ) async throws -> (order: ACMEOrder, replaces: String?) {
        guard !identifiers.isEmpty else { throw ACMEError(.invalidInput, "an order needs at least one identifier") }
        let directory = try await directory(deadline: deadline)
        let replaces = directory.renewalInfo == nil ? nil : requested
        struct NewOrder: Encodable {
            var identifiers: [ACMEIdentifier]
            var profile: String?
            var replaces: String?
        }
        let payload = try JSONEncoder().encode(NewOrder(identifiers: identifiers, profile: profile, replaces: replaces))
        let response: ACMEHTTPResponse
        do {
            response = try await signedPost(directory.newOrder, payload: Array(payload), deadline: deadline)
        } catch let error as ACMEError where replaces != nil && orderAgainWhenAlreadyReplaced && error.isAlreadyReplaced {
            logger.info("certificate already replaced; ordering without `replaces`", metadata: ["acme.replaces": "\(replaces ?? "")"])
            return try await placeOrder(identifiers: identifiers, profile: profile, replaces: nil, orderAgainWhenAlreadyReplaced: false, deadline: deadline)
        }
        var order: ACMEOrder = try Self.decode(response, from: directory.newOrder)
        guard let location = response.header("location").flatMap(URL.init(string:)) else {
            throw ACMEError(.protocolViolation, "newOrder answered \(response.status) without a Location")
        }
        order.url = location
        logger.debug("order placed", metadata: ["acme.order.url": "\(location)", "acme.order.status": "\(order.status.rawValue)"])
        return (order, replaces)
    }

    public func order(at url: URL, deadline: ContinuousClock.Instant = .now + .seconds(30)) async throws -> (ACMEOrder, retryAfter: Date?) {
        let response = try await signedPost(url, payload: nil, deadline: deadline)
        var order: ACMEOrder = try Self.decode(response, from: url)
        order.url = url
        return (order, response.retryAfter())
    }

    public func authorization(at url: URL, deadline: ContinuousClock.Instant = .now + .seconds(30)) async throws -> (ACMEAuthorization, retryAfter: Date?) {
        let response = try await signedPost(url, payload: nil, deadline: deadline)
        return (try Self.decode(response, from: url), response.retryAfter())
    }

    /// Tells the CA the challenge is ready to be checked (an empty JSON object, RFC 8555 §7.5.1).
    public func respond(to challenge: ACMEChallenge, deadline: ContinuousClock.Instant = .now + .seconds(30)) async throws -> ACMEChallenge {
        let response = try await signedPost(challenge.url, payload: Array("{}".utf8), deadline: deadline)
        return try Self.decode(response, from: challenge.url)
    }

    /// Gives up an authorization so it cannot be used later (RFC 8555 §7.5.2).
    public func deactivateAuthorization(at url: URL, deadline: ContinuousClock.Instant = .now + .seconds(10)) async throws {
        _ = try await signedPost(url, payload: Array(#"{"status":"deactivated"}"#.utf8), deadline: deadline)
    }

    /// Sends the CSR (DER) to the order's finalize URL.
    public func finalize(_ order: ACMEOrder, csrDER: [UInt8], deadline: ContinuousClock.Instant = .now + .seconds(30)) async throws -> (ACMEOrder, retryAfter: Date?) {
        let payload = Array(#"{"csr":"\#(Base64URL.encode(csrDER))"}"#.utf8)
        let response = try await signedPost(order.finalize, payload: payload, deadline: deadline)
        var updated: ACMEOrder = try Self.decode(response, from: order.finalize)
        updated.url = order.url
        return (updated, response.retryAfter())
    }

    /// The certificate chain as PEM (`application/pem-certificate-chain`, RFC 8555 §7.4.2).
    public func downloadCertificate(at url: URL, deadline: ContinuousClock.Instant = .now + .seconds(30)) async throws -> String {
        let response = try await signedPost(url, payload: nil, accept: "application/pem-certificate-chain", deadline: deadline)
        let pem = String(decoding: response.body, as: UTF8.self)
        guard pem.contains("-----BEGIN CERTIFICATE-----") else {
            throw ACMEError(.protocolViolation, "the certificate at \(url) is not a PEM chain (\(response.header("content-type") ?? "no content type"))")
        }
        return pem
    }

    /// The TXT value for a dns-01 challenge: base64url(SHA-256(token "." thumbprint)) (RFC 8555 §8.4).
    public func dns01Value(token: String) -> String {
        Self.dns01Value(token: token, thumbprint: accountKey.thumbprint)
    }

    public static func dns01Value(token: String, thumbprint: String) -> String {
        Base64URL.encode(SHA256.hash(data: Array("\(token).\(thumbprint)".utf8)))
    }

    // MARK: Plumbing

    func signedPost(_ url: URL, payload: [UInt8]?, accept: String? = nil, deadline: ContinuousClock.Instant) async throws -> ACMEHTTPResponse {
        guard let account = accountURL else {
            throw ACMEError(.invalidInput, "no ACME account yet: call registerAccount or lookUpAccount first")
        }
        let directory = try await directory(deadline: deadline)
        return try await transport.post(url, payload: payload, key: accountKey, keyReference: .kid(account), newNonceURL: directory.newNonce, accept: accept, deadline: deadline)
    }

    static func decode<T: Decodable>(_ response: ACMEHTTPResponse, from url: URL) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(response.body))
        } catch {
            throw ACMEError(.protocolViolation, "the CA's answer from \(url) is not a valid \(T.self): \(error)")
        }
    }
}
