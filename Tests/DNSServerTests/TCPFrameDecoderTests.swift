@testable import DNSServer
import NIOCore
import NIOTestUtils
import Testing

/// RFC 7766 framing fed every way NIO's verifier knows: byte by byte, in bulk, and split at every point.
struct TCPFrameDecoderTests {
    @Test func framesDecodeHoweverTheBytesArrive() throws {
        let messages: [[UInt8]] = [Array(repeating: 0xAB, count: 12), Array(0..<200), [], Array(repeating: 7, count: 1500)]
        let pairs = messages.map { message -> (ByteBuffer, [ByteBuffer]) in
            var framed = ByteBuffer()
            framed.writeInteger(UInt16(message.count))
            framed.writeBytes(message)
            return (framed, [ByteBuffer(bytes: message)])
        }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { DNSTCPFrameDecoder() }
    }
}
