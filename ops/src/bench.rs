//! `hotline bench`: performance figures, each beside a baseline measured in the same run.
//!
//! Rows so far (the log):
//! - durable appends on SQLite with group commit, 1 and 32 concurrent commanders, against raw
//!   fsynced SQLite inserts of the same bytes (one row per commit: the physical reference);
//! - durable appends on PostgreSQL with 32 writers, against raw multi-client INSERTs of the same
//!   rows into a plain table (what the server does with no log on top);
//! - the same appends through the libraries a Rust team would pick instead of the log
//!   ([`peers`]: cqrs-es + postgres-es, disintegrate), each in a fresh database on the same server
//!   and beside the same raw-INSERT baseline, each row's note naming the log's invariants that
//!   peer does not give;
//! - rehydrating one 10,000-event stream (load and fold), against reading the same rows raw;
//! - `hotline verify` rate, against hashing the same bytes with SHA-256 alone;
//! - rebuilding every projection over a log of closed-ticket histories (1,000,000 events; 20,000
//!   with `--quick`), against reading the same log raw;
//! - commit → GraphQL `ticketChanged` delivery to 100 subscribers (p50/p99), against a plain
//!   broadcast channel to 100 receivers;
//! - telephony, with real Kamailio and SIPp peers ([`telephony`], the adapter's rig; left out, with a
//!   note naming `apt-get install -y kamailio sip-tester`, where they are not installed): the
//!   highest of rising call rates that SIP ingestion through Kamailio + HEP3 takes with no call
//!   lost or duplicated, against the adapter's raw capacity on replayed HEP3; and SIPp INVITE →
//!   GraphQL `screenPop` at the agent (p50/p99), against the same path with no SIP.
//!
//! Results print as a table and are written as JSON under `bench-results/`.

use anyhow::Context;
use chrono::Utc;
use hotline_commands::clock::SystemClock;
use hotline_commands::store::hash::{stream_hash, HashInput};
use hotline_commands::store::postgres::PostgresEventStore;
use hotline_commands::store::sqlite::SqliteEventStore;
use hotline_commands::store::{AppendRequest, EventStore, ExpectedVersion, Metadata, NewEvent, StreamId};
use serde::Serialize;
use serde_json::json;
use sqlx::{Connection, Executor};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

pub mod peers;
pub mod telephony;

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Small sizes: every row in well under two minutes.
    pub quick: bool,
    /// A PostgreSQL server where the bench may create a throwaway database; without it the bench
    /// finds one as `ops/test.sh` does (see [`run`]).
    pub postgres_url: Option<String>,
    /// Where the JSON results go.
    pub out_dir: PathBuf,
    /// Run only these parts (all of them when empty); a partial run's JSON does not replace
    /// `latest.json`.
    pub only: Vec<Part>,
}

/// A part of the bench: one row or a few rows measured together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Part {
    /// SQLite appends, 1 and 32 commanders.
    Append,
    /// Rehydrating one long stream.
    Rehydrate,
    /// `hotline verify` (over the same log as `rehydrate`, written without timing it).
    Verify,
    /// Rebuilding every projection.
    Rebuild,
    /// GraphQL subscription latency.
    Subscriptions,
    /// SIP ingestion and screen pop (needs Kamailio and SIPp).
    Telephony,
    /// PostgreSQL appends (needs a server).
    Postgres,
    /// The same appends through cqrs-es + postgres-es and disintegrate on the same server.
    Peers,
}

impl BenchConfig {
    fn runs(&self, part: Part) -> bool {
        self.only.is_empty() || self.only.contains(&part)
    }
}

/// One figure and its baseline.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// What was measured.
    pub name: String,
    /// The figure (a rate, per second).
    pub rate: f64,
    /// Median latency of one operation, milliseconds, where meaningful.
    pub p50_ms: Option<f64>,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: Option<f64>,
    /// The baseline measured in the same run.
    pub baseline: String,
    /// The baseline's rate, per second.
    pub baseline_rate: f64,
    /// How many operations each side ran.
    pub operations: u64,
    /// How the figure and its baseline were taken, where the name cannot say it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Row {
    fn ratio(&self) -> f64 {
        self.rate / self.baseline_rate.max(f64::MIN_POSITIVE)
    }
}

/// The PostgreSQL the bench uses, found as `ops/test.sh` finds one: the URL given
/// (`--postgres-url`, `HOTLINE_BENCH_DATABASE_URL`), else `HOTLINE_TEST_DATABASE_URL`, else a
/// server on 127.0.0.1:5432 that lets `postgres` in without a password, else a throwaway cluster
/// of its own (kept until the bench ends). `None`, said on stderr with the command that installs
/// the server, only when none of these works.
async fn find_postgres(given: Option<String>) -> Option<(String, Option<crate::throwaway::PostgresCluster>)> {
    if let Some(url) = given {
        eprintln!("bench: PostgreSQL given by --postgres-url / HOTLINE_BENCH_DATABASE_URL");
        return Some((url, None));
    }
    if let Ok(url) = std::env::var("HOTLINE_TEST_DATABASE_URL") {
        eprintln!("bench: PostgreSQL from HOTLINE_TEST_DATABASE_URL");
        return Some((url, None));
    }
    let local = "postgres://postgres@127.0.0.1:5432/postgres";
    let answers = tokio::time::timeout(Duration::from_secs(3), sqlx::PgConnection::connect(local)).await;
    if let Ok(Ok(conn)) = answers {
        let _ = conn.close().await;
        eprintln!("bench: PostgreSQL on 127.0.0.1:5432");
        return Some((local.to_owned(), None));
    }
    match tokio::task::spawn_blocking(|| crate::throwaway::PostgresCluster::start(true)).await {
        Ok(Ok(cluster)) => {
            eprintln!("bench: no PostgreSQL found; started a throwaway cluster in {}", cluster.dir().display());
            Some((cluster.url(), Some(cluster)))
        }
        Ok(Err(error)) => {
            eprintln!("bench: PostgreSQL rows left out: {error:#}");
            None
        }
        Err(error) => {
            eprintln!("bench: PostgreSQL rows left out: {error}");
            None
        }
    }
}

/// Says on stderr which row runs (a spinner on a terminal), and how long it took once done.
struct Step(indicatif::ProgressBar, Instant);

impl Step {
    fn start(what: &str) -> Step {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message(format!("bench: {what}"));
        if bar.is_hidden() {
            eprintln!("bench: {what}");
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        Step(bar, Instant::now())
    }

    fn done(self) {
        let message = format!("{} ({:.1} s)", self.0.message(), self.1.elapsed().as_secs_f64());
        self.0.finish_and_clear();
        eprintln!("{message}");
    }
}

/// Runs every row and writes the results. PostgreSQL is the one given, else the test suite's,
/// else the local server, else a throwaway cluster the bench starts; only where none can be had
/// are its rows left out, with a line on stderr saying how to install it.
pub async fn run(config: &BenchConfig) -> anyhow::Result<Vec<Row>> {
    let scratch = tempfile::tempdir().context("scratch directory")?;
    let (single, concurrent) = if config.quick { (200, 20) } else { (2_000, 200) };
    let mut rows = Vec::new();
    let postgres = if config.runs(Part::Postgres) || config.runs(Part::Peers) {
        find_postgres(config.postgres_url.clone()).await
    } else {
        None
    };

    if config.runs(Part::Append) {
        let step = Step::start("SQLite appends, 1 and 32 commanders, and raw fsynced inserts");
        let raw_rate = raw_sqlite_inserts(&scratch.path().join("raw.db"), single).await?;
        for (commanders, per) in [(1, single), (32, concurrent)] {
            let store = open_sqlite(&scratch.path().join(format!("log{commanders}.db"))).await?;
            let (rate, latencies) = appends(store, commanders, per).await?;
            rows.push(Row {
                name: format!("SQLite append (group commit), {commanders} commander(s)"),
                rate,
                p50_ms: Some(percentile(&latencies, 0.50)),
                p99_ms: Some(percentile(&latencies, 0.99)),
                baseline: "raw fsynced SQLite INSERT, 1 row per commit".into(),
                baseline_rate: raw_rate,
                operations: latencies.len() as u64,
                note: None,
            });
        }
        step.done();
    }

    let stream_events = if config.quick { 2_000 } else { 10_000 };
    let long_stream = scratch.path().join("rehydrate.db");
    if config.runs(Part::Rehydrate) || config.runs(Part::Verify) {
        write_long_stream(&long_stream, stream_events).await?;
    }
    if config.runs(Part::Rehydrate) {
        let step = Step::start(&format!("rehydrating a {stream_events}-event stream"));
        rows.push(rehydrate(&long_stream, stream_events).await?);
        step.done();
    }
    if config.runs(Part::Verify) {
        let step = Step::start("verify");
        rows.push(verify_rate(&long_stream).await?);
        step.done();
    }

    let log_events = if config.quick { 20_000 } else { 1_000_000 };
    if config.runs(Part::Rebuild) {
        let step = Step::start(&format!("rebuilding every projection over {log_events} events"));
        rows.push(rebuild_all(&scratch.path().join("rebuild"), log_events).await?);
        step.done();
    }
    if config.runs(Part::Subscriptions) {
        let step = Step::start("commit → subscription delivery");
        rows.push(
            subscription_latency(&scratch.path().join("subscriptions"), if config.quick { 20 } else { 100 }).await?,
        );
        step.done();
    }

    if config.runs(Part::Telephony) {
        match hotline_gateway_adapters::rig::check_installed() {
            Ok(()) => {
                let dir = scratch.path().join("telephony");
                let step = Step::start("SIP ingestion through Kamailio, and SIPp INVITE → screen pop");
                rows.push(telephony::sip_ingestion(&dir.join("ingestion"), config.quick).await?);
                rows.push(telephony::screen_pop_latency(&dir.join("screen-pop"), config.quick).await?);
                step.done();
            }
            Err(missing) => eprintln!("bench: {missing}: telephony rows left out"),
        }
    }
    if let Some((url, _cluster)) = &postgres {
        let mut raw_inserts = None;
        if config.runs(Part::Postgres) {
            let step = Step::start("PostgreSQL appends, 32 writers, and raw inserts");
            let row = postgres_appends(url, concurrent).await?;
            raw_inserts = Some(row.baseline_rate);
            rows.push(row);
            step.done();
        }
        if config.runs(Part::Peers) {
            let step = Step::start("cqrs-es + postgres-es and disintegrate appends, 32 writers");
            let baseline_rate = match raw_inserts {
                Some(rate) => rate,
                None => in_fresh_database(url, async |url| raw_postgres_inserts(&url, concurrent).await).await?,
            };
            rows.extend(peers::rows(url, concurrent, baseline_rate).await?);
            step.done();
        }
    }
    write_results(config, &rows)?;
    Ok(rows)
}

/// A table of the rows, for the terminal and the README.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| measurement | rate/s | p50 ms | p99 ms | baseline (same run) | baseline/s | ratio |\n| --- | ---: | ---: | ---: | --- | ---: | ---: |\n",
    );
    let ms = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| format!("{v:.2}"));
    for row in rows {
        out.push_str(&format!(
            "| {} | {:.0} | {} | {} | {} | {:.0} | {:.2}× |\n",
            row.name,
            row.rate,
            ms(row.p50_ms),
            ms(row.p99_ms),
            row.baseline,
            row.baseline_rate,
            row.ratio()
        ));
    }
    out
}

/// The rows' notes, one paragraph each, for under the table.
pub fn notes(rows: &[Row]) -> String {
    rows.iter().filter_map(|row| row.note.as_ref().map(|note| format!("- {}: {note}\n", row.name))).collect()
}

fn write_results(config: &BenchConfig, rows: &[Row]) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.out_dir)?;
    let report = json!({
        "at": Utc::now(),
        "quick": config.quick,
        "only": config.only,
        "machine": machine(),
        "rows": rows,
    });
    let text = serde_json::to_string_pretty(&report)?;
    let name = format!(
        "{}{}{}.json",
        Utc::now().format("%Y%m%dT%H%M%SZ"),
        if config.quick { "-quick" } else { "" },
        if config.only.is_empty() { "" } else { "-partial" }
    );
    std::fs::write(config.out_dir.join(name), &text)?;
    if config.only.is_empty() {
        std::fs::write(config.out_dir.join("latest.json"), &text)?;
    }
    Ok(())
}

/// Cores, memory and CPU model, so figures are read against the machine they came from.
pub fn machine() -> serde_json::Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_kb = meminfo.lines().find_map(|l| l.strip_prefix("MemTotal:")).map(|l| l.trim().to_owned());
    json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "cpu": model,
        "memory": memory_kb,
        "os": std::env::consts::OS,
    })
}

async fn open_sqlite(path: &Path) -> anyhow::Result<Arc<dyn EventStore>> {
    Ok(Arc::new(SqliteEventStore::open(path, Arc::new(SystemClock)).await?))
}

/// A typical ticket event: about 400 bytes of payload.
fn sample_event() -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "TicketDispatched".into(),
        schema_version: 1,
        payload: json!({
            "station": "tj01-st03", "station_path": "/hq/north/tj01/tj01-st03", "by": "tj01-agent2",
            "note": "用户反映暖气片不热，阀门有漏水，请尽快联系用户上门处理。联系电话见工单。", "redispatch": false,
            "approval_id": null
        }),
        metadata: Metadata {
            tenant: Some("tj01".into()),
            actor: "tj01-agent2".into(),
            command_id: None,
            correlation_id: Uuid::now_v7(),
            causation_id: None,
            source: "bench".into(),
            occurred_at: Utc::now(),
        },
    }
}

/// `commanders` tasks each append `per` single-event commands to their own streams, with a
/// command id and an exact expected version, as the command handler does.
async fn appends(store: Arc<dyn EventStore>, commanders: usize, per: usize) -> anyhow::Result<(f64, Vec<Duration>)> {
    let started = Instant::now();
    let tasks: Vec<_> = (0..commanders)
        .map(|c| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let stream = StreamId::new("ticket", format!("bench{c}-{}", Uuid::now_v7().simple()));
                let mut latencies = Vec::with_capacity(per);
                for version in 0..per as u64 {
                    let expected =
                        if version == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(version) };
                    let request = AppendRequest {
                        stream_id: stream.clone(),
                        expected,
                        events: vec![sample_event()],
                        command_id: Some(Uuid::now_v7()),
                        fingerprint: None,
                    };
                    let at = Instant::now();
                    store.append(request).await?;
                    latencies.push(at.elapsed());
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let rate = latencies.len() as f64 / started.elapsed().as_secs_f64();
    latencies.sort();
    Ok((rate, latencies))
}

/// The same bytes inserted one row per fsynced commit, with no log logic.
async fn raw_sqlite_inserts(path: &Path, count: usize) -> anyhow::Result<f64> {
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display())).await?;
    conn.execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;").await?;
    conn.execute(
        "CREATE TABLE raw (position INTEGER PRIMARY KEY, stream_id TEXT, stream_version INTEGER, event_id TEXT, \
         event_type TEXT, schema_version INTEGER, payload TEXT, metadata TEXT, recorded_at TEXT, stream_hash TEXT)",
    )
    .await?;
    let event = sample_event();
    let (payload, metadata) = (event.payload.to_string(), serde_json::to_string(&event.metadata)?);
    let started = Instant::now();
    for i in 0..count {
        sqlx::query("INSERT INTO raw VALUES (?, 'ticket-raw', ?, ?, 'TicketDispatched', 1, ?, ?, ?, ?)")
            .bind(i as i64 + 1)
            .bind(i as i64 + 1)
            .bind(Uuid::now_v7().to_string())
            .bind(&payload)
            .bind(&metadata)
            .bind(Utc::now().to_rfc3339())
            .bind("0".repeat(64))
            .execute(&mut conn)
            .await?;
    }
    Ok(count as f64 / started.elapsed().as_secs_f64())
}

/// Writes one stream of `events` ticket events (for [`rehydrate`] and [`verify_rate`]).
async fn write_long_stream(path: &Path, events: usize) -> anyhow::Result<()> {
    let store = open_sqlite(path).await?;
    let stream = StreamId::new("ticket", "long");
    for chunk in 0..events / 500 {
        let batch = (0..500).map(|_| sample_event()).collect();
        let expected = if chunk == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(chunk as u64 * 500) };
        store
            .append(AppendRequest {
                stream_id: stream.clone(),
                expected,
                events: batch,
                command_id: None,
                fingerprint: None,
            })
            .await?;
    }
    Ok(())
}

/// Loads and folds the long stream through the handler, against reading the same rows raw.
async fn rehydrate(path: &Path, events: usize) -> anyhow::Result<Row> {
    let store = open_sqlite(path).await?;
    let stream = StreamId::new("ticket", "long");
    let runs = 5;
    let started = Instant::now();
    for _ in 0..runs {
        // Load and fold, exactly as the command handler does before deciding.
        let (_, version) =
            hotline_commands::handler::load::<hotline_domain::ticket::Ticket>(store.as_ref(), &stream).await?;
        anyhow::ensure!(version == events as u64, "rehydrated {version} of {events} events");
    }
    let rate = (runs * events) as f64 / started.elapsed().as_secs_f64();
    // The path before the rehydration read: whole events, each payload through a `Value`.
    let started = Instant::now();
    for _ in 0..runs {
        let decoded = store
            .read_stream(&stream, 1)
            .await?
            .into_iter()
            .filter(|e| {
                <hotline_domain::ticket::TicketEvent as hotline_domain::EventCodec>::decode(
                    &e.event_type,
                    e.schema_version,
                    e.payload.clone(),
                )
                .is_ok()
            })
            .count();
        anyhow::ensure!(decoded == events, "decoded {decoded} of {events} events");
    }
    let full_read_rate = (runs * events) as f64 / started.elapsed().as_secs_f64();
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await?;
    let started = Instant::now();
    for _ in 0..runs {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT payload FROM events WHERE stream_id = 'ticket-long' ORDER BY stream_version")
                .fetch_all(&mut conn)
                .await?;
        anyhow::ensure!(rows.len() == events, "raw read {} rows", rows.len());
    }
    let baseline_rate = (runs * events) as f64 / started.elapsed().as_secs_f64();
    // Through the service's snapshots: the stream was folded once; each load after one more
    // event folds only that event.
    let snapshots = hotline_commands::snapshots::Snapshots::new(16);
    hotline_commands::handler::load_with::<hotline_domain::ticket::Ticket>(store.as_ref(), &stream, Some(&snapshots))
        .await?;
    let mut warm = Duration::ZERO;
    for run in 0..runs {
        let expected = ExpectedVersion::Exact((events + run) as u64);
        let one = AppendRequest {
            stream_id: stream.clone(),
            expected,
            events: vec![sample_event()],
            command_id: None,
            fingerprint: None,
        };
        store.append(one).await?;
        let started = Instant::now();
        let (_, version) = hotline_commands::handler::load_with::<hotline_domain::ticket::Ticket>(
            store.as_ref(),
            &stream,
            Some(&snapshots),
        )
        .await?;
        warm += started.elapsed();
        anyhow::ensure!(version == (events + run + 1) as u64, "the snapshot's load reached {version}");
    }
    let warm_ms = warm.as_secs_f64() * 1000.0 / runs as f64;
    Ok(Row {
        name: format!("rehydrate a {events}-event stream (read, decode, fold)"),
        rate,
        p50_ms: None,
        p99_ms: None,
        baseline: "raw SELECT of the same rows".into(),
        baseline_rate,
        operations: (runs * events) as u64,
        note: Some(format!(
            "{:.1} ms per load of the whole stream, {warm_ms:.2} ms through the service's snapshots (a long \
             stream's folded state kept in memory; only the events after it are read); the full read (every \
             column, each payload through a JSON value), as rehydration read before, does {full_read_rate:.0} \
             events/s in the same run",
            1000.0 * events as f64 / rate
        )),
    })
}

/// `hotline verify` over the log written by [`write_long_stream`], against SHA-256 alone over its bytes.
async fn verify_rate(path: &Path) -> anyhow::Result<Row> {
    let store = open_sqlite(path).await?;
    let report = crate::verify::verify(Arc::clone(&store), None, Vec::new(), false).await?;
    anyhow::ensure!(report.violation.is_none(), "bench log does not verify: {:?}", report.violation);
    let events = store.read_all(0, u32::MAX).await?;
    let started = Instant::now();
    let mut digest = String::new();
    for event in &events {
        digest = chain_payload(&digest, &event.payload.to_string());
    }
    std::hint::black_box(digest);
    let baseline_rate = events.len() as f64 / started.elapsed().as_secs_f64();
    Ok(Row {
        name: "hotline verify (SQLite)".into(),
        rate: report.rate,
        p50_ms: None,
        p99_ms: None,
        baseline: "SHA-256 chain over the payloads alone, in memory".into(),
        baseline_rate,
        operations: report.checked,
        note: None,
    })
}

/// The baseline of `verify`: SHA-256 chained over the payload text alone.
fn chain_payload(previous: &str, payload: &str) -> String {
    let input = HashInput {
        global_position: 0,
        stream_id: "",
        stream_version: 0,
        event_id: "",
        event_type: "",
        schema_version: 0,
        payload,
        metadata: "",
        recorded_at: "",
    };
    stream_hash(Some(previous).filter(|p| !p.is_empty()), &input)
}

/// 32 writers on the PostgreSQL log against 32 clients inserting the same rows into a plain table,
/// each in a fresh database.
async fn postgres_appends(admin_url: &str, per: usize) -> anyhow::Result<Row> {
    let (rate, latencies) = in_fresh_database(admin_url, async |url| {
        let store: Arc<dyn EventStore> = Arc::new(PostgresEventStore::connect(&url, Arc::new(SystemClock)).await?);
        appends(store, 32, per).await
    })
    .await?;
    let baseline_rate = in_fresh_database(admin_url, async |url| raw_postgres_inserts(&url, per).await).await?;
    Ok(Row {
        name: "PostgreSQL append, 32 writers".into(),
        rate,
        p50_ms: Some(percentile(&latencies, 0.50)),
        p99_ms: Some(percentile(&latencies, 0.99)),
        baseline: RAW_POSTGRES_INSERTS.into(),
        baseline_rate,
        operations: latencies.len() as u64,
        note: None,
    })
}

/// The baseline of every PostgreSQL append row.
const RAW_POSTGRES_INSERTS: &str = "raw INSERT of the same rows, 32 clients";

/// 32 clients inserting `per` rows each, the log's columns and the sample's bytes, into a plain
/// table: what the server does with no log on top.
async fn raw_postgres_inserts(url: &str, per: usize) -> anyhow::Result<f64> {
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(32).connect(url).await?;
    pool.execute(
        "CREATE TABLE raw (position BIGSERIAL PRIMARY KEY, stream_id TEXT, stream_version BIGINT, event_id UUID, \
         event_type TEXT, schema_version INT, payload JSON, metadata JSON, recorded_at TIMESTAMPTZ, stream_hash TEXT)",
    )
    .await?;
    let event = sample_event();
    let (payload, metadata) = (event.payload.to_string(), serde_json::to_string(&event.metadata)?);
    let started = Instant::now();
    let tasks: Vec<_> = (0..32)
        .map(|c| {
            let (pool, payload, metadata) = (pool.clone(), payload.clone(), metadata.clone());
            tokio::spawn(async move {
                for i in 0..per {
                    sqlx::query(
                        "INSERT INTO raw (stream_id, stream_version, event_id, event_type, schema_version, payload, \
                         metadata, recorded_at, stream_hash) VALUES ($1, $2, $3, 'TicketDispatched', 1, $4::json, $5::json, now(), $6)",
                    )
                    .bind(format!("ticket-raw{c}"))
                    .bind(i as i64 + 1)
                    .bind(Uuid::now_v7())
                    .bind(&payload)
                    .bind(&metadata)
                    .bind("0".repeat(64))
                    .execute(&pool)
                    .await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let rate = (32 * per) as f64 / started.elapsed().as_secs_f64();
    pool.close().await;
    Ok(rate)
}

/// Runs `measure` on the URL of a database created for it on the server of `admin_url`, and drops
/// the database afterwards, whatever `measure` answered.
async fn in_fresh_database<T>(
    admin_url: &str,
    measure: impl AsyncFnOnce(String) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let database = format!("hotline_bench_{}", Uuid::now_v7().simple());
    let mut admin = sqlx::PgConnection::connect(admin_url).await.context("connecting to the bench PostgreSQL")?;
    admin.execute(format!("CREATE DATABASE {database}").as_str()).await?;
    let result = measure(with_database(admin_url, &database)).await;
    let _ = admin.execute(format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)").as_str()).await;
    result
}

fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..].find('/').map_or(base.len(), |i| authority + i);
    let mut out = format!("{}/{database}", &base[..path]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1_000.0
}

/// The events of one ticket from registration to close, encoded for the log.
fn ticket_history(n: u64) -> Vec<NewEvent> {
    use hotline_domain::ticket::*;
    use hotline_domain::values::*;
    use hotline_domain::EventCodec;
    let at = Utc::now();
    let ticket_id = TicketId(Uuid::from_u128(u128::from(n) + 1));
    let station = UnitCode(format!("tj01-st{:02}", n % 18 + 1));
    let by = UserId("tj01-agent1".into());
    let worker = UserId(format!("{}-w1", station.0));
    let events = [
        TicketEvent::Created(TicketCreated {
            ticket_id,
            ticket_no: format!("tj01-2026-{n:07}"),
            tenant: TenantId("tj01".into()),
            ticket_type: TicketType("repair".into()),
            urgency: Urgency::Normal,
            source: Source::Phone,
            customer_id: None,
            caller_phone: Some("13812345678".into()),
            address: "幸福里3号楼2单元501室".into(),
            description: "暖气片不热".into(),
            created_by: by.clone(),
            deadline_at: at + chrono::Duration::hours(24),
            deadline_hours: Some(24),
            extra_nodes: vec![],
        }),
        TicketEvent::Dispatched {
            station: station.clone(),
            station_path: OrgPath(format!("/hq/north/tj01/{}", station.0)),
            by: by.clone(),
            note: String::new(),
            redispatch: false,
            approval_id: None,
        },
        TicketEvent::Accepted { station: station.clone(), worker: Some(worker.clone()), by: by.clone() },
        TicketEvent::CheckedIn {
            worker: worker.clone(),
            location: GeoPoint { latitude: 39.12, longitude: 117.2, accuracy_m: 8.0 },
        },
        TicketEvent::WorkResultRecorded {
            by: worker.clone(),
            result: "更换阀门".into(),
            parts: vec![],
            duration_minutes: 30,
        },
        TicketEvent::WorkCompleted { by: worker, station },
        TicketEvent::CallbackRecorded { by: by.clone(), satisfaction: Satisfaction::Satisfied, note: String::new() },
        TicketEvent::Closed { by, note: String::new(), first_time_fix: true, overdue: false },
    ];
    events
        .iter()
        .map(|event| {
            let encoded = event.encode();
            NewEvent {
                event_id: Uuid::now_v7(),
                event_type: encoded.event_type,
                schema_version: encoded.schema_version,
                payload: encoded.payload,
                metadata: sample_event().metadata,
            }
        })
        .collect()
}

/// Rebuilds every projection over `events` events of closed tickets.
async fn rebuild_all(dir: &Path, events: u64) -> anyhow::Result<Row> {
    std::fs::create_dir_all(dir)?;
    let log = open_sqlite(&dir.join("log.db")).await?;
    let tickets = events / 8;
    // 32 concurrent appenders, one ticket's history per append.
    let tasks: Vec<_> = (0..32u64)
        .map(|w| {
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let mut n = w;
                while n < tickets {
                    let request = AppendRequest {
                        stream_id: StreamId::new("ticket", Uuid::from_u128(u128::from(n) + 1)),
                        expected: ExpectedVersion::NoStream,
                        events: ticket_history(n),
                        command_id: None,
                        fingerprint: None,
                    };
                    log.append(request).await?;
                    n += 32;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let total = log.head().await?;
    let read = hotline_projections::store::ReadStore::open_sqlite(&dir.join("readmodels.db")).await?;
    let runner =
        hotline_projections::runner::Runner::new(Arc::clone(&log), read, hotline_projections::all_projections());
    let started = Instant::now();
    runner.rebuild_all(runner.projections(), &|_| {}).await?;
    let rate = total as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut after = 0;
    loop {
        let page = log.read_all(after, 5_000).await?;
        let Some(last) = page.last() else { break };
        after = last.global_position;
    }
    let baseline_rate = total as f64 / started.elapsed().as_secs_f64();
    Ok(Row {
        name: format!("rebuild every projection over {total} events"),
        rate,
        p50_ms: None,
        p99_ms: None,
        baseline: "reading the same log raw, in pages".into(),
        baseline_rate,
        operations: total,
        note: None,
    })
}

/// Commit → `ticketChanged` delivery to `subscribers` GraphQL subscribers, in process.
async fn subscription_latency(dir: &Path, subscribers: usize) -> anyhow::Result<Row> {
    use futures_util::StreamExt;
    std::fs::create_dir_all(dir)?;
    let log = open_sqlite(&dir.join("log.db")).await?;
    let read = hotline_projections::store::ReadStore::open_sqlite(&dir.join("readmodels.db")).await?;
    let runner = Arc::new(hotline_projections::runner::Runner::new(
        Arc::clone(&log),
        read,
        hotline_projections::all_projections(),
    ));
    let background = runner.spawn();
    let hotline = hotline_commands::Hotline::new(Arc::clone(&log), Arc::new(SystemClock), "hq");
    let schema = hotline_graphql::build_schema(hotline_graphql::schema::Api { hotline, runner });
    let caller = hotline_graphql::auth::Caller::from_claims(hotline_graphql::auth::Claims {
        sub: "bench".into(),
        tenant: None,
        org_path: "/hq".into(),
        roles: vec!["group_admin".into()],
        exp: i64::MAX,
    })?;
    let (sender, mut received) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
    let mut listeners = Vec::new();
    for id in 0..subscribers {
        let request =
            async_graphql::Request::new("subscription { ticketChanged { number } }")
                .data(Ok::<_, hotline_graphql::auth::AuthError>(caller.clone()));
        let mut stream = schema.execute_stream(request);
        let sender = sender.clone();
        listeners.push(tokio::spawn(async move {
            while let Some(response) = stream.next().await {
                if response.errors.is_empty() && sender.send((id, Instant::now())).is_err() {
                    return;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rounds = 30;
    let mut latencies = Vec::new();
    let started = Instant::now();
    for n in 0..rounds {
        let sent = Instant::now();
        let request = AppendRequest {
            stream_id: StreamId::new("ticket", Uuid::from_u128(u128::from(n) + 1)),
            expected: ExpectedVersion::NoStream,
            events: ticket_history(n)[..1].to_vec(),
            command_id: None,
            fingerprint: None,
        };
        log.append(request).await?;
        for _ in 0..subscribers {
            let (_, at) =
                tokio::time::timeout(Duration::from_secs(10), received.recv()).await?.context("subscribers gone")?;
            latencies.push(at - sent);
        }
    }
    let rate = latencies.len() as f64 / started.elapsed().as_secs_f64();
    for task in listeners.into_iter().chain(background) {
        task.abort();
    }
    latencies.sort();
    // Baseline: the same fan-out through a bare broadcast channel.
    let (tx, _) = tokio::sync::broadcast::channel::<Instant>(1024);
    let (done, mut arrivals) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let receivers: Vec<_> = (0..subscribers)
        .map(|_| {
            let mut rx = tx.subscribe();
            let done = done.clone();
            tokio::spawn(async move {
                while rx.recv().await.is_ok() {
                    let _ = done.send(Instant::now());
                }
            })
        })
        .collect();
    let mut baseline = Vec::new();
    let started = Instant::now();
    for _ in 0..rounds {
        let sent = Instant::now();
        tx.send(sent).ok();
        for _ in 0..subscribers {
            let at = arrivals.recv().await.context("receivers gone")?;
            baseline.push(at - sent);
        }
    }
    let baseline_rate = baseline.len() as f64 / started.elapsed().as_secs_f64();
    for receiver in receivers {
        receiver.abort();
    }
    baseline.sort();
    Ok(Row {
        name: format!("commit → ticketChanged delivered to {subscribers} GraphQL subscribers (deliveries/s)"),
        rate,
        p50_ms: Some(percentile(&latencies, 0.5)),
        p99_ms: Some(percentile(&latencies, 0.99)),
        baseline: format!(
            "broadcast channel to {subscribers} receivers (p50 {:.3} ms, p99 {:.3} ms)",
            percentile(&baseline, 0.5),
            percentile(&baseline, 0.99)
        ),
        baseline_rate,
        operations: latencies.len() as u64,
        note: None,
    })
}
