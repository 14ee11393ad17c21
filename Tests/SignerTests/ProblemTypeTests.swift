import Foundation
import SignerProtocol
import Testing

struct ProblemTypeTests {
    /// Installers branch on these: each must be distinct, an error status, and documented.
    @Test func everyProblemTypeIsDistinctAndDocumented() throws {
        let readme = try String(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("README.md"),
            encoding: .utf8)
        #expect(Set(ProblemType.all.map(\.slug)).count == ProblemType.all.count)
        for type in ProblemType.all {
            #expect((400..<600).contains(type.status))
            #expect(readme.contains("`\(type.slug)`"), "README does not document \(type.uri)")
        }
    }

    @Test func problemsEncodeAsRFC9457() throws {
        let problem = Problem(.namesNotAllowed, detail: "nope", allowedNames: ["go.eval.example.com"])
        let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(problem)) as! [String: Any]
        #expect(object["type"] as? String == "urn:csrproxy:problem:names-not-allowed")
        #expect(object["status"] as? Int == 403)
        #expect(object["title"] as? String == ProblemType.namesNotAllowed.title)
        #expect(object["allowed_names"] as? [String] == ["go.eval.example.com"])
    }
}
