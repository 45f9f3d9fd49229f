import SwitchyardCore

/// Rewrites an OpenAI tool's JSON Schema into the OpenAPI subset Gemini's `parameters` accepts
/// (docs/translation.md §3, which lists the keywords Gemini answers 400 to).
///
/// Walks the schema structurally, so property *names* such as `strict` or `const` survive; only
/// keywords are rewritten. `$ref`s into the root's `$defs`/`definitions` are inlined up to
/// `maximumRefDepth`; a schema that refers to itself cannot be inlined and is refused.
///
/// Inlining copies a definition wherever it is referenced, so a 3 KB schema whose definitions
/// refer 10 ways to the next over 8 levels expands to 10⁸ nodes (before this bound it took 5.5 GB
/// and minutes, and at 6 levels it sent a 6.8-million-token prompt upstream). Every node inlining
/// copies is charged to a `Budget` shared by the request's tools before it is built, and the
/// request is refused once the copies pass `maximumInlinedBytes`: the work is bounded by the
/// budget whatever the fan-out.
struct GeminiSchema {
    /// Why a schema cannot be sent; the caller turns it into a 400 naming the schema.
    enum Failure: Error, Equatable {
        case recursive(String)
        case tooDeep
        case unresolvable(String)
        case conflictingKeywords(String)
        /// Inlining `$ref`s would add more than `maximumInlinedBytes` to the request.
        case tooLarge
    }

    static let maximumRefDepth = 16
    /// Most bytes (of compact JSON, counted as the copies are made) that inlining `$ref`s may add
    /// to the tool schemas of one request: 256 KiB. Gemini itself refuses tool sets far smaller than
    /// this as too complex to serve (public reports put that near 50 KB of declarations), so no
    /// schema Gemini would take is refused here, and the worst case stays at a few milliseconds and
    /// a few MB.
    static let maximumInlinedBytes = 256 << 10

    /// What inlining may still add, shared by every tool of one request.
    struct Budget {
        var remaining = GeminiSchema.maximumInlinedBytes

        mutating func charge(_ bytes: Int) throws(Failure) {
            remaining -= bytes
            if remaining < 0 { throw .tooLarge }
        }
    }

    static let strippedKeywords: Set<String> = [
        "$schema", "$id", "$comment", "additionalProperties", "strict", "propertyNames", "patternProperties",
        "exclusiveMinimum", "exclusiveMaximum", "examples",
    ]

    private let root: JSONObject

    /// The cleaned schema; what `$ref` inlining copies is charged to `budget`.
    static func clean(_ schema: JSON, budget: inout Budget) throws(Failure) -> JSON {
        try GeminiSchema(root: schema.objectValue ?? JSONObject()).clean(schema, refs: [], budget: &budget)
    }

    /// The cleaned schema, with a budget of its own.
    static func clean(_ schema: JSON) throws(Failure) -> JSON {
        var budget = Budget()
        return try clean(schema, budget: &budget)
    }

    private func clean(_ schema: JSON, refs: [String], budget: inout Budget) throws(Failure) -> JSON {
        // Inside an inlined definition every node is a new copy: charge it before building it.
        let copying = !refs.isEmpty
        guard case .object(let o) = schema else {
            if copying { try Self.charge(schema, to: &budget) }
            return schema
        }
        if case .string(let ref)? = o["$ref"] { return try inline(ref, siblings: o, refs: refs, budget: &budget) }
        if copying { try budget.charge(2) }
        var out = JSONObject()
        for entry in o {
            let key = entry.key
            let value = entry.value
            if Self.strippedKeywords.contains(key) || key == "$defs" || key == "definitions" { continue }
            if copying {
                try budget.charge(key.utf8.count + 4)
                switch key {
                case "oneOf", "anyOf", "allOf", "prefixItems", "items", "not", "if", "then", "else", "contains":
                    break  // subschemas: charged as they are cleaned
                case "properties" where value.objectValue != nil:
                    break
                default:
                    try Self.charge(value, to: &budget)
                }
            }
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
                out["anyOf"] = try cleanList(value, refs: refs, budget: &budget)
            case "allOf", "prefixItems":
                out[key] = try cleanList(value, refs: refs, budget: &budget)
            case "items", "not", "if", "then", "else", "contains":
                out[key] =
                    value.arrayValue != nil
                    ? try cleanList(value, refs: refs, budget: &budget) : try clean(value, refs: refs, budget: &budget)
            case "properties":
                guard case .object(let props) = value else {
                    out[key] = value
                    continue
                }
                var cleaned = JSONObject()
                for p in props {
                    if copying { try budget.charge(p.key.utf8.count + 4) }
                    cleaned.appendUnique(p.key, try clean(p.value, refs: refs, budget: &budget))
                }
                out[key] = .object(cleaned)
            default:
                out[key] = value
            }
        }
        return .object(out)
    }

    private func cleanList(_ value: JSON, refs: [String], budget: inout Budget) throws(Failure) -> JSON {
        guard case .array(let items) = value else { return try clean(value, refs: refs, budget: &budget) }
        if !refs.isEmpty { try budget.charge(2) }
        var out: [JSON] = []
        out.reserveCapacity(items.count)
        for item in items { out.append(try clean(item, refs: refs, budget: &budget)) }
        return .array(out)
    }

    /// Replaces `{"$ref": …, siblings}` by the cleaned target, siblings (e.g. `description`) on top.
    private func inline(
        _ ref: String, siblings: JSONObject, refs: [String], budget: inout Budget
    ) throws(Failure) -> JSON {
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
        var resolved = try clean(target, refs: refs + [ref], budget: &budget)
        var rest = siblings
        rest["$ref"] = nil
        if !rest.isEmpty, case .object(var r) = resolved,
            case .object(let s) = try clean(.object(rest), refs: refs, budget: &budget)
        {
            for e in s { r[e.key] = e.value }
            resolved = .object(r)
        }
        return resolved
    }

    /// Charges the compact-JSON size of a value copied whole (a `description`, an `enum` list, a
    /// `default`), walking it only until the budget runs out.
    private static func charge(_ value: JSON, to budget: inout Budget) throws(Failure) {
        switch value {
        case .null, .bool: try budget.charge(5)
        case .number(let text): try budget.charge(text.utf8.count)
        case .string(let s): try budget.charge(s.utf8.count + 2)
        case .array(let items):
            try budget.charge(2)
            for item in items { try charge(item, to: &budget) }
        case .object(let o):
            try budget.charge(2)
            for e in o {
                try budget.charge(e.key.utf8.count + 4)
                try charge(e.value, to: &budget)
            }
        }
    }
}
