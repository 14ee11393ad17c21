import Foundation
import HTTPTypes
import Hummingbird
import SignerProtocol

/// A `Problem` on its way out: Hummingbird turns it into `application/problem+json` with the
/// problem's status, plus `Retry-After` when the client should try again later. The layers
/// below HTTP throw the plain `Problem`; `ProblemMiddleware` wraps it in this.
struct ProblemResponse: HTTPResponseError {
    let problem: Problem

    init(_ problem: Problem) {
        self.problem = problem
    }

    var status: HTTPResponse.Status { .init(code: problem.status) }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: Problem.mediaType]
        if let seconds = problem.retryAfterSeconds { headers[.retryAfter] = String(seconds) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = (try? encoder.encode(problem)) ?? Data(#"{"status":500}"#.utf8)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
