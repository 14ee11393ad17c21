#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CertificateSupport
import X509

extension Agent {
    /// `--fallback self-signed`: when the signer cannot be reached at first install, a
    /// self-signed certificate valid for 7 days lets the product start; it is marked so the
    /// next `renew` replaces it as soon as the signer answers. Never replaces a real certificate.
    public func installFallback() throws -> Outcome {
        try files.migrateEarlierLayout()
        if let installed = try files.installedChain(), !installed.isEmpty, !AgentState.load(from: files).isFallback {
            throw AgentError(.configuration, "a certificate is already installed; the fallback is only for a first install")
        }
        let key = try files.installedKey() ?? files.pendingKey() ?? configuration.keyType.generate()
        let names = try names(for: key)
        let certificate = try Certificate.selfSigned(names: names, key: key, lifetime: 7 * 86_400)
        progress("installing a temporary self-signed certificate for \(names.joined(separator: ", ")) (browsers will warn until renew replaces it)")
        try files.install(key: key, chain: [certificate])
        var state = AgentState.load(from: files)
        state.isFallback = true
        try state.save(to: files)
        return Outcome(names: names, notAfter: certificate.notValidAfter, reloadFailures: reload())
    }
}
