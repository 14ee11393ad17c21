import HummingbirdCore
import Logging
import NIOCore
import NIOSSL

/// A Hummingbird child channel that wraps its base in TLS with whatever identity the store
/// holds when the connection arrives.
public struct ReloadableTLSChannel<Base: ServerChildChannel>: ServerChildChannel {
    public typealias Value = Base.Value
    let base: Base
    let identities: TLSIdentityStore

    public init(_ base: Base, identities: TLSIdentityStore) {
        self.base = base
        self.identities = identities
    }

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let context = identities.current.context
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    public func handle(value: Base.Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

extension ReloadableTLSChannel: HTTPChannelHandler where Base: HTTPChannelHandler {
    public var responder: HTTPChannelHandler.Responder { base.responder }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 over TLS whose certificate can be replaced while the server runs (see `TLSIdentityStore`).
    public static func reloadableTLS(identities: TLSIdentityStore, http1: HTTP1Channel.Configuration = .init()) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            ReloadableTLSChannel(HTTP1Channel(responder: responder, configuration: http1), identities: identities)
        }
    }
}
