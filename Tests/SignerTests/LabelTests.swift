import NIOCore
@testable import Signer
import SignerProtocol
import Synchronization
import Testing

struct LabelTests {
    @Test func parsesAndSortsLabels() throws {
        let labels = try Label.parse(headers: ["version=1.2.3", " product=demo "])
        #expect(labels.map(\.description) == ["product=demo", "version=1.2.3"])
    }

    @Test("refuses", arguments: [["noequals"], ["Product=x"], ["p=has space"], ["p=" + String(repeating: "x", count: 65)], ["a=1", "a=2"], ["a=1", "b=1", "c=1", "d=1", "e=1"], ["p="]])
    func refuses(headers: [String]) {
        #expect(throws: LabelError.self) { try Label.parse(headers: headers) }
    }
}
