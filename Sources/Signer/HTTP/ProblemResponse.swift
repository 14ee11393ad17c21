import Foundation
import HTTPTypes
import Hummingbird
import SignerProtocol

/// A `Problem` on its way out: Hummingbird turns it into `application/problem+json` with the
/// problem's status, plus `Retry-After` when the client should try again later.
struct ProblemResponse: HTTPResponseError {
    let problem: Problem
    let retryAfterSeconds: Int?

    init(_ problem: Problem, retryAfterSeconds: Int? = nil) {
        self.problem = problem
        self.retryAfterSeconds = retryAfterSeconds
    }

    init(_ type: ProblemType, _ detail: String, retryAfterSeconds: Int? = nil) {
        self.init(Problem(type, detail: detail), retryAfterSeconds: retryAfterSeconds)
    }

    var status: HTTPResponse.Status { .init(code: problem.status) }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: Problem.mediaType]
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = (try? encoder.encode(problem)) ?? Data(#"{"status":500}"#.utf8)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
