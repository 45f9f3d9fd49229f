import SwitchyardCore

/// `JSON.parse` over arbitrary bytes. What must hold: parsing either succeeds or throws its typed
/// error; a parsed value serialises to text that parses back to an equal value and serialises
/// to the same text again (so what the gateway forwards means what it received); the number
/// accessors the codecs use never trap.
enum JSONFuzz {
    static func run(_ input: [UInt8]) throws(FuzzFailure) {
        guard let value = try? JSON.parse(input) else { return }
        try checkRoundTrip(value)
        touchNumbers(value)
    }

    /// Serialise → parse → serialise: the same value and the same text.
    static func checkRoundTrip(_ value: JSON, _ what: String = "value") throws(FuzzFailure) {
        let text = value.serialized()
        let again: JSON
        do {
            again = try JSON.parse(text)
        } catch {
            throw FuzzFailure("the serialised \(what) does not parse: \(error)")
        }
        try check(again == value, "the serialised \(what) parses to a different value")
        try check(again.serialized() == text, "serialising the \(what) twice gives different text")
    }

    /// Calls the number accessors on every number in the tree.
    static func touchNumbers(_ value: JSON) {
        switch value {
        case .number:
            _ = value.intValue
            _ = value.doubleValue
        case .array(let items):
            for item in items { touchNumbers(item) }
        case .object(let object):
            for entry in object { touchNumbers(entry.value) }
        case .null, .bool, .string:
            break
        }
    }

    /// Bytes that must be one JSON value (a body or event the gateway sends to a client).
    static func checkParses(_ bytes: [UInt8], _ what: String) throws(FuzzFailure) -> JSON {
        do {
            return try JSON.parse(bytes)
        } catch {
            throw FuzzFailure("\(what) is not JSON (\(error)): \(String(decoding: bytes.prefix(300), as: UTF8.self))")
        }
    }
}
