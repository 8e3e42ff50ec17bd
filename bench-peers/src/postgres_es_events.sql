-- The events table of postgres-es 0.5.0, copied from the crate's db/init.sql
-- (persistence/postgres-es/db/init.sql in https://github.com/serverlesstechnology/cqrs), which its
-- README names as the schema the crate expects. Only this table is used by the bench.

-- a single table is used for all events in the cqrs system
CREATE TABLE events
(
    aggregate_type text                         NOT NULL,
    aggregate_id   text                         NOT NULL,
    sequence       bigint CHECK (sequence >= 0) NOT NULL,
    event_type     text                         NOT NULL,
    event_version  text                         NOT NULL,
    payload        json                         NOT NULL,
    metadata       json                         NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);
