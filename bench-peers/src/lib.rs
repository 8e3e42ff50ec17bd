//! Peers of Hotline's log for `hotline bench`: the event-sourcing libraries over PostgreSQL a Rust
//! team would pick instead, appending the bench's event shape with many concurrent writers.
//!
//! ```no_run
//! # async fn example() -> Result<(), hotline_bench_peers::PeerError> {
//! use hotline_bench_peers::{peer_cqrs_es, Level, Sample, TicketDispatched};
//! let sample = Sample {
//!     payload: TicketDispatched {
//!         station: "tj01-st03".into(),
//!         station_path: "/hq/north/tj01/tj01-st03".into(),
//!         by: "tj01-agent2".into(),
//!         note: "暖气片不热".into(),
//!         redispatch: false,
//!         approval_id: None,
//!     },
//!     metadata: Default::default(),
//! };
//! // A fresh database: the peer creates its schema there.
//! let run = peer_cqrs_es::appends("postgres://postgres@127.0.0.1/scratch", 32, 100, Level::Command, &sample).await?;
//! println!("{:.0} appends/s", run.rate);
//! # Ok(()) }
//! ```
//!
//! # Contents
//! - [`peer_cqrs_es`]: `cqrs-es` 0.5 with `postgres-es` 0.5 (an `Aggregate` run by `PostgresCqrs`).
//! - [`peer_disintegrate`]: `disintegrate` 4 with `disintegrate-postgres` 4.0.1 (a `Decision`
//!   made by the PostgreSQL decision maker).
//! - [`Sample`], [`Appends`], [`Level`], [`PeerError`]: what a run takes and gives.
//! - `examples/disintegrate_tailing_reader.rs`: DESIGN.md's tailing-reader test of the global order
//!   run against `disintegrate-postgres` (its own `stream` skips events under concurrent writers).
//!
//! Each run has `writers` tasks append `per_writer` events, one event per command, each writer to
//! its own aggregate (stream), as `hotline bench` does with Hotline's log.
//!
//! # Architecture Invariants
//! - Only `ops` (the bench) depends on this crate: the peer libraries never reach the domain, the
//!   log or the read side.
//! - Depends on no other Hotline crate: the event shape arrives as a [`Sample`], built by the bench
//!   from the event it appends to Hotline's log.
//! - The only DDL here is the peers' own schemas, copied from their crates as their documentation
//!   asks (`postgres-es` has no migrator; `disintegrate-postgres`'s needs PostgreSQL 16, see
//!   [`peer_disintegrate::EVENT_STORE_SCHEMA`]); Hotline's schemas stay under `migrations/`.
//!
//! # API Boundary
//! Used by `ops` only.

pub mod peer_cqrs_es;
pub mod peer_disintegrate;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

/// The payload of Hotline's `TicketDispatched` event, field for field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketDispatched {
    /// The station the ticket goes to.
    pub station: String,
    /// The station's place in the organisation.
    pub station_path: String,
    /// Who dispatched it.
    pub by: String,
    /// The dispatcher's note.
    pub note: String,
    /// Whether this is a redispatch.
    pub redispatch: bool,
    /// The approval it needed, if any.
    pub approval_id: Option<String>,
}

/// The event every writer appends: a payload and its metadata (tenant, actor, correlation id,
/// source, time), as text, since that is what both peers take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// The event's payload.
    pub payload: TicketDispatched,
    /// The envelope's metadata.
    pub metadata: BTreeMap<String, String>,
}

/// How much of the library each append goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The way the library's documentation shows: a command (`CqrsFramework::execute_with_metadata`,
    /// `DecisionMaker::make`), which loads the stream's events, decides and appends.
    Command,
    /// The library's own append with the writer's known expected version, without loading the
    /// stream first: the level at which `hotline bench` appends to Hotline's log.
    Store,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Appends {
    /// Appends per second, all writers together, from the first append to the last.
    pub rate: f64,
    /// The latency of every append (retries included), sorted.
    pub latencies: Vec<Duration>,
    /// Appends tried again after the library answered a conflict (no writer shares a stream, so
    /// each one was a conflict between unrelated streams).
    pub retries: u64,
    /// Where the peer keeps a global sequence: how many numbers below its highest are held by no
    /// event once the run is over.
    pub sequence_holes: Option<u64>,
}

/// Why a peer's run failed.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// Connecting to PostgreSQL, creating the peer's schema or reading it back failed.
    #[error("peer database: {0}")]
    Database(#[from] sqlx::Error),
    /// The peer library failed an append, with an error that is not a conflict.
    #[error("peer library: {0}")]
    Library(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// An append still conflicted after [`MAX_RETRIES`] tries.
    #[error("append still conflicting after {MAX_RETRIES} retries")]
    KeptConflicting,
    /// A writer task panicked or was cancelled.
    #[error("writer task: {0}")]
    Writer(#[from] tokio::task::JoinError),
}

/// How many times a conflicting append is tried again. Hotline's command handler tries 5 times,
/// but its conflicts are real ones on one stream; a peer's may be between unrelated streams, as
/// often as the server finds them, so the bound is wider.
pub const MAX_RETRIES: u32 = 50;

/// Waits before trying a conflicting append again: random and growing with `retry`, as Hotline's
/// command handler does, so writers that keep meeting spread out (capped at 64 ms).
async fn back_off(retry: u32) {
    let ceiling_ms = 2u64 << retry.min(5);
    tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % ceiling_ms)).await;
}

/// One writer of a run: appends one event to its own stream per call.
trait Writer: Send + 'static {
    /// Appends the next event, trying again on a conflict; answers how many retries it took.
    fn append(&mut self) -> impl Future<Output = Result<u32, PeerError>> + Send;
}

/// Runs every writer `per_writer` times at once and times each append.
async fn run_writers<W: Writer>(writers: Vec<W>, per_writer: usize) -> Result<Appends, PeerError> {
    let started = Instant::now();
    let tasks: Vec<_> = writers
        .into_iter()
        .map(|mut writer| {
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_writer);
                let mut retries = 0;
                for _ in 0..per_writer {
                    let at = Instant::now();
                    retries += u64::from(writer.append().await?);
                    latencies.push(at.elapsed());
                }
                Ok::<_, PeerError>((latencies, retries))
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut retries = 0;
    for task in tasks {
        let (mine, tried_again) = task.await??;
        latencies.extend(mine);
        retries += tried_again;
    }
    let rate = latencies.len() as f64 / started.elapsed().as_secs_f64();
    latencies.sort();
    Ok(Appends { rate, latencies, retries, sequence_holes: None })
}

/// A pool with one connection per writer, so no peer waits on its pool.
async fn pool(url: &str, writers: usize) -> Result<sqlx::PgPool, PeerError> {
    let connections = u32::try_from(writers).unwrap_or(u32::MAX);
    // The server's warnings stay on the server: after a commit fails with a serialization
    // failure, sqlx's rollback of the ended transaction draws "there is no transaction in
    // progress", which sqlx would log as a warning for every retried append.
    let options = url.parse::<sqlx::postgres::PgConnectOptions>()?.options([("client_min_messages", "error")]);
    Ok(sqlx::postgres::PgPoolOptions::new().max_connections(connections).connect_with(options).await?)
}

/// A stream name of its own for each writer of a run.
fn stream_of(writer: usize) -> String {
    format!("bench{writer}-{}", uuid::Uuid::now_v7().simple())
}
