import CertificateSupport
import Foundation
import Hummingbird
import ReloadableTLS
import X509

/// The product's pages: what certificate is in service, for a person and for scripts.
struct DemoPage: Sendable {
    let identities: TLSIdentityStore

    struct Facts: Codable {
        var names: [String]
        var serial: String
        var issuer: String
        var notAfter: String
    }

    var facts: Facts {
        let leaf = identities.current.leaf
        return Facts(names: leaf.dnsNames, serial: leaf.serialNumber.description, issuer: leaf.issuer.description, notAfter: "\(leaf.notValidAfter)")
    }

    func register(on router: Router<BasicRequestContext>) {
        router.get("/") { _, _ in
            let facts = self.facts
            let html = """
                <!doctype html><html><head><meta charset="utf-8"><title>CSRProxy demo product</title></head>
                <body><h1>CSRProxy demo product</h1><p id="status">This page came over HTTPS with a certificate your browser trusts.</p>
                <dl><dt>Names</dt><dd id="names">\(facts.names.joined(separator: ", "))</dd>
                <dt>Serial</dt><dd id="serial">\(facts.serial)</dd><dt>Issuer</dt><dd>\(facts.issuer)</dd>
                <dt>Valid until</dt><dd id="not-after">\(facts.notAfter)</dd></dl></body></html>
                """
            return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
        }
        router.get("/certificate.json") { _, _ in
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(self.facts))))
        }
    }
}
