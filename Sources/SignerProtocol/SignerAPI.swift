/// The signer's HTTP surface as both sides name it: paths, headers and media types.
/// Installers POST a PEM CSR to `/v1/sign` and read PEM back (`curl --data-binary`); that stays true.
public enum SignerAPI {
    public static let signPath = "/v1/sign"
    public static let renewalInfoPath = "/v1/renewal-info"
    public static let healthPath = "/healthz"
    public static let readinessPath = "/readyz"
    public static let metricsPath = "/metrics"

    /// One `key=value` label per header; repeatable.
    public static let labelHeader = "X-CSRProxy-Label"

    /// RFC 8555 §7.4.2's chain format: the leaf first, then the intermediates.
    public static let certificateChainMediaType = "application/pem-certificate-chain"
    /// RFC 5967: a DER CSR.
    public static let derCSRMediaType = "application/pkcs10"
}
