import Foundation

/// An HTTP exchange made with Debian's curl, as an installer's shell script would make it.
public struct CurlResponse: Sendable {
    public let status: Int
    /// Header names lowercased; the last value wins.
    public let headers: [String: String]
    public let body: [UInt8]
    public var text: String { String(decoding: body, as: UTF8.self) }

    /// The problem document's `type`, or nil when the body is not one.
    public var problemType: String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { return nil }
        return object["type"] as? String
    }

    public var problemDetail: String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { return nil }
        return object["detail"] as? String
    }
}

/// Runs curl against `url`: `body` (a file path) with `--data-binary @file`, extra `headers`.
public func curl(_ url: URL, method: String? = nil, bodyFile: String? = nil, headers: [String] = [], timeout: Duration = .seconds(60)) async throws -> CurlResponse {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("curl-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let bodyPath = directory.appendingPathComponent("body").path
    let headerPath = directory.appendingPathComponent("headers").path
    var arguments = ["-sS", "-o", bodyPath, "-D", headerPath, "-w", "%{http_code}", "--max-time", "\(timeout.components.seconds)"]
    if let method { arguments += ["-X", method] }
    if let bodyFile { arguments += ["--data-binary", "@\(bodyFile)"] }
    for header in headers { arguments += ["-H", header] }
    arguments.append(url.absoluteString)
    let result = try await runCommand("/usr/bin/curl", arguments, timeout: timeout + .seconds(5))
    guard result.status == 0, let status = Int(result.standardOutput) else {
        throw TestFailure("curl \(url) failed (\(result.status)): \(result.standardError)")
    }
    var headerFields: [String: String] = [:]
    for line in (try? String(contentsOfFile: headerPath, encoding: .utf8))?.split(separator: "\r\n") ?? [] {
        guard let colon = line.firstIndex(of: ":") else { continue }
        headerFields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    let body = (try? Data(contentsOf: URL(fileURLWithPath: bodyPath))).map(Array.init) ?? []
    return CurlResponse(status: status, headers: headerFields, body: body)
}
