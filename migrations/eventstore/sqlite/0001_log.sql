-- The log. Positions are assigned by the single writer task, so they have no gaps.
CREATE TABLE events (
    global_position INTEGER PRIMARY KEY,
    stream_id       TEXT    NOT NULL,
    stream_version  INTEGER NOT NULL,
    event_id        TEXT    NOT NULL UNIQUE,
    event_type      TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL,
    payload         TEXT    NOT NULL,  -- canonical JSON, exactly as hashed
    metadata        TEXT    NOT NULL,  -- canonical JSON, exactly as hashed
    recorded_at     TEXT    NOT NULL,  -- RFC 3339, UTC, microseconds
    stream_hash     TEXT    NOT NULL,
    UNIQUE (stream_id, stream_version)
);

-- Idempotency: every command id ever appended, with its first outcome. Never purged.
CREATE TABLE commands (
    command_id     TEXT    PRIMARY KEY,
    stream_id      TEXT    NOT NULL,
    stream_version INTEGER NOT NULL,
    first_position INTEGER,
    last_position  INTEGER
);

-- Append-only, also against hand-written SQL.
CREATE TRIGGER events_are_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_are_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER commands_are_append_only_update BEFORE UPDATE ON commands
BEGIN SELECT RAISE(ABORT, 'commands are append-only'); END;
CREATE TRIGGER commands_are_append_only_delete BEFORE DELETE ON commands
BEGIN SELECT RAISE(ABORT, 'commands are append-only'); END;
