-- Read models: every table can be dropped and rebuilt from the log (`hotline rebuild`).
-- Times are RFC 3339 UTC text (sortable); flags are 0/1 integers. Same DDL on both engines.

-- Where each projection stands; updated in the same transaction as its writes.
CREATE TABLE rm_checkpoints (
    projection      TEXT PRIMARY KEY,
    position        BIGINT NOT NULL DEFAULT 0,
    status          TEXT   NOT NULL DEFAULT 'running',  -- running | failed
    failed_position BIGINT,
    error           TEXT
);

-- TicketView: one row per ticket, with its pool, deadline and KPI facts.
CREATE TABLE rm_ticket (
    ticket_id             TEXT PRIMARY KEY,
    ticket_no             TEXT   NOT NULL UNIQUE,
    tenant                TEXT   NOT NULL,
    ticket_type           TEXT   NOT NULL,
    urgency               TEXT   NOT NULL,
    source                TEXT   NOT NULL,
    status                TEXT   NOT NULL,
    pool                  TEXT,               -- pending | assigned | returned | supervised | escalated
    customer_id           TEXT,
    caller_phone          TEXT,
    address               TEXT   NOT NULL,
    description           TEXT   NOT NULL,
    created_by            TEXT   NOT NULL,
    created_at            TEXT   NOT NULL,
    created_position      BIGINT NOT NULL,
    deadline_at           TEXT   NOT NULL,
    station               TEXT,
    station_path          TEXT,
    worker                TEXT,
    first_dispatched_at   TEXT,
    first_accepted_at     TEXT,
    first_on_site_at      TEXT,
    completed_at          TEXT,
    callback_at           TEXT,
    callback_satisfaction TEXT,
    closed_at             TEXT,
    first_time_fix        BIGINT,
    closed_overdue        BIGINT,
    supervised            BIGINT NOT NULL DEFAULT 0,
    escalated             BIGINT NOT NULL DEFAULT 0,
    urge_count            BIGINT NOT NULL DEFAULT 0,
    return_count          BIGINT NOT NULL DEFAULT 0,
    redispatch_count      BIGINT NOT NULL DEFAULT 0,
    last_position         BIGINT NOT NULL
);
CREATE INDEX rm_ticket_pool ON rm_ticket (tenant, pool, created_position);
CREATE INDEX rm_ticket_station ON rm_ticket (station, status);
CREATE INDEX rm_ticket_deadline ON rm_ticket (deadline_at);
CREATE INDEX rm_ticket_created ON rm_ticket (created_position);

-- TicketTimelineView: every event of every ticket: who, what, when, why, from where.
CREATE TABLE rm_ticket_timeline (
    ticket_id      TEXT   NOT NULL,
    position       BIGINT NOT NULL,
    stream_version BIGINT NOT NULL,
    event_type     TEXT   NOT NULL,
    occurred_at    TEXT   NOT NULL,
    recorded_at    TEXT   NOT NULL,
    actor          TEXT   NOT NULL,
    source         TEXT   NOT NULL,
    reason         TEXT,
    data           TEXT   NOT NULL,
    PRIMARY KEY (ticket_id, stream_version)
);

-- ApprovalView.
CREATE TABLE rm_approval (
    approval_id      TEXT PRIMARY KEY,
    ticket_id        TEXT   NOT NULL,
    ticket_no        TEXT   NOT NULL,
    tenant           TEXT   NOT NULL,
    operation        TEXT   NOT NULL,
    status           TEXT   NOT NULL,       -- pending | granted | rejected
    chain            TEXT   NOT NULL,       -- JSON array of levels
    approved_levels  BIGINT NOT NULL DEFAULT 0,
    next_level       TEXT,
    reason           TEXT   NOT NULL,
    requested_by     TEXT   NOT NULL,
    requested_at     TEXT   NOT NULL,
    due_at           TEXT   NOT NULL,
    decided_at       TEXT,
    decided_by       TEXT,
    rejection_reason TEXT
);
CREATE INDEX rm_approval_pending ON rm_approval (tenant, status, due_at);

-- CustomerView and its phone index (screen pop, customer search).
CREATE TABLE rm_customer (
    customer_id TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL,
    name        TEXT NOT NULL,
    address     TEXT NOT NULL,
    site_path   TEXT NOT NULL
);
CREATE TABLE rm_customer_phone (
    phone       TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    PRIMARY KEY (phone, customer_id)
);
