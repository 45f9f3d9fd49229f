/// The schema as forward-only migrations; `PRAGMA user_version` is the number applied.
///
/// Never edit a shipped migration: append one. Each runs in the same `BEGIN IMMEDIATE` transaction
/// as the `user_version` bump, so a crash mid-migration leaves the previous version intact.
enum Schema {
    /// `PRAGMA application_id`, "SYRD": marks the file as Switchyard's so another tool's database is refused.
    static let applicationID: Int32 = 0x5359_5244

    static var version: Int { migrations.count }

    static let migrations: [String] = [
        // 1: tasks, steps, append-only history.
        """
        PRAGMA application_id = \(applicationID);
        CREATE TABLE tasks (
            seq INTEGER PRIMARY KEY,  -- insertion order: list order and the cursor behind `after`
            id TEXT NOT NULL UNIQUE,
            owner TEXT NOT NULL,      -- the configured NAME of the API key, never the key
            agent TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN
                ('idle', 'planning', 'executing', 'paused', 'completed', 'failed', 'cancelled')),
            metadata TEXT NOT NULL DEFAULT '{}',
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            last_event_seq INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX tasks_by_owner ON tasks (owner, seq);
        CREATE INDEX tasks_by_owner_state ON tasks (owner, state, seq);
        CREATE INDEX tasks_by_owner_agent ON tasks (owner, agent, seq);
        CREATE INDEX tasks_resumable ON tasks (seq) WHERE state IN ('planning', 'executing');

        CREATE TABLE steps (
            task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
            step_id TEXT NOT NULL,
            idx INTEGER NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
            attempts INTEGER NOT NULL DEFAULT 0,
            provider TEXT,
            model TEXT,
            output TEXT,
            response TEXT,
            usage TEXT,
            error_class TEXT,
            request TEXT,
            started_at INTEGER,
            finished_at INTEGER,
            PRIMARY KEY (task_id, step_id),
            UNIQUE (task_id, idx)
        );
        CREATE INDEX steps_running ON steps (task_id) WHERE state = 'running';

        CREATE TABLE events (
            task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            type TEXT NOT NULL,
            data TEXT NOT NULL,
            at INTEGER NOT NULL,
            PRIMARY KEY (task_id, seq)
        ) WITHOUT ROWID;
        CREATE TRIGGER events_append_only BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
        """,
        // 2: idempotency records (owner, key) → the first response.
        """
        CREATE TABLE idempotency (
            owner TEXT NOT NULL,
            key TEXT NOT NULL,
            request_hash TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('in_flight', 'completed')),
            status INTEGER,
            body BLOB,
            headers TEXT,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            PRIMARY KEY (owner, key)
        );
        CREATE INDEX idempotency_by_expiry ON idempotency (expires_at);
        """,
        // 3: stored Responses turns (`store: true`), chained by `previous_response_id`.
        """
        CREATE TABLE responses (
            id TEXT PRIMARY KEY,
            owner TEXT NOT NULL,      -- the configured NAME of the API key, never the key
            previous_id TEXT,         -- the turn this one continued; the history is the chain
            input_items TEXT NOT NULL,  -- JSON array: this turn's input items
            response TEXT NOT NULL,     -- JSON object: the response as the client received it
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX responses_by_expiry ON responses (expires_at);
        """,
    ]
}
