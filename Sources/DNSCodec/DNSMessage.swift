/// A whole DNS message: header flags, the four sections, and EDNS when an OPT record is present.
///
/// Section counts are not stored: they are the sizes of the arrays. The OPT record lives in
/// `edns` rather than in `additionals`, and the 12-bit response code is split between the header
/// and OPT when written.
public struct DNSMessage: Hashable, Sendable {
    public var header: DNSHeader
    public var questions: [DNSQuestion]
    public var answers: [DNSResourceRecord]
    public var authorities: [DNSResourceRecord]
    public var additionals: [DNSResourceRecord]
    public var edns: EDNS?
    /// The full response code; codes above 15 need `edns` to be written.
    public var responseCode: DNSResponseCode

    /// The largest message DNS can carry (the TCP length prefix is 16 bits).
    public static let maximumSize = 65_535

    public init(
        header: DNSHeader, questions: [DNSQuestion] = [], answers: [DNSResourceRecord] = [],
        authorities: [DNSResourceRecord] = [], additionals: [DNSResourceRecord] = [], edns: EDNS? = nil,
        responseCode: DNSResponseCode? = nil
    ) {
        self.header = header
        self.questions = questions
        self.answers = answers
        self.authorities = authorities
        self.additionals = additionals
        self.edns = edns
        self.responseCode = responseCode ?? DNSResponseCode(rawValue: UInt16(header.responseCodeLow))
    }
}
