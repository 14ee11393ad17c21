#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import CertificateSupport
import X509

/// `doctor`: the usual reasons an evaluation install shows a browser warning, checked one by one.
public struct DoctorCheck: Sendable, Codable {
    public var name: String
    public var ok: Bool
    public var detail: String
}

extension Agent {
    /// Runs every check; `resolve` is false where the system resolver must not be asked (tests).
    public func doctor(resolve: Bool = true) async -> [DoctorCheck] {
        var checks: [DoctorCheck] = []
        let names = ((try? files.installedChain()?.first).flatMap { $0 }).map(\.dnsNames) ?? [configuration.name]
        if resolve, let name = names.first {
            checks.append(Self.resolution(of: name))
        }
        checks.append(permissions())
        checks.append(await certificate())
        checks += await signer()
        return checks
    }

    /// Home routers with DNS-rebinding protection drop public answers that point at 127.0.0.1.
    static func resolution(of name: String) -> DoctorCheck {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(name, nil, &hints, &result)
        defer { if result != nil { freeaddrinfo(result) } }
        guard status == 0 else {
            return DoctorCheck(name: "name resolution", ok: false, detail: """
                \(name) does not resolve through this machine's resolver (\(String(cString: gai_strerror(status)))). \
                Routers and resolvers with DNS-rebinding protection drop public names that point at 127.0.0.1: \
                allow the zone there (dnsmasq: rebind-domain-ok=/\(name.split(separator: ".").dropFirst().joined(separator: "."))/; \
                Unbound: private-domain), or use another DNS server for this machine.
                """)
        }
        var addresses: [String] = []
        var cursor = result
        while let entry = cursor {
            var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(entry.pointee.ai_addr, entry.pointee.ai_addrlen, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 {
                addresses.append(String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
            cursor = entry.pointee.ai_next
        }
        let loopback = addresses.contains { $0 == "127.0.0.1" || $0 == "::1" }
        return DoctorCheck(name: "name resolution", ok: loopback, detail: loopback
            ? "\(name) resolves to \(Set(addresses).sorted().joined(separator: ", "))"
            : "\(name) resolves to \(Set(addresses).sorted().joined(separator: ", ")), not 127.0.0.1: a hosts entry or a proxying resolver rewrites it")
    }

    /// The layout's owners and modes, checked the way `issue` and `renew` use it.
    func permissions() -> DoctorCheck {
        let top: CheckedDirectory
        do {
            guard let opened = try files.top(prepare: false) else {
                return DoctorCheck(name: "files", ok: false, detail: "\(files.directory) does not exist; run csrproxy-agent issue")
            }
            top = opened
        } catch {
            return DoctorCheck(name: "files", ok: false, detail: "\(error)")
        }
        let expected = String(files.directoryMode, radix: 8)
        if let mode = try? top.status().st_mode & 0o777, mode != files.directoryMode {
            return DoctorCheck(name: "files", ok: false, detail: "\(files.directory) is mode \(String(mode, radix: 8)), not \(expected); csrproxy-agent renew --force sets it")
        }
        do {
            guard try files.installedKey() != nil else {
                return DoctorCheck(name: "files", ok: false, detail: "no key installed in \(files.directory); run csrproxy-agent issue")
            }
        } catch {
            return DoctorCheck(name: "files", ok: false, detail: "\(error)")
        }
        return DoctorCheck(name: "files", ok: true, detail: "\(files.directory) is root's, \(expected), and the key \(String(files.keyMode, radix: 8))")
    }

    func certificate() async -> DoctorCheck {
        do {
            guard let chain = try files.installedChain(), let key = try files.installedKey() else {
                return DoctorCheck(name: "certificate", ok: false, detail: "no certificate installed; run csrproxy-agent issue")
            }
            let pem = try chain.map { try $0.serializeAsPEM().pemString + "\n" }.joined()
            let names = try names(for: key)
            _ = try await AnswerCheck(roots: try AnswerCheck.loadRoots(extraBundle: configuration.extraTrustBundle)).check(pem: pem, key: key, names: names)
            return DoctorCheck(name: "certificate", ok: true, detail: "valid for \(names.joined(separator: ", ")) until \(chain[0].notValidAfter), chain trusted, key matches")
        } catch {
            return DoctorCheck(name: "certificate", ok: false, detail: "\(error)")
        }
    }

    /// Reachability and clock skew against the signer's Date header.
    func signer() async -> [DoctorCheck] {
        let client: SignerClient
        do {
            client = try SignerClient(configuration: configuration, environment: environment, logger: logger)
        } catch {
            return [DoctorCheck(name: "signer", ok: false, detail: "\(error)")]
        }
        let started = Date()
        var checks: [DoctorCheck]
        do {
            let (status, date) = try await client.health(deadline: .now + .seconds(15))
            checks = [DoctorCheck(name: "signer", ok: status == 200, detail: "\(configuration.signerURL) answered \(status) in \(Int(Date().timeIntervalSince(started) * 1000)) ms")]
            if let date {
                let skew = Date().timeIntervalSince(date)
                checks.append(DoctorCheck(name: "clock", ok: abs(skew) < 300, detail: abs(skew) < 300
                    ? "within \(Int(abs(skew).rounded())) s of the signer's clock"
                    : "\(Int(skew)) s off the signer's clock; certificates will look not yet valid or expired: enable NTP (timedatectl set-ntp true)"))
            }
        } catch {
            checks = [DoctorCheck(name: "signer", ok: false, detail: "\(error)")]
        }
        await client.shutdown()
        return checks
    }
}
