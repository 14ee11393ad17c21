import Foundation

/// The public suffix list (publicsuffix.org), for the registered domain a CA counts its
/// per-domain limit against: Let's Encrypt counts `go.eval.example.com` under `example.com`,
/// with the publisher's other sites. Debian ships the list as the `publicsuffix` package.
///
/// The algorithm is the list's own (publicsuffix.org/list): the matching rule with the most
/// labels wins, an exception rule (`!www.ck`) beats any other, a wildcard (`*.ck`) matches one
/// label, and a name no rule matches has the one-label suffix `*`. The registered domain is
/// the public suffix plus one label.
struct PublicSuffixList: Sendable {
    static let debianPath = "/usr/share/publicsuffix/public_suffix_list.dat"
    /// The list is about 230 KB; a file far larger is not the list.
    static let maximumBytes = 8 << 20

    private let rules: Set<String>
    private let wildcards: Set<String>
    private let exceptions: Set<String>

    init(text: String) {
        var rules = Set<String>()
        var wildcards = Set<String>()
        var exceptions = Set<String>()
        for line in text.split(whereSeparator: \.isNewline) {
            // A rule is the first word of its line; comments start with //.
            guard let rule = line.split(whereSeparator: \.isWhitespace).first, !rule.hasPrefix("//") else { continue }
            let lowercased = rule.lowercased()
            if lowercased.hasPrefix("!") {
                exceptions.insert(String(lowercased.dropFirst()))
            } else if lowercased.hasPrefix("*.") {
                wildcards.insert(String(lowercased.dropFirst(2)))
            } else {
                rules.insert(lowercased)
            }
        }
        self.rules = rules
        self.wildcards = wildcards
        self.exceptions = exceptions
    }

    init(contentsOfFile path: String) throws {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        guard let size = attributes?[.size] as? Int, size <= Self.maximumBytes,
              let text = try? String(contentsOfFile: path, encoding: .utf8)
        else {
            throw SignerError(.configuration, "cannot read the public suffix list at \(path); install Debian's publicsuffix package, or set registered_domain in each zone")
        }
        self.init(text: text)
    }

    /// The registered domain of `name` (lowercase, no trailing dot), or nil when the name is
    /// itself a public suffix.
    func registeredDomain(of name: String) -> String? {
        let labels = name.lowercased().split(separator: ".").map(String.init)
        guard !labels.isEmpty else { return nil }
        var suffixLength = 1  // the default rule `*`
        for start in labels.indices {
            let candidate = labels[start...].joined(separator: ".")
            let length = labels.count - start
            if exceptions.contains(candidate) {
                // An exception's suffix is the rule minus its leftmost label.
                suffixLength = length - 1
                break
            }
            if rules.contains(candidate) { suffixLength = max(suffixLength, length) }
            if start > 0, wildcards.contains(candidate) { suffixLength = max(suffixLength, length + 1) }
        }
        guard suffixLength < labels.count else { return nil }
        return labels[(labels.count - suffixLength - 1)...].joined(separator: ".")
    }
}
