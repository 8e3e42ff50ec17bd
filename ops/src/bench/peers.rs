//! The peer rows of `hotline bench`: the same appends as the PostgreSQL row (32 writers, each on
//! a stream of its own, one `TicketDispatched` of the bench's sample per command) through the
//! libraries a Rust team would pick instead of Hotline's log, on the same server, each run in a
//! fresh database, beside the same raw 32-client INSERT baseline ([`hotline_bench_peers`]).
//!
//! A row's figure is the library used as its documentation shows (a command: load the stream,
//! decide, append); its note adds the figure at the level Hotline's row measures (the library's
//! own append with the known expected version, nothing loaded), and names the log's invariants
//! (DESIGN.md, "The log") the peer does not give, as read in its source.

use super::{in_fresh_database, percentile, sample_event, Row, RAW_POSTGRES_INSERTS};
use hotline_bench_peers::{peer_cqrs_es, peer_disintegrate, Appends, Level, Sample, TicketDispatched};

/// Writers in every peer run, as in Hotline's PostgreSQL row.
const WRITERS: usize = 32;

/// What cqrs-es 0.5 + postgres-es 0.5 leave out of the log's invariants.
const CQRS_ES_GAPS: &str =
    "Not given: a global order of any kind (postgres-es's `events` table has no position: its key \
     is (aggregate_type, aggregate_id, sequence), replaying an aggregate type orders by the per-aggregate sequence \
     only, and the framework hands committed events to its queries in process after the commit, so a crash between \
     the two loses them and nothing can tail the store); idempotency by command id (nothing records one); tamper \
     evidence (no hash chain, no signed checkpoints); a recorded time (no timestamp column: only what the caller \
     puts in the metadata); append-only enforcement (a plain table: UPDATE and DELETE work). Given: per-stream \
     optimistic concurrency (the primary key turns a second writer at the same sequence into `AggregateConflict`; \
     the framework does not retry it).";

/// What disintegrate 4 + disintegrate-postgres 4.0.1 leave out of the log's invariants.
const DISINTEGRATE_GAPS: &str = "Not given: a gap-free global order committed in order (`event_id` is \
     `nextval` of a sequence: every rolled-back or serialization-failed append burns numbers, and a lower id can \
     commit after a higher one, so a reader of `event_id > N` skips events; the library's own reads stop at an \
     \"epoch\" meant to stay below the ids appends in flight may still commit (4.0.1, #240), yet a reader tailing \
     through its `stream` still skips events under concurrent writers, and so can its `PgEventListener`, which \
     reads the same way and records the epoch as processed, since the epoch comes from a volatile \
     function whose statements see a newer snapshot than the scan in the same statement: run \
     `cargo run -p hotline-bench-peers --example disintegrate_tailing_reader`); per-stream versions (concurrency \
     is checked by query, \"no matching event after id N\", in a SERIALIZABLE transaction, and once the table is \
     analysed that check scans the primary key's last page, where every append inserts, so serialization \
     failures between unrelated streams come back as conflicts, as `Concurrency` from the commit or as a bare \
     database error from an earlier statement, and the decision maker retries neither); \
     idempotency by command id; tamper evidence (no hash chain, no signed checkpoints); a monotonic recorded time \
     (`inserted_at TIMESTAMP DEFAULT now()` is the transaction's start, without time zone, so it can go backwards \
     along `event_id`); append-only enforcement (a plain table, no trigger).";

/// The bench's sample event as the peers take it: the same payload, and the same metadata as text.
fn sample() -> anyhow::Result<Sample> {
    let event = sample_event();
    let payload: TicketDispatched = serde_json::from_value(event.payload)?;
    let serde_json::Value::Object(fields) = serde_json::to_value(&event.metadata)? else {
        anyhow::bail!("the sample's metadata is not a JSON object");
    };
    let metadata = fields
        .into_iter()
        .filter(|(_, value)| !value.is_null())
        .map(|(key, value)| {
            let text = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
            (key, text)
        })
        .collect();
    Ok(Sample { payload, metadata })
}

/// One row per peer: `per` appends by each of [`WRITERS`] writers, first as the library's
/// documentation shows, then at the store level, each run in a fresh database on the server of
/// `admin_url`; `baseline_rate` is the raw-INSERT baseline measured in the same bench run.
pub(crate) async fn rows(admin_url: &str, per: usize, baseline_rate: f64) -> anyhow::Result<Vec<Row>> {
    let sample = sample()?;
    let run = async |level: Level, disintegrate: bool| {
        in_fresh_database(admin_url, async |url| {
            let appends = if disintegrate {
                peer_disintegrate::appends(&url, WRITERS, per, level, &sample).await?
            } else {
                peer_cqrs_es::appends(&url, WRITERS, per, level, &sample).await?
            };
            anyhow::Ok(appends)
        })
        .await
    };
    let cqrs_es = (run(Level::Command, false).await?, run(Level::Store, false).await?);
    let disintegrate = (run(Level::Command, true).await?, run(Level::Store, true).await?);
    Ok(vec![
        row(
            "cqrs-es + postgres-es append, 32 writers",
            "cqrs-es 0.5 + postgres-es 0.5, `postgres_cqrs` running each command: it loads the aggregate's events, `handle` writes the event, \
             and the repository inserts it at the next sequence",
            "`PostgresEventRepository::persist` with the next sequence",
            CQRS_ES_GAPS,
            &cqrs_es,
            baseline_rate,
        ),
        row(
            "disintegrate append, 32 writers",
            "disintegrate 4.0 + disintegrate-postgres 4.0.1 (its schema is the crate's SQL with one literal \
             respelled, since the crate's migrator needs PostgreSQL 16), `decision_maker(PgEventStore, \
             NoSnapshot).make(..)` per command: it reads the ticket's events up to the epoch, decides, and appends \
             after checking that nothing newer matches",
            "`PgEventStore::append` with the writer's last event id as the version",
            DISINTEGRATE_GAPS,
            &disintegrate,
            baseline_rate,
        ),
    ])
}

/// A peer's row from its two runs, `(command, store)`.
fn row(
    name: &str,
    command_level: &str,
    store_level: &str,
    gaps: &str,
    (command, store): &(Appends, Appends),
    baseline_rate: f64,
) -> Row {
    let holes =
        |run: &Appends| run.sequence_holes.map_or_else(String::new, |holes| format!(", {holes} holes in `event_id`"));
    Row {
        name: name.into(),
        rate: command.rate,
        p50_ms: Some(percentile(&command.latencies, 0.50)),
        p99_ms: Some(percentile(&command.latencies, 0.99)),
        baseline: RAW_POSTGRES_INSERTS.into(),
        baseline_rate,
        operations: command.latencies.len() as u64,
        note: Some(format!(
            "The figure is the library as documented: {command_level} ({} appends tried again after a conflict{}); a pool of \
             {WRITERS} connections. At the level of Hotline's row ({store_level}, nothing loaded): {:.0}/s, p50 \
             {:.2} ms, p99 {:.2} ms ({} tried again{}). {gaps}",
            command.retries,
            holes(command),
            store.rate,
            percentile(&store.latencies, 0.50),
            percentile(&store.latencies, 0.99),
            store.retries,
            holes(store),
        )),
    }
}
