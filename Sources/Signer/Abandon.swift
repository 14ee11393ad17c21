import Synchronization

/// Runs `body` in a task of its own and answers at `deadline` without waiting for it, throwing
/// what `timeout` makes; the work is cancelled then, and left to end in its own time. A task
/// group waits for its children, and a PostgreSQL query on a connection whose peer went silent
/// does not end when its task is cancelled (PostgresNIO cannot cancel a query in flight): with
/// a group, the caller would wait for TCP to give up, which takes hours.
/// `followingCancellation`: the caller's cancellation ends the wait and cancels the work (a
/// request whose client went away); without it the work runs on to its deadline whatever the
/// caller's state (an order's cleanups, which must reach the database even when the order was
/// cancelled).
func abandoning<T: Sendable>(
    at deadline: ContinuousClock.Instant, orThrow timeout: @escaping @Sendable () -> any Error, followingCancellation: Bool,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let race = Race<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            race.start(continuation)
            let timer = Task {
                guard (try? await Task.sleep(until: deadline, clock: .continuous)) != nil else { return }
                race.finish(.failure(timeout()))
            }
            race.run(Task {
                do { race.finish(.success(try await body())) } catch { race.finish(.failure(error)) }
                timer.cancel()
            })
        }
    } onCancel: {
        if followingCancellation { race.finish(.failure(CancellationError())) }
    }
}

/// The first of a piece of work, its timer and the caller's cancellation to finish resumes
/// the caller; the work is cancelled unless it finished first.
private final class Race<T: Sendable>: Sendable {
    private struct State {
        var caller: CheckedContinuation<T, any Error>?
        var work: Task<Void, Never>?
        var done = false
    }
    private let state = Mutex(State())

    func start(_ caller: CheckedContinuation<T, any Error>) {
        let early = state.withLock { state -> Bool in
            guard !state.done else { return true }
            state.caller = caller
            return false
        }
        // Cancelled before it began.
        if early { caller.resume(throwing: CancellationError()) }
    }

    func run(_ work: Task<Void, Never>) {
        let cancel = state.withLock { state in
            state.work = work
            return state.done
        }
        if cancel { work.cancel() }
    }

    func finish(_ result: Result<T, any Error>) {
        let (caller, work) = state.withLock { state in
            defer { state.caller = nil; state.done = true }
            return (state.caller, state.work)
        }
        if case .failure = result { work?.cancel() }
        caller?.resume(with: result)
    }
}
