import CertificateSupport
import DNSCodec
import DNSServer
import Foundation
import Logging
import Synchronization

/// The highest SOA serial each zone may have served, kept in the state directory so that a
/// restart never begins below it. Secondaries compare serials (RFC 1982): one that went back
/// would look older than their copy, and they would serve stale challenge values until it
/// caught up. Serials are reserved in blocks, so the file is written once per block of changes.
final class ZoneSerials: Sendable {
    let path: String
    private let ceilings: Mutex<[String: UInt32]>
    private let logger: Logger

    /// Reads the file if it exists; a file that cannot be read is an error, not an empty start.
    init(path: String, logger: Logger) throws {
        self.path = path
        self.logger = logger
        var ceilings: [String: UInt32] = [:]
        if SecureFile.permissions(of: path) != nil {
            let bytes: [UInt8]
            do { bytes = try SecureFile.read(path) } catch {
                throw SignerError(.stateFile, "cannot read the zone serials file \(path): \(error)")
            }
            guard bytes.count <= 1 << 20, let decoded = try? JSONDecoder().decode([String: UInt32].self, from: Data(bytes)) else {
                throw SignerError(.stateFile, "the zone serials file \(path) is damaged; move it away to start the serials from the clock")
            }
            ceilings = decoded
        }
        self.ceilings = Mutex(ceilings)
    }

    /// Where the file lives: beside the ACME account key, in the signer's state directory.
    static func path(besideAccountKey keyPath: String) -> String {
        URL(fileURLWithPath: keyPath).deletingLastPathComponent().appendingPathComponent("zone-serials.json").path
    }

    /// The serial to start `origin` at: past every serial reserved before, past the configured
    /// one, and no lower than the clock's seconds (so even a lost file most likely moves forward).
    func startingSerial(for origin: DNSName, configured: UInt32, now: Date = Date()) -> UInt32 {
        let reserved = ceilings.withLock { $0[Self.key(origin)] }.map { $0 &+ 1 } ?? 0
        let clock = UInt32(clamping: Int64(now.timeIntervalSince1970))
        return max(configured, reserved, clock)
    }

    /// The reservation the zone store calls before it serves a serial past the last block.
    var reservation: SerialReservation {
        SerialReservation { [self] origin, ceiling in try reserve(ceiling, for: origin) }
    }

    private func reserve(_ ceiling: UInt32, for origin: DNSName) throws {
        try ceilings.withLock { ceilings in
            var updated = ceilings
            updated[Self.key(origin)] = ceiling
            do {
                let encoder = JSONEncoder()
                encoder.outputFormatting = .sortedKeys
                try SecureFile.write(Array(try encoder.encode(updated)), to: path)
            } catch {
                logger.error("cannot record the zone's serial; a restart may reuse serials", metadata: ["dns.zone": "\(origin)", "error": "\(error)"])
                throw error
            }
            ceilings = updated
        }
    }

    private static func key(_ origin: DNSName) -> String { origin.lowercased.description }
}
