import SwitchyardCore
import SwitchyardProviders
import SwitchyardRouting
import SwitchyardTasks
import Synchronization

/// Runs a task's step through the router (retries, breakers, fallback per step), resolving its
/// model against the current route table (SIGHUP swaps it: steps started afterwards use the new one).
final class GatewayStepRunner: StepRunner {
    let router: Router
    private let table: Mutex<RouteTable>

    init(router: Router, table: RouteTable) {
        self.router = router
        self.table = Mutex(table)
    }

    func updateTable(_ newTable: RouteTable) { table.withLock { $0 = newTable } }

    func run(_ request: JSON, requestID: String) async -> StepOutcome {
        var chat: ChatRequest
        do {
            chat = try ChatRequest.parse(request)
        } catch {
            return Self.failed(error, attempts: [])
        }
        chat.stream = false
        let targets: [RouteTarget]
        switch table.withLock({ $0 }).resolve(model: chat.model) {
        case .targets(let t, _): targets = t
        case .notFound: return Self.failed(.modelNotFound(chat.model), attempts: [])
        case .unavailable:
            return Self.failed(
                APIError(
                    status: 503, type: "server_error", code: "no_available_provider",
                    message: "No provider can serve the step's model."),
                attempts: [])
        }
        switch await router.complete(chat, targets: targets, requestID: requestID) {
        case .success(let success):
            let response = success.response.response
            let body = success.response.passthroughBody.flatMap { try? JSON.parse($0) } ?? response.json
            return StepOutcome(
                state: .completed, provider: success.target.provider, model: success.target.model,
                output: response.choices.first?.content ?? "", response: body, usage: response.usage?.json)
        case .failure(let failure):
            return Self.failed(failure.error, attempts: failure.attempts)
        }
    }

    /// A failed step keeps a stable, payload-free error class: the last upstream outcome
    /// (`http_503`, `timeout_first_byte`) when there was a call, else the error code.
    static func failed(_ error: APIError, attempts: [AttemptRecord]) -> StepOutcome {
        StepOutcome(
            state: .failed, provider: attempts.last?.provider, model: attempts.last?.model,
            errorClass: attempts.last?.outcome.rawValue ?? error.code ?? error.type)
    }
}
