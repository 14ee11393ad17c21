import CertificateSupport
import SignerProtocol
import Synchronization

/// The policy: which CSR may have which names. A CSR is matched to the zone whose well-known
/// subject it carries, and then must ask for exactly that zone's names, with an acceptable key.
struct ZoneTable: Sendable {
    let zones: [SignerConfiguration.ZoneSettings]

    /// What the CA will be asked for, once a CSR has passed.
    struct Approval: Sendable {
        let zone: SignerConfiguration.ZoneSettings
        /// The order's identifiers: the SAN set, or the CN for a CN-only CSR where allowed.
        let names: [String]
    }

    /// Checks `request` against the table; throws the `Problem` to answer with when it fails.
    /// Nothing here talks to the CA, so a refused request costs the CA nothing.
    func approve(_ request: SigningRequest) throws(Problem) -> Approval {
        let keyViolations = request.keyAndExtensionViolations
        guard keyViolations.isEmpty else {
            throw Problem(.keyNotAllowed, detail: keyViolations.joined(separator: "; "))
        }
        let spki: [UInt8]
        do {
            spki = try request.subjectPublicKeyInfoDER()
        } catch {
            throw Problem(.badCSR, detail: "the CSR's public key cannot be encoded")
        }
        guard let (zone, allowed) = zones.lazy.compactMap({ zone -> (SignerConfiguration.ZoneSettings, [String])? in
            let allowed = Self.allowedNames(zone, subjectPublicKeyInfoDER: spki)
            let pattern = zone.naming == .perInstall ? zone.subject.replacingCommonName(with: allowed[0]) : zone.subject
            return pattern.matches(request.csr.subject) ? (zone, allowed) : nil
        }).first else {
            let known = zones.map { $0.naming == .perInstall ? "\($0.subject) (CN=<key label>.\($0.names[0]))" : $0.subject.text }
            throw Problem(.subjectNotAllowed, detail: "the CSR's subject \"\(request.csr.subject)\" is not served here; this signer serves \(known.joined(separator: " | "))")
        }
        let requested = request.dnsNames
        if !request.otherSubjectAlternativeNames.isEmpty {
            throw Problem(.namesNotAllowed, detail: "the CSR asks for \(request.otherSubjectAlternativeNames.joined(separator: ", ")); only DNS names are issued here: \(allowed.joined(separator: ", "))", allowedNames: allowed)
        }
        // Canonical form before anything else is compared: what the CA would refuse, it never sees.
        if let wildcard = (requested + request.commonNames).first(where: { $0.contains("*") }) {
            throw Problem(.namesNotAllowed, detail: "the CSR asks for the wildcard \(wildcard); allowed: exactly \(allowed.joined(separator: ", "))", allowedNames: allowed)
        }
        if let problem = (requested + request.commonNames).lazy.compactMap(DNSNameSyntax.problem(with:)).first {
            throw Problem(.namesNotAllowed, detail: "\(problem); allowed: exactly \(allowed.joined(separator: ", "))", allowedNames: allowed)
        }
        if requested.isEmpty {
            let commonNames = request.commonNames
            guard !zone.requireSubjectAlternativeName, commonNames.count == 1, allowed.contains(commonNames[0]) else {
                let addext = "-addext \"subjectAltName=\(allowed.map { "DNS:\($0)" }.joined(separator: ","))\""
                throw Problem(.missingSAN, detail: "the CSR names its host only in the CN; add the SAN, e.g. with openssl req ... \(addext)", allowedNames: allowed)
            }
            return Approval(zone: zone, names: commonNames)
        }
        guard Set(requested) == Set(allowed), requested.count == Set(requested).count else {
            let extra = Set(requested).subtracting(allowed).sorted()
            let missing = Set(allowed).subtracting(requested).sorted()
            var parts: [String] = []
            if !extra.isEmpty { parts.append("not allowed: \(extra.joined(separator: ", "))") }
            if !missing.isEmpty { parts.append("missing: \(missing.joined(separator: ", "))") }
            if parts.isEmpty { parts.append("a name is listed twice") }
            throw Problem(.namesNotAllowed, detail: "the CSR's names must be exactly \(allowed.joined(separator: ", ")) (\(parts.joined(separator: "; ")))", allowedNames: allowed)
        }
        if let commonName = request.commonNames.first(where: { !allowed.contains($0) }) {
            throw Problem(.namesNotAllowed, detail: "the CSR's CN \(commonName) is not among its allowed names \(allowed.joined(separator: ", "))", allowedNames: allowed)
        }
        return Approval(zone: zone, names: allowed)
    }

    /// The names a CSR with this key may have in this zone.
    static func allowedNames(_ zone: SignerConfiguration.ZoneSettings, subjectPublicKeyInfoDER spki: [UInt8]) -> [String] {
        switch zone.naming {
        case .shared: zone.names
        case .perInstall: PerInstallName.names(for: zone.names, subjectPublicKeyInfoDER: spki)
        }
    }
}

/// The zone table in force: read by every request, replaced whole by a configuration reload
/// (a request approved before keeps the approval it got).
final class CurrentZoneTable: Sendable {
    private let current: Mutex<ZoneTable>

    init(_ table: ZoneTable) {
        current = Mutex(table)
    }

    var table: ZoneTable { current.withLock { $0 } }

    func replace(with table: ZoneTable) {
        current.withLock { $0 = table }
    }
}
