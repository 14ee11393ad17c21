import CertificateSupport
import Foundation
import Glibc
import Testing

struct SecureFileTests {
    @Test func createsA0700DirectoryAndA0600FileWhateverTheUmask() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("secure-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let previous = umask(0)
        defer { umask(previous) }
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
