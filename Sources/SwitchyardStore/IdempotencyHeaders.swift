import SwitchyardCore
import SwitchyardTasks

/// Stored response headers as a JSON array of [name, value] pairs (both stores' format).
enum IdempotencyHeaders {
    static func encode(_ headers: [HeaderField]) -> JSON {
        .array(headers.map { .array([.string($0.name), .string($0.value)]) })
    }

    static func decode(_ json: JSON?, path: String) throws(StoreError) -> [HeaderField] {
        guard let json else { return [] }
        guard let pairs = json.arrayValue else {
            throw StoreError(kind: .corrupt, message: "idempotency headers are not a JSON array", path: path)
        }
        var headers: [HeaderField] = []
        for pair in pairs {
            guard let array = pair.arrayValue, array.count == 2, let name = array[0].stringValue,
                let value = array[1].stringValue
            else {
                throw StoreError(kind: .corrupt, message: "idempotency header is not a [name, value] pair", path: path)
            }
            headers.append(HeaderField(name, value))
        }
        return headers
    }
}
