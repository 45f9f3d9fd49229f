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

/// Decodes `%XX` escapes (two hex digits); invalid escapes are kept as written.
func percentDecoded(_ s: String) -> String {
    guard s.contains("%") else { return s }
    var out: [UInt8] = []
    let b = Array(s.utf8)
    var i = 0
    while i < b.count {
        // Digit by digit: `UInt8(_:radix:)` also takes a sign, so "%+5" decoded to 0x05.
        if b[i] == UInt8(ascii: "%"), i + 2 < b.count, let high = hexValue(b[i + 1]), let low = hexValue(b[i + 2]) {
            out.append(high << 4 | low)
            i += 3
        } else {
            out.append(b[i])
            i += 1
        }
    }
    return String(decoding: out, as: UTF8.self)
}

private func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    default: nil
    }
}
