import CertificateSupport
import Foundation
import Glibc
import Testing

struct SecureFileTests {
    /// The modes are exact under the run's umask (022 under scripts/test), which would widen
    /// nothing and narrow a careless 0777 or 0666 to something else. The umask is not set here:
    /// it belongs to the whole test process, where other tests create files at the same time.
    @Test func createsA0700DirectoryAndA0600File() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("secure-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let mask = status.split(separator: "\n").first { $0.hasPrefix("Umask:") }.flatMap { Int($0.split(separator: "\t").last ?? "", radix: 8) }
        try #require(mask != nil && mask! & 0o077 != 0o077, "a umask of \(String(mask ?? 0, radix: 8)) would hide a wrong mode")
        let path = "\(root)/state/tls/key.pem"
        try SecureFile.write(Array("first".utf8), to: path)
        #expect(SecureFile.permissions(of: "\(root)/state/tls") == 0o700)
        #expect(SecureFile.permissions(of: "\(root)/state") == 0o700)
        #expect(SecureFile.permissions(of: path) == 0o600)
        #expect(try SecureFile.read(path) == Array("first".utf8))
    }

    @Test func replacesWholeAndLeavesNoTemporaryFile() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("secure-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let path = "\(root)/cert.pem"
        try SecureFile.write(Array(repeating: 1, count: 100_000), to: path, mode: 0o644)
        try SecureFile.write(Array("second".utf8), to: path, mode: 0o644)
        #expect(try SecureFile.read(path) == Array("second".utf8))
        #expect(SecureFile.permissions(of: path) == 0o644)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root) == ["cert.pem"])
    }
}
