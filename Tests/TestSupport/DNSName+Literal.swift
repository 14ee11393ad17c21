import DNSCodec

/// Test-only: lets tests write names as literals. Kept out of the library because a literal
/// initialiser would also capture `DNSName("...")` calls and trap where they should throw.
extension DNSName: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) {
        do {
            try self.init(value)
        } catch {
            preconditionFailure("invalid DNS name literal \(value): \(error)")
        }
    }
}
