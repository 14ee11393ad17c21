import CertificateSupport
import Testing
import X509

struct DistinguishedNamePatternTests {
    static let subject = try! DistinguishedName {
        OrganizationName("Example Corp")
        CommonName("go.eval.example.com")
    }

    @Test("matches canonically", arguments: [
        "CN=go.eval.example.com,O=Example Corp",
        "cn=GO.eval.Example.com, o=example  corp",
        "2.5.4.3=go.eval.example.com,2.5.4.10=Example Corp",
        "CN = go.eval.example.com , O = Example Corp ",
    ])
    func matchesCanonically(text: String) throws {
        #expect(try DistinguishedNamePattern(text).matches(Self.subject))
    }

    @Test("does not match", arguments: [
        "CN=go.eval.example.com",                       // O missing
        "O=Example Corp,CN=go.eval.example.com",        // order reversed
        "CN=go.eval.example.com,O=Example Corp,C=US",   // extra RDN
        "CN=other.eval.example.com,O=Example Corp",
        "CN=go.eval.example.com+OU=x,O=Example Corp",   // multi-valued RDN
    ])
    func doesNotMatch(text: String) throws {
        #expect(try !DistinguishedNamePattern(text).matches(Self.subject))
    }

    @Test func printableAndUTF8StringsOfTheSameTextMatch() throws {
        let printable = try DistinguishedName([RelativeDistinguishedName(.init(type: .RDNAttributeType.commonName, printableString: "go.eval.example.com"))])
        let utf8 = try DistinguishedName { CommonName("go.eval.example.com") }
        let pattern = try DistinguishedNamePattern("CN=go.eval.example.com")
        #expect(pattern.matches(printable))
        #expect(pattern.matches(utf8))
    }

    @Test func escapesAreResolved() throws {
        let subject = try DistinguishedName {
            OrganizationName("Example, Inc.")
            CommonName("go.eval.example.com")
        }
        #expect(try DistinguishedNamePattern(#"CN=go.eval.example.com,O=Example\, Inc."#).matches(subject))
        #expect(try DistinguishedNamePattern(#"CN=go.eval.example.com,O=Example\2C Inc."#).matches(subject))
    }

    @Test func perInstallPatternReplacesTheCommonName() throws {
        let pattern = try DistinguishedNamePattern("CN=go.eval.example.com,O=Example Corp").replacingCommonName(with: "abc.go.eval.example.com")
        let subject = try DistinguishedName {
            OrganizationName("Example Corp")
            CommonName("abc.go.eval.example.com")
        }
        #expect(pattern.matches(subject))
        #expect(!pattern.matches(Self.subject))
    }

    @Test("refuses malformed text", arguments: ["", "CN", "XX=1", "CN=#0403666f6f", "CN=a\\", "CN="])
    func refusesMalformedText(text: String) {
        #expect(throws: CertificateSupportError.self) { try DistinguishedNamePattern(text) }
    }
}
