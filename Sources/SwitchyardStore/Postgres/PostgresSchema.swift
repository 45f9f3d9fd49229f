/// The PostgreSQL schema as forward-only migrations, numbered like the SQLite ones (`Schema`) so
/// one build writes one schema version whichever backend it uses: migration N here holds what
/// SQLite's migration N holds, plus what a store shared by several processes needs (claims).
///
/// The applied version is the one row of `switchyard_schema`, which also marks the schema (the
/// first one on the connection's `search_path`) as Switchyard's. Never edit a shipped migration:
/// append one. Each runs in the same transaction as the version bump, under an advisory lock,
/// so replicas starting together migrate once and a crash mid-migration leaves the previous
/// version intact (PostgreSQL's DDL is transactional).
///
/// Column types follow the SQLite schema: times are Unix milliseconds (`bigint`), JSON is kept as
/// `text` exactly as serialised (`jsonb` would reorder keys and cost a parse per write).
enum PostgresSchema {
    static var version: Int { migrations.count }

    /// The advisory lock key (`pg_advisory_xact_lock(bigint)`) migrations hold, per schema name.
    static let lockSQL = "SELECT pg_advisory_xact_lock(hashtextextended('switchyard.migrate.' || current_schema(), 0))"

    static let migrations: [String] = [
        // 1: tasks, steps, append-only history; a task's claim (lease) by one process at a time.
        """
        CREATE TABLE tasks (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- insertion order: list order, `after` cursor
            id text NOT NULL UNIQUE,
            owner text NOT NULL,      -- the configured NAME of the API key, never the key
            agent text NOT NULL,
            state text NOT NULL CHECK (state IN
                ('idle', 'planning', 'executing', 'paused', 'completed', 'failed', 'cancelled')),
            metadata text NOT NULL DEFAULT '{}',
            created_at bigint NOT NULL,
            updated_at bigint NOT NULL,
            last_event_seq bigint NOT NULL DEFAULT 0,
            lease_owner text,         -- the process running the task (`PostgresStore.instanceID`)
            lease_expires_at bigint   -- Unix ms; past it, any process may claim the task
        );
        CREATE INDEX tasks_by_owner ON tasks (owner, seq);
        CREATE INDEX tasks_by_owner_state ON tasks (owner, state, seq);
        CREATE INDEX tasks_by_owner_agent ON tasks (owner, agent, seq);
        CREATE INDEX tasks_resumable ON tasks (seq) WHERE state IN ('planning', 'executing');
        CREATE INDEX tasks_by_lease ON tasks (lease_owner) WHERE lease_owner IS NOT NULL;

        CREATE TABLE steps (
            task_id text NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
            step_id text NOT NULL,
            idx integer NOT NULL,
            state text NOT NULL CHECK (state IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
            attempts integer NOT NULL DEFAULT 0,
            provider text,
            model text,
            output text,
            response text,
            usage text,
            error_class text,
            request text,
            started_at bigint,
            finished_at bigint,
            PRIMARY KEY (task_id, step_id),
            UNIQUE (task_id, idx)
        );
        CREATE INDEX steps_running ON steps (task_id) WHERE state = 'running';

        CREATE TABLE events (
            task_id text NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
            seq bigint NOT NULL,
            type text NOT NULL,
            data text NOT NULL,
            at bigint NOT NULL,
            PRIMARY KEY (task_id, seq)
        );
        CREATE FUNCTION switchyard_events_append_only() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN RAISE EXCEPTION 'events are append-only'; END $$;
        CREATE TRIGGER events_append_only BEFORE UPDATE ON events
            FOR EACH ROW EXECUTE FUNCTION switchyard_events_append_only();

        -- Every committed change of a task wakes the other processes (LISTEN switchyard_tasks):
        -- the one running it sees a cancel at once, every one streams the new history events.
        -- The payload is "<schema> <task id> <state>"; a listener ignores other schemas.
        CREATE FUNCTION switchyard_notify_task() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN
                PERFORM pg_notify('switchyard_tasks', TG_TABLE_SCHEMA || ' ' || NEW.id || ' ' || NEW.state);
                RETURN NULL;
            END $$;
        CREATE TRIGGER tasks_notify AFTER UPDATE OF state, last_event_seq ON tasks
            FOR EACH ROW EXECUTE FUNCTION switchyard_notify_task();
        """,
        // 2: idempotency records (owner, key) → the first response; an in-flight claim is held by
        // one process under a lease like a task's, so a claim whose process died is taken over.
        """
        CREATE TABLE idempotency (
            owner text NOT NULL,
            key text NOT NULL,
            request_hash text NOT NULL,
            state text NOT NULL CHECK (state IN ('in_flight', 'completed')),
            status integer,
            body bytea,
            headers text,
            created_at bigint NOT NULL,
            expires_at bigint NOT NULL,
            claimed_by text,          -- while in flight: the process running the request
            claim_expires_at bigint,  -- Unix ms; renewed while it runs
            PRIMARY KEY (owner, key)
        );
        CREATE INDEX idempotency_by_expiry ON idempotency (expires_at);
        CREATE INDEX idempotency_by_claim ON idempotency (claimed_by) WHERE state = 'in_flight';
        """,
        // 3: stored Responses turns (`store: true`), chained by `previous_response_id`.
        """
        CREATE TABLE responses (
            id text PRIMARY KEY,
            owner text NOT NULL,      -- the configured NAME of the API key, never the key
            previous_id text,         -- the turn this one continued; the history is the chain
            input_items text NOT NULL,  -- JSON array: this turn's input items
            response text NOT NULL,     -- JSON object: the response as the client received it
            created_at bigint NOT NULL,
            expires_at bigint NOT NULL
        );
        CREATE INDEX responses_by_expiry ON responses (expires_at);
        """,
    ]
}
