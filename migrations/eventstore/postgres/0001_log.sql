-- The log. Every append first updates the one log_head row, which serialises appends: commit
-- order equals position order and a rolled-back append leaves no gap.
CREATE TABLE log_head (
    id       BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    position BIGINT  NOT NULL
);
INSERT INTO log_head (id, position) VALUES (TRUE, 0);

CREATE TABLE events (
    global_position BIGINT      PRIMARY KEY,
    stream_id       TEXT        NOT NULL,
    stream_version  BIGINT      NOT NULL,
    event_id        UUID        NOT NULL UNIQUE,
    event_type      TEXT        NOT NULL,
    schema_version  INTEGER     NOT NULL,
    payload         JSON        NOT NULL,  -- json, not jsonb: the text is kept exactly as hashed
    metadata        JSON        NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL,
    stream_hash     TEXT        NOT NULL,
    UNIQUE (stream_id, stream_version)
);

-- Idempotency: every command id ever appended, with its first outcome. Never purged.
CREATE TABLE commands (
    command_id     UUID   PRIMARY KEY,
    stream_id      TEXT   NOT NULL,
    stream_version BIGINT NOT NULL,
    first_position BIGINT,
    last_position  BIGINT
);

-- Append-only, also against hand-written SQL.
CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER events_are_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER events_are_never_truncated BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER commands_are_append_only BEFORE UPDATE OR DELETE ON commands
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
