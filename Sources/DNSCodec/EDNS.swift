/// The EDNS(0) pseudo-record (OPT, RFC 6891 §6), lifted out of the additional section.
public struct EDNS: Hashable, Sendable {
    /// The largest UDP payload the sender can reassemble; values under 512 mean 512.
    public var udpPayloadSize: UInt16
    public var version: UInt8
    /// DNSSEC OK (RFC 3225).
    public var dnssecOK: Bool
    /// The 15 flag bits after DO, reserved; kept so a round trip is exact.
    public var reservedFlags: UInt16
    public var options: [Option]

    /// One EDNS option (cookie, padding, client subnet, ...), kept as opaque bytes.
    public struct Option: Hashable, Sendable {
        public var code: UInt16
        public var data: [UInt8]
        public init(code: UInt16, data: [UInt8]) {
            self.code = code
            self.data = data
        }
    }

    public init(udpPayloadSize: UInt16 = 1232, version: UInt8 = 0, dnssecOK: Bool = false, reservedFlags: UInt16 = 0, options: [Option] = []) {
        self.udpPayloadSize = udpPayloadSize
        self.version = version
        self.dnssecOK = dnssecOK
        self.reservedFlags = reservedFlags & 0x7FFF
        self.options = options
    }
}
