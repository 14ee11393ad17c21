import Hummingbird
import NIOCore

/// Hummingbird's request context plus the peer's address, for rate limits and logs.
struct SignerRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let peer: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peer = source.channel.remoteAddress
    }
}
