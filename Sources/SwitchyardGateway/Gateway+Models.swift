import SwitchyardCore
import SwitchyardEdge
import SwitchyardRouting

extension Gateway {
    /// `GET /v1/models`: configured model names, then every `provider/model` target.
    func listModels(_ c: EndpointCall) {
        let data: [JSON] = c.table.listedModels.map { modelObject(id: $0.id, ownedBy: $0.ownedBy) }
        respondJSON(c.responder, status: 200, ["object": "list", "data": .array(data)], requestID: c.requestID)
    }

    /// `GET /v1/models/{id}`; ids may contain `/` (`anthropic/claude-3-5-haiku-latest`).
    func showModel(_ c: EndpointCall) {
        let (table, responder, requestID) = (c.table, c.responder, c.requestID)
        let id = percentDecoded(c["id"])
        if let m = table.listedModels.first(where: { $0.id == id }) {
            guard case .object(let o) = modelObject(id: m.id, ownedBy: m.ownedBy) else { return }
            return respondJSON(responder, status: 200, o, requestID: requestID)
        }
        if case .targets(let targets, _) = table.resolve(model: id), let t = targets.first {
            guard case .object(let o) = modelObject(id: id, ownedBy: t.provider) else { return }
            return respondJSON(responder, status: 200, o, requestID: requestID)
        }
        respondError(responder, .modelNotFound(id), requestID: requestID)
    }

    func modelObject(id: String, ownedBy: String) -> JSON {
        ["id": .string(id), "object": "model", "created": .int(startedAt), "owned_by": .string(ownedBy)]
    }
}
