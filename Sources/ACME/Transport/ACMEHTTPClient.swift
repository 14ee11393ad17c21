import Foundation

/// One HTTP exchange, as small as ACME needs. A protocol so unit tests can script a CA.
public protocol ACMEHTTPClient: Sendable {
    func execute(_ request: ACMEHTTPRequest, timeout: Duration) async throws -> ACMEHTTPResponse
}

public struct ACMEHTTPRequest: Sendable {
    public enum Method: String, Sendable { case get = "GET", head = "HEAD", post = "POST" }
    public var method: Method
    public var url: URL
    public var headers: [(String, String)]
    public var body: [UInt8]?

    public init(method: Method, url: URL, headers: [(String, String)] = [], body: [UInt8]? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

public struct ACMEHTTPResponse: Sendable {
    public var status: Int
    /// Header names in lower case.
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.headers = headers.map { ($0.0.lowercased(), $0.1) }
        self.body = body
    }

    public func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.0 == lowered }?.1
    }

    /// `Retry-After` as a date: either delay-seconds or an HTTP date (RFC 9110 §10.2.3).
    public func retryAfter(now: Date = Date()) -> Date? {
        guard let value = header("retry-after")?.trimmingCharacters(in: .whitespaces) else { return nil }
        if let seconds = Int(value) { return now.addingTimeInterval(TimeInterval(max(seconds, 0))) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: value)
    }

    /// Targets of `Link` headers with the given relation, e.g. `up` or `alternate`.
    public func links(relation: String) -> [URL] {
        headers.filter { $0.0 == "link" }.flatMap { $0.1.split(separator: ",") }.compactMap { link in
            let parts = link.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let target = parts.first, target.hasPrefix("<"), target.hasSuffix(">"),
                  parts.dropFirst().contains(where: { $0.replacingOccurrences(of: "\"", with: "") == "rel=\(relation)" })
            else { return nil }
            return URL(string: String(target.dropFirst().dropLast()))
        }
    }
}
