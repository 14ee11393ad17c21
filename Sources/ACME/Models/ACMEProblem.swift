/// A problem document (RFC 8555 §6.7, RFC 7807) as the CA sends it.
public struct ACMEProblem: Codable, Hashable, Sendable, CustomStringConvertible {
    public var type: String
    public var detail: String?
    public var status: Int?
    public var identifier: ACMEIdentifier?
    public var subproblems: [ACMEProblem]?

    public init(type: String, detail: String? = nil, status: Int? = nil, identifier: ACMEIdentifier? = nil, subproblems: [ACMEProblem]? = nil) {
        self.type = type
        self.detail = detail
        self.status = status
        self.identifier = identifier
        self.subproblems = subproblems
    }

    /// The short name after `urn:ietf:params:acme:error:`, such as `badNonce`; nil for other namespaces.
    public var acmeErrorName: String? {
        let prefix = "urn:ietf:params:acme:error:"
        return type.hasPrefix(prefix) ? String(type.dropFirst(prefix.count)) : nil
    }

    public var description: String {
        var text = type
        if let detail { text += ": \(detail)" }
        if let identifier { text += " (\(identifier.value))" }
        if let subproblems, !subproblems.isEmpty { text += "; " + subproblems.map(\.description).joined(separator: "; ") }
        return text
    }
}

/// An identifier an order asks for; this client orders `dns` identifiers.
public struct ACMEIdentifier: Codable, Hashable, Sendable {
    public var type: String
    public var value: String

    public init(type: String = "dns", value: String) {
        self.type = type
        self.value = value
    }

    public static func dns(_ name: String) -> ACMEIdentifier { ACMEIdentifier(type: "dns", value: name) }
}
