import ArgumentParser

/// `--config`, shared by `serve` and `check-config`.
struct ConfigurationOption: ParsableArguments {
    @Option(name: [.customShort("c"), .long], help: "The signer's TOML configuration file (see packaging/signer.example.toml).")
    var config = "/etc/csrproxy/signer.toml"
}
