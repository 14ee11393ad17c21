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

    /// On a renewal: the certificate it replaces, as base64url of its DER. The signer derives
    /// the ARI CertID (RFC 9773 §4.1) from it and sends it to the CA as `replaces`, which
    /// exempts the renewal from the CA's limits. The certificate itself, not only the CertID,
    /// so the signer can check that the CSR's key is the certificate's.
    public static let replacesHeader = "X-CSRProxy-Replaces"
    /// The longest `X-CSRProxy-Replaces` value read: a leaf with a 4096-bit key is about 2 KiB.
    public static let replacesHeaderLimit = 8192
    /// On a renewal with a new key (`--rotate-key`): the old key's signature over the new CSR,
    /// which proves the certificate in `X-CSRProxy-Replaces` is the requester's although the CSR
    /// carries another key. What is signed, and how: `ReplacementProof` (CertificateSupport).
    public static let replacesProofHeader = "X-CSRProxy-Replaces-Proof"

    /// RFC 8555 §7.4.2's chain format: the leaf first, then the intermediates.
    public static let certificateChainMediaType = "application/pem-certificate-chain"
    /// RFC 5967: a DER CSR.
    public static let derCSRMediaType = "application/pkcs10"
}
