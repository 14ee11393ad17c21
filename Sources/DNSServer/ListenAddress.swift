/// A host and port to serve DNS on, over both UDP and TCP.
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    /// 0 asks the system for a free port (tests); UDP and TCP then share the port found.
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `127.0.0.1:53`, `[::1]:53` or `0.0.0.0:5353`.
    public init(parsing text: String) throws {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw DNSServerError(.invalidConfiguration, "listen address \(text) lacks :PORT") }
            portText = rest.dropFirst()
        } else if let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        } else {
            throw DNSServerError(.invalidConfiguration, "listen address \(text) is not HOST:PORT (write IPv6 as [::1]:53)")
        }
        guard let port = Int(portText), (0...65535).contains(port), !host.isEmpty else {
            throw DNSServerError(.invalidConfiguration, "listen address \(text) has no valid host and port 0-65535")
        }
        self.init(host: String(host), port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
