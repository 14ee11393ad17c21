@testable import Agent
import CertificateSupport
import CommandLineSupport
import Crypto
import Foundation
import Logging
import SignerProtocol
import Testing
import X509

struct ProxySelectionTests {
    let signer = URL(string: "https://signer.eval.example.com:8443")!

    @Test func httpsProxyIsUsedUnlessNoProxyNamesTheHost() {
        let proxy = SignerClient.proxy(for: signer, environment: ["https_proxy": "http://user:secret@proxy.corp:3128"])
        #expect(proxy?.host == "proxy.corp" && proxy?.port == 3128)
        #expect(proxy?.authorization != nil)
        #expect(SignerClient.proxy(for: signer, environment: ["HTTPS_PROXY": "proxy.corp:8080"])?.port == 8080)
        #expect(SignerClient.proxy(for: signer, environment: ["https_proxy": "proxy.corp:8080", "no_proxy": "localhost,.example.com"]) == nil)
        #expect(SignerClient.proxy(for: signer, environment: ["https_proxy": "proxy.corp:8080", "no_proxy": "eval.example.com"]) == nil)
        #expect(SignerClient.proxy(for: signer, environment: ["https_proxy": "proxy.corp:8080", "no_proxy": "other.com"]) != nil)
        #expect(SignerClient.proxy(for: signer, environment: ["http_proxy": "proxy.corp:8080"]) == nil, "http_proxy is for http:// URLs")
        #expect(SignerClient.proxy(for: signer, environment: [:]) == nil)
    }

    @Test func httpDatesParse() {
        let date = SignerClient.parseHTTPDate("Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(date == Date(timeIntervalSince1970: 784_111_777))
        #expect(SignerClient.parseHTTPDate("yesterday") == nil)
    }
}
