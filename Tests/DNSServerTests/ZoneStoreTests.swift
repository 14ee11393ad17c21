import DNSCodec
@testable import DNSServer
import Testing
import TestSupport

struct ZoneStoreTests {
    @Test func valuesFormACountedSet() throws {
        let store = try TestZone.store()
        try store.addTXT("one", at: TestZone.challenge)
        try store.addTXT("two", at: TestZone.challenge)
        try store.addTXT("one", at: TestZone.challenge)
        #expect(store.txtValues(at: TestZone.challenge) == ["one", "two"])
        #expect(store.removeTXT("one", at: TestZone.challenge))
        #expect(store.isServing(txt: "one", at: TestZone.challenge), "the second add of \"one\" still stands")
        #expect(store.removeTXT("one", at: TestZone.challenge))
        #expect(!store.isServing(txt: "one", at: TestZone.challenge))
        #expect(store.isServing(txt: "two", at: TestZone.challenge))
        #expect(!store.removeTXT("never-added", at: TestZone.challenge))
    }

    @Test func concurrentOrdersNeverDisturbEachOther() async throws {
        let store = try TestZone.store()
        // 64 "orders", each adding and removing its own value 50 times, while 8 others stay put.
        let steady = (0..<8).map { "steady-\($0)" }
        for value in steady { try store.addTXT(value, at: TestZone.challenge) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for order in 0..<64 {
                group.addTask {
                    for _ in 0..<50 {
                        try store.addTXT("order-\(order)", at: TestZone.challenge)
                        guard store.isServing(txt: "order-\(order)", at: TestZone.challenge) else {
                            throw TestFailure("order-\(order) not served right after its add")
                        }
                        guard store.removeTXT("order-\(order)", at: TestZone.challenge) else {
                            throw TestFailure("order-\(order) vanished before its remove")
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(store.txtValues(at: TestZone.challenge) == steady)
    }

    /// CAA can be replaced while serving (the signer pins its accounts once it knows them),
    /// and the serial moves so secondaries see the change.
    @Test func caaIsReplacedWhileServing() throws {
        let store = try TestZone.store()
        func served() -> [DNSRecordData] {
            guard let zone = store.snapshot.zone(containing: TestZone.origin),
                  case .records(let answers, _) = zone.lookup(TestZone.origin, type: .caa) else { return [] }
            return answers.map(\.data)
        }
        func serial() -> UInt32? {
            guard let zone = store.snapshot.zone(containing: TestZone.origin),
                  case .records(let answers, _) = zone.lookup(TestZone.origin, type: .soa),
                  case .soa(let soa) = answers.first?.data else { return nil }
            return soa.serial
        }
        let before = serial()
        let pinned = try CAARecord(tag: "issue", value: "ca.test; accounturi=https://ca.test/acct/1")
        #expect(store.replaceCAA([pinned], in: TestZone.origin))
        #expect(served() == [.caa(pinned)])
        #expect(serial() != before)
        #expect(!store.replaceCAA([pinned], in: "other.example.org"))
    }

    @Test func namesOutsideEveryZoneAreRejected() throws {
        let store = try TestZone.store()
        #expect { try store.addTXT("x", at: "_acme-challenge.example.org") } throws: { error in
            (error as? DNSServerError)?.code == .outsideZones
        }
        #expect(!store.removeTXT("x", at: "_acme-challenge.example.org"))
        #expect(store.txtValues(at: "example.org").isEmpty)
    }

    @Test func theStoreBoundsWhatItKeeps() throws {
        let store = try TestZone.store()
        for index in 0..<ZoneStore.maximumValuesPerName { try store.addTXT("v\(index)", at: TestZone.challenge) }
        #expect { try store.addTXT("one-too-many", at: TestZone.challenge) } throws: { error in
            (error as? DNSServerError)?.code == .tooManyValues
        }
        #expect { try store.addTXT(String(repeating: "x", count: ZoneStore.maximumValueLength + 1), at: "_x.eval.example.com") } throws: { error in
            (error as? DNSServerError)?.code == .valueTooLong
        }
    }

    @Test func eachChangeBumpsTheSerial() throws {
        let store = try TestZone.store()
        let responder = QueryResponder(store: store)
        func serial() throws -> UInt32 {
            guard case .soa(let soa) = try TestZone.ask(responder, TestZone.origin, .soa).answers.first?.data else { throw TestFailure("no SOA") }
            return soa.serial
        }
        let before = try serial()
        try store.addTXT("v", at: TestZone.challenge)
        store.removeTXT("v", at: TestZone.challenge)
        #expect(try serial() == before + 2)
    }

    @Test func configurationMistakesAreCaught() throws {
        var noNS = try TestZone.configuration()
        noNS.nameServers = []
        var glueless = try TestZone.configuration()
        glueless.nameServers = [.init(name: "ns1.eval.example.com")]
        var strayHost = try TestZone.configuration()
        strayHost.hosts = [.init(name: "go.example.org")]
        for configuration in [noNS, glueless, strayHost] {
            #expect { try ZoneStore(zones: [configuration]) } throws: { error in
                (error as? DNSServerError)?.code == .invalidConfiguration
            }
        }
        #expect(throws: DNSServerError.self) { try ZoneStore(zones: [TestZone.configuration(), TestZone.configuration()]) }
    }

    @Test func theDeepestZoneAnswersForItsNames() throws {
        let outer = ZoneConfiguration(origin: "example.com", nameServers: [.init(name: "ns.example.net")])
        let store = try ZoneStore(zones: [outer, TestZone.configuration()])
        let responder = QueryResponder(store: store)
        let response = try TestZone.ask(responder, "missing.eval.example.com", .a)
        guard case .soa = response.authorities.first?.data else { throw TestFailure("no SOA") }
        #expect(response.authorities.first?.name == TestZone.origin)
    }

    /// A cluster node's first shared serial is taken whatever it is (the clock's seconds pass
    /// 2^31 in 2038, "older" than the configured 1 in RFC 1982 arithmetic); after it, only a
    /// newer one, across the 2^32 wrap too.
    @Test func theFirstSharedSerialIsTakenAndThenOnlyNewerOnes() throws {
        let configuration = try TestZone.configuration()
        let store = try ZoneStore(zones: [configuration], sharesSerials: true)
        let origin = configuration.origin
        let in2038: UInt32 = 0x8000_0010
        #expect(store.applyShared([TestZone.challenge: ["a"]], serial: in2038, in: origin))
        #expect(store.serials[origin] == in2038)
        #expect(store.txtValues(at: TestZone.challenge) == ["a"])
        #expect(!store.applyShared([TestZone.challenge: ["old"]], serial: in2038 - 1, in: origin), "a late answer was taken")
        #expect(!store.applyShared([TestZone.challenge: ["same"]], serial: in2038, in: origin))
        #expect(store.applyShared([:], serial: in2038 + 1, in: origin))
        #expect(store.txtValues(at: TestZone.challenge).isEmpty)
        // Past 2^32 the serial wraps, and is still newer.
        #expect(store.applyShared([TestZone.challenge: ["b"]], serial: UInt32.max, in: origin))
        #expect(store.applyShared([TestZone.challenge: ["c"]], serial: 2, in: origin))
        #expect(store.serials[origin] == 2 && store.txtValues(at: TestZone.challenge) == ["c"])
    }
}
