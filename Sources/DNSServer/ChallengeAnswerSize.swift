import DNSCodec

/// How many DNS-01 values fit one UDP answer. Resolvers ask with 1232 bytes of EDNS payload
/// (DNS flag day 2020, RFC 9715); an answer past that is truncated (TC), and each resolver that
/// gets one must come back over TCP. A name's TXT set is therefore capped at what fits:
///
///     header 12 + question (name + 4) + OPT 11 + n × (pointer 2 + type, class, TTL, length 10
///     + one 43-character string 44)
///
/// which is 20 values for `_acme-challenge.go.eval.example.com` and 16 for the longest name.
public enum ChallengeAnswerSize {
    public static let udpPayload = 1232
    /// The base64url of a SHA-256 digest (RFC 8555 §8.4) is always 43 characters.
    static let valueLength = 43

    /// The most values of the TXT set at `name` that one answer carries.
    public static func valuesFitting(at name: DNSName, payload: Int = udpPayload) -> Int {
        let fixed = 12 + (name.wireBytes.count + 4) + 11
        let perValue = 2 + 10 + 1 + valueLength
        return max(0, (payload - fixed) / perValue)
    }
}
