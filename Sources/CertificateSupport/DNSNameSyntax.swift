/// The one form of a DNS name that goes to a CA: lowercase LDH labels of 1 to 63 characters,
/// A-labels (`xn--…`) for internationalised names, no empty label, no trailing dot, at most 253
/// characters. Checked before any CA traffic, so a name the CA would refuse costs it nothing;
/// nothing is normalised on the way, because the CSR (not our reading of it) is what the CA sees.
public enum DNSNameSyntax {
    /// Nil when `name` has that form; otherwise what is wrong, for the requester.
    public static func problem(with name: String) -> String? {
        guard !name.isEmpty else { return "a name is empty" }
        if name.hasSuffix(".") { return "\(name) ends with a dot; write it without one" }
        guard name.unicodeScalars.allSatisfy(\.isASCII) else {
            return "\(name) is not ASCII; write an internationalised name as its A-labels (xn--...)"
        }
        guard name.utf8.count <= 253 else { return "\(name) is longer than 253 characters" }
        if name != name.lowercased() { return "\(name) has capital letters; write it in lowercase" }
        for label in name.split(separator: ".", omittingEmptySubsequences: false) {
            guard !label.isEmpty else { return "\(name) has an empty label" }
            guard label.utf8.count <= 63 else { return "\(name) has a label longer than 63 characters" }
            guard label.utf8.allSatisfy({ (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D }) else {
                return "\(name) has characters other than letters, digits and hyphens"
            }
            if label.hasPrefix("-") || label.hasSuffix("-") { return "\(name) has a label that starts or ends with a hyphen" }
        }
        return nil
    }
}
