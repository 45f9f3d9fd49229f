public import SwitchyardCore

/// A response stored under an idempotency key. `owner` is the configured NAME of the client key.
public struct IdempotencyRecord: Sendable, Hashable {
    public var owner: String
    public var key: String
    /// The caller's hash of the request body; a different hash under the same key is a mismatch.
    public var requestHash: String
    public var status: Int
    public var body: [UInt8]
    /// Response headers worth replaying, in order (never `Authorization` or another secret: the
    /// gateway keeps only the content type and its own routing headers).
    public var headers: [HeaderField]
    /// Unix milliseconds.
    public var createdAt: Int64
    public var expiresAt: Int64

    public init(
        owner: String, key: String, requestHash: String, status: Int, body: [UInt8], headers: [HeaderField],
        createdAt: Int64, expiresAt: Int64
    ) {
        self.owner = owner
        self.key = key
        self.requestHash = requestHash
        self.status = status
        self.body = body
        self.headers = headers
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

/// What `IdempotencyStore.begin` found.
public enum IdempotencyBegin: Sendable, Hashable {
    /// No live record: one was created `in_flight`; run the request, then `complete` (or
    /// `abandon` if there is no response worth replaying).
    case new
    /// The same key and request is being processed (409 and retry later).
    case inFlight
    /// Replay this response.
    case completed(IdempotencyRecord)
    /// The key was used with a different request (422).
    case mismatch
}

/// Where idempotency records live: SQLite (`SwitchyardStore`) today; any backend that keeps these
/// promises will do.
///
/// - `begin` claims (owner, key) atomically: of two concurrent first calls exactly one gets `.new`.
///   A record past its expiry is treated as absent and replaced; a different request hash is
///   `.mismatch` whatever the record's state.
/// - A completed record is replayed until it expires; `abandon` drops only an `in_flight` claim.
/// - Errors are the backend's; the gateway answers them with a 5xx and logs the kind.
public protocol IdempotencyStore: Sendable {
    func begin(owner: String, key: String, requestHash: String, ttl: Duration) async throws -> IdempotencyBegin
    /// Stores the answer of an `in_flight` claim.
    func complete(owner: String, key: String, status: Int, body: [UInt8], headers: [HeaderField]) async throws
    /// Drops an `in_flight` claim (the request failed), so a retry runs again.
    func abandon(owner: String, key: String) async throws
    /// Releases every claim still `in_flight` and returns how many (at start-up: their process died
    /// before it answered, and keeping them would answer 409 to the client's retries).
    func releaseInFlight() async throws -> Int
    /// Deletes expired records; returns how many.
    func purgeExpired() async throws -> Int
}
