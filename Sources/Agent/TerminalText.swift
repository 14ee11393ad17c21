/// Text that came from elsewhere (a signer's problem detail, a certificate's names, a state file)
/// made safe to print: control characters (C0, DEL, C1, which carry ANSI escapes and carriage
/// returns that rewrite what a person sees) become `?`, and the length is bounded.
public enum TerminalText {
    public static func clean(_ text: String, limit: Int = 500) -> String {
        var result = ""
        var count = 0
        for scalar in text.unicodeScalars {
            guard count < limit else { return result + "…" }
            count += 1
            let value = scalar.value
            let control = value < 0x20 || (0x7F...0x9F).contains(value) || (0x202A...0x202E).contains(value) || (0x2066...0x2069).contains(value)
            result.unicodeScalars.append(control ? "?" : scalar)
        }
        return result
    }
}
