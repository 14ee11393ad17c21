import Foundation

/// A CA's renewal suggestion (RFC 9773 §4.2).
public struct RenewalInfo: Sendable, Hashable {
    public var windowStart: Date
    public var windowEnd: Date
    public var explanationURL: URL?
    /// When to ask again (the response's Retry-After), if the CA said.
    public var retryAfter: Date?

    /// A uniformly random time in the window, as RFC 9773 §4.2 asks clients to pick.
    public func renewalTime<Generator: RandomNumberGenerator>(using generator: inout Generator) -> Date {
        let span = windowEnd.timeIntervalSince(windowStart)
        guard span > 0 else { return windowStart }
        return windowStart.addingTimeInterval(TimeInterval.random(in: 0..<span, using: &generator))
    }

    /// Parses the JSON body of a renewalInfo response.
    public init(json: [UInt8], retryAfter: Date?) throws {
        struct Body: Decodable {
            struct Window: Decodable {
                var start: String
                var end: String
            }
            var suggestedWindow: Window
            var explanationURL: URL?
        }
        let body: Body
        do {
            body = try JSONDecoder().decode(Body.self, from: Data(json))
        } catch {
            throw ACMEError(.protocolViolation, "renewalInfo is not valid JSON with a suggestedWindow: \(error)")
        }
        guard let start = Self.parseTimestamp(body.suggestedWindow.start), let end = Self.parseTimestamp(body.suggestedWindow.end) else {
            throw ACMEError(.protocolViolation, "renewalInfo window \(body.suggestedWindow.start) .. \(body.suggestedWindow.end) is not RFC 3339")
        }
        guard end > start else {
            throw ACMEError(.protocolViolation, "renewalInfo window ends (\(body.suggestedWindow.end)) before it starts (\(body.suggestedWindow.start))")
        }
        self.windowStart = start
        self.windowEnd = end
        self.explanationURL = body.explanationURL
        self.retryAfter = retryAfter
    }

    /// RFC 3339, with or without fractional seconds.
    static func parseTimestamp(_ text: String) -> Date? {
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        if let date = plain.date(from: text) { return date }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: text)
    }
}
