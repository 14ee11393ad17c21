/// Which name an install's certificate is for: the agent asks for it, the signer's zone
/// allows it, and both read it from their configuration as `naming = "shared"` or
/// `"per-install"`.
public enum Naming: String, Sendable, CaseIterable {
    /// Every install gets the well-known name.
    case shared
    /// Each install gets `<label>.<well-known name>`, the label derived from its public key.
    case perInstall = "per-install"
}
