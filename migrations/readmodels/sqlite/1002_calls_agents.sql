-- Telephony read models: calls, call KPI counters, the agent board, seats and phones.
-- Times are RFC 3339 UTC text (sortable); flags are 0/1 integers. Same DDL on both engines.

-- CallView: one row per call (stream `call-<key>`), updated by every call event.
CREATE TABLE rm_call (
    call_key             TEXT PRIMARY KEY,
    tenant               TEXT   NOT NULL,
    call_id              TEXT   NOT NULL,
    queue                TEXT,
    caller               TEXT   NOT NULL,  -- raw; the API masks it by role
    dialled              TEXT   NOT NULL,
    status               TEXT   NOT NULL,  -- call_status code
    outcome              TEXT,             -- call_outcome code, once known
    offered_at           TEXT   NOT NULL,
    answered_at          TEXT,             -- first answer
    ended_at             TEXT,             -- when it finished, however it finished
    abandoned_at         TEXT,
    wait_seconds         BIGINT,
    talk_seconds         BIGINT,
    hold_seconds         BIGINT NOT NULL DEFAULT 0,
    within_service_level BIGINT,
    short_abandon        BIGINT,
    extension            TEXT,
    seat                 TEXT,
    agent                TEXT,
    transferred_to       TEXT,
    offered_position     BIGINT NOT NULL,
    last_position        BIGINT NOT NULL
);
CREATE INDEX rm_call_tenant ON rm_call (tenant, offered_position);
CREATE INDEX rm_call_queue ON rm_call (tenant, queue, offered_at);
CREATE INDEX rm_call_agent ON rm_call (agent, offered_at);
CREATE INDEX rm_call_caller ON rm_call (caller, offered_at);

-- CallKpiView: counters per tenant, queue ('' when none), agent ('' when none) and hour (its
-- start, UTC text; China Standard Time hours start on the hour too).
CREATE TABLE rm_call_kpi (
    tenant              TEXT   NOT NULL,
    queue               TEXT   NOT NULL,
    agent               TEXT   NOT NULL,
    hour_start          TEXT   NOT NULL,
    offered             BIGINT NOT NULL DEFAULT 0,
    blacklisted         BIGINT NOT NULL DEFAULT 0,
    presented           BIGINT NOT NULL DEFAULT 0,
    answered            BIGINT NOT NULL DEFAULT 0,
    answered_within_sl  BIGINT NOT NULL DEFAULT 0,
    answered_wait_sum   BIGINT NOT NULL DEFAULT 0,
    abandoned           BIGINT NOT NULL DEFAULT 0,
    short_abandoned     BIGINT NOT NULL DEFAULT 0,
    handled             BIGINT NOT NULL DEFAULT 0,
    talk_sum            BIGINT NOT NULL DEFAULT 0,
    hold_sum            BIGINT NOT NULL DEFAULT 0,
    wrap_up_sum         BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, queue, agent, hour_start)
);
CREATE INDEX rm_call_kpi_hour ON rm_call_kpi (hour_start);
CREATE INDEX rm_call_kpi_agent ON rm_call_kpi (agent, hour_start);

-- AgentView: the agent board.
CREATE TABLE rm_agent (
    agent     TEXT PRIMARY KEY,
    tenant    TEXT   NOT NULL,
    seat      TEXT,
    status    TEXT   NOT NULL,  -- agent_status code, `signed_out` when signed out
    since     TEXT   NOT NULL,
    signed_in BIGINT NOT NULL
);
CREATE INDEX rm_agent_tenant ON rm_agent (tenant, agent);

-- SeatView: seats and the phone bound to each (from `telephony-<tenant>`).
CREATE TABLE rm_seat (
    tenant    TEXT NOT NULL,
    seat      TEXT NOT NULL,
    name_zh   TEXT NOT NULL,
    extension TEXT,
    PRIMARY KEY (tenant, seat)
);

-- PhoneView: registration state per extension.
CREATE TABLE rm_phone (
    tenant     TEXT   NOT NULL,
    extension  TEXT   NOT NULL,
    registered BIGINT NOT NULL,
    contact    TEXT   NOT NULL,
    expires_at TEXT,
    since      TEXT   NOT NULL,
    PRIMARY KEY (tenant, extension)
);
