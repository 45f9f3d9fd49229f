import SwitchyardCore

/// Rewrites an OpenAI tool's JSON Schema into the OpenAPI subset Gemini's `parameters` accepts
/// (docs/translation.md §3, which lists the keywords Gemini answers 400 to).
///
/// Walks the schema structurally, so property *names* such as `strict` or `const` survive; only
/// keywords are rewritten. `$ref`s into the root's `$defs`/`definitions` are inlined up to
/// `maximumRefDepth`; a schema that refers to itself cannot be inlined and is refused.
struct GeminiSchema {
    /// Why a schema cannot be sent; the caller turns it into a 400 naming the schema.
    enum Failure: Error, Equatable {
        case recursive(String)
        case tooDeep
        case unresolvable(String)
        case conflictingKeywords(String)
    }

    static let maximumRefDepth = 16
    static let strippedKeywords: Set<String> = [
        "$schema", "$id", "$comment", "additionalProperties", "strict", "propertyNames", "patternProperties",
        "exclusiveMinimum", "exclusiveMaximum", "examples",
    ]

    private let root: JSONObject

    /// The cleaned schema.
    static func clean(_ schema: JSON) throws(Failure) -> JSON {
        try GeminiSchema(root: schema.objectValue ?? JSONObject()).clean(schema, refs: [])
    }

    private func clean(_ schema: JSON, refs: [String]) throws(Failure) -> JSON {
        guard case .object(let o) = schema else { return schema }
        if case .string(let ref)? = o["$ref"] { return try inline(ref, siblings: o, refs: refs) }
        var out = JSONObject()
        for entry in o {
            let key = entry.key
            let value = entry.value
            if Self.strippedKeywords.contains(key) || key == "$defs" || key == "definitions" { continue }
            switch key {
            case "const":
                if o["enum"] == nil { out["enum"] = .array([value]) }
            case "type":
                guard case .array(let types) = value else {
                    out["type"] = value
                    continue
                }
                let nonNull = types.filter { $0 != .string("null") }
                let nullable = nonNull.count != types.count
                if nonNull.count == 1 {
                    out["type"] = nonNull[0]
                } else if nonNull.isEmpty {
                    out["type"] = "null"
                } else {
                    if o["anyOf"] != nil || o["oneOf"] != nil {
                        throw .conflictingKeywords("type list with anyOf/oneOf")
                    }
                    out["anyOf"] = .array(nonNull.map { .object(["type": $0]) })
                }
                if nullable { out["nullable"] = true }
            case "oneOf", "anyOf":
                if key == "oneOf", o["anyOf"] != nil { throw .conflictingKeywords("oneOf with anyOf") }
                out["anyOf"] = try cleanList(value, refs: refs)
            case "allOf", "prefixItems":
                out[key] = try cleanList(value, refs: refs)
            case "items", "not", "if", "then", "else", "contains":
                out[key] = value.arrayValue != nil ? try cleanList(value, refs: refs) : try clean(value, refs: refs)
            case "properties":
                guard case .object(let props) = value else {
                    out[key] = value
                    continue
                }
                var cleaned = JSONObject()
                for p in props { cleaned.appendUnique(p.key, try clean(p.value, refs: refs)) }
                out[key] = .object(cleaned)
            default:
                out[key] = value
            }
        }
        return .object(out)
    }

    private func cleanList(_ value: JSON, refs: [String]) throws(Failure) -> JSON {
        guard case .array(let items) = value else { return try clean(value, refs: refs) }
        var out: [JSON] = []
        out.reserveCapacity(items.count)
        for item in items { out.append(try clean(item, refs: refs)) }
        return .array(out)
    }

    /// Replaces `{"$ref": …, siblings}` by the cleaned target, siblings (e.g. `description`) on top.
    private func inline(_ ref: String, siblings: JSONObject, refs: [String]) throws(Failure) -> JSON {
        if refs.contains(ref) { throw .recursive(ref) }
        guard refs.count < Self.maximumRefDepth else { throw .tooDeep }
        let container: String
        let name: Substring
        if ref.hasPrefix("#/$defs/") {
            container = "$defs"
            name = ref.dropFirst("#/$defs/".count)
        } else if ref.hasPrefix("#/definitions/") {
            container = "definitions"
            name = ref.dropFirst("#/definitions/".count)
        } else {
            throw .unresolvable(ref)
        }
        let key = String(name).replacing("~1", with: "/").replacing("~0", with: "~")
        guard let target = root[container]?[key] else { throw .unresolvable(ref) }
        var resolved = try clean(target, refs: refs + [ref])
        var rest = siblings
        rest["$ref"] = nil
        if !rest.isEmpty, case .object(var r) = resolved, case .object(let s) = try clean(.object(rest), refs: refs) {
            for e in s { r[e.key] = e.value }
            resolved = .object(r)
        }
        return resolved
    }
}
