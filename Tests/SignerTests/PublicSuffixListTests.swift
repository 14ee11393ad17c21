import Foundation
@testable import Signer
import Testing

/// The registered domain a CA counts names under, by the public suffix list's own algorithm.
struct PublicSuffixListTests {
    static let list = PublicSuffixList(text: """
        // a comment line, and rules of each kind
        com
        uk
        co.uk
        *.ck
        !www.ck
        direct
        libp2p.direct
        """)

    @Test("registered domains", arguments: [
        ("example.com", "example.com"),
        ("go.eval.example.com", "example.com"),
        ("GO.Eval.Example.COM", "example.com"),
        ("a.b.example.co.uk", "example.co.uk"),
        ("foo.bar.ck", "foo.bar.ck"),       // *.ck: bar.ck is a suffix
        ("a.www.ck", "www.ck"),             // !www.ck: www.ck is registrable
        ("peer.libp2p.direct", "peer.libp2p.direct"),
        ("x.y.unlisted", "y.unlisted"),     // no rule: the default rule `*`
    ])
    func registeredDomain(_ name: String, _ expected: String) {
        #expect(Self.list.registeredDomain(of: name) == expected)
    }

    @Test func aSuffixHasNoRegisteredDomain() {
        #expect(Self.list.registeredDomain(of: "co.uk") == nil)
        #expect(Self.list.registeredDomain(of: "bar.ck") == nil)
        #expect(Self.list.registeredDomain(of: "com") == nil)
    }

    /// Debian's list, when it is installed (the signer's package depends on it).
    @Test(.enabled(if: FileManager.default.fileExists(atPath: PublicSuffixList.debianPath)))
    func debiansListIsRead() throws {
        let list = try PublicSuffixList(contentsOfFile: PublicSuffixList.debianPath)
        #expect(list.registeredDomain(of: "go.eval.example.com") == "example.com")
        #expect(list.registeredDomain(of: "x.example.co.uk") == "example.co.uk")
        #expect(list.registeredDomain(of: "someone.github.io") == "someone.github.io")
    }
}
