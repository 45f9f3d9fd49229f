public import SwitchyardCore

/// One stored Responses turn. `owner` is the configured NAME of the client key that created it
/// (never the key); another key neither reads, lists nor deletes it.
public struct ResponseRecord: Sendable, Equatable {
    public var id: String
    public var owner: String
    /// The response it continued (`previous_response_id`), if any.
    public var previousID: String?
    /// This turn's input items in stored form (`ResponsesConversation.storedInput`).
    public var inputItems: [JSON]
    /// The `response` object as the client received it (its `output` is the turn's output).
    public var response: JSONObject

    public init(id: String, owner: String, previousID: String?, inputItems: [JSON], response: JSONObject) {
        self.id = id
        self.owner = owner
        self.previousID = previousID
        self.inputItems = inputItems
        self.response = response
    }
}

/// Where stored conversations live: SQLite (`SwitchyardStore`) today; any backend that keeps
/// these five promises will do.
///
/// - A record expires `ttl` after it was saved; saving a turn also keeps every earlier turn of its
///   conversation for at least that long, so a conversation lives `ttl` past its last turn.
/// - Reads and deletes see only the owner's unexpired records; anything else reads as absent.
/// - Errors are the backend's; the gateway answers them with a 500 and logs the kind.
public protocol ResponseStore: Sendable {
    func saveResponse(_ record: ResponseRecord, ttl: Duration) async throws
    func response(id: String, owner: String) async throws -> ResponseRecord?
    /// The conversation ending at `id`, oldest turn first; nil when `id` or any earlier turn is
    /// absent (expired, deleted, another owner's), so a broken history is never sent half.
    func conversation(endingAt id: String, owner: String) async throws -> [ResponseRecord]?
    /// Deletes the owner's record; false when there was none.
    func deleteResponse(id: String, owner: String) async throws -> Bool
    /// Deletes expired records; returns how many.
    func purgeExpiredResponses() async throws -> Int
}

extension ResponseStore {
    /// The input history of a continuation of `id`: each earlier turn's input then output items.
    public func history(before id: String, owner: String) async throws -> [JSON]? {
        guard let turns = try await conversation(endingAt: id, owner: owner) else { return nil }
        return turns.flatMap { $0.inputItems + ResponsesConversation.output(of: $0.response) }
    }
}
