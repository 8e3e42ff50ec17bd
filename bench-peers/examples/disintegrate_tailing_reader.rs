//! DESIGN.md's test of the log's global order ("many writers and a tailing reader"), run against
//! disintegrate-postgres 4.0.1: does a reader that tails the store through the library's own
//! `EventStore::stream`, each read starting after the epoch the previous one ended at, see every
//! event?
//!
//! ```text
//! cargo run -p hotline-bench-peers --example disintegrate_tailing_reader -- \
//!     postgres://postgres@127.0.0.1:5432/postgres 20
//! ```
//!
//! Writers append (`append_without_validation`, one event each) to a fresh database for the given
//! seconds while three readers tail it: the library's `stream`; the same epoch function called in
//! a statement of its own before each scan; and a plain `event_id > N` reader. At the end every
//! event in the table at or below a reader's last position that the reader never received is
//! counted as skipped. Exits 1 when the library's reader skipped any.
//!
//! Why the library's reader can skip: its query computes the epoch with a VOLATILE PL/pgSQL
//! function inside the statement that scans `event`, and under READ COMMITTED each statement of a
//! volatile function takes a newer snapshot than the statement calling it. An append that commits
//! between the two is counted below the epoch but is not in the scan's snapshot; the next read
//! starts after the epoch. The second reader, with the epoch taken first and the scan's snapshot
//! newer, skips none.

use disintegrate::serde::json::Json;
use disintegrate::{EventStore, StreamItem};
use disintegrate_postgres::PgEventStore;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Writers appending at once.
const WRITERS: usize = 24;

#[derive(Debug, Clone, PartialEq, Eq, disintegrate::Event, Serialize, Deserialize)]
#[stream(TicketEvent, [TicketDispatched])]
enum ProbeEvent {
    TicketDispatched {
        #[id]
        ticket_id: String,
        note: String,
    },
}

type Store = PgEventStore<ProbeEvent, Json<ProbeEvent>>;
type Failure = Box<dyn std::error::Error + Send + Sync>;

/// What a reader received, and the position it had reached.
struct Tail {
    seen: BTreeSet<i64>,
    position: i64,
}

impl Tail {
    fn skipped(&self, all: &BTreeSet<i64>) -> Vec<i64> {
        all.range(..=self.position).filter(|id| !self.seen.contains(id)).copied().collect()
    }
}

fn main() -> Result<(), Failure> {
    let mut args = std::env::args().skip(1);
    let admin_url = args.next().unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let seconds: u64 = args.next().map_or(Ok(20), |s| s.parse())?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let skipped = runtime.block_on(probe(&admin_url, Duration::from_secs(seconds)))?;
    std::process::exit(if skipped == 0 { 0 } else { 1 });
}

async fn probe(admin_url: &str, run_for: Duration) -> Result<usize, Failure> {
    let database = format!("disintegrate_probe_{}", uuid::Uuid::now_v7().simple());
    let admin = sqlx::PgPool::connect(admin_url).await?;
    sqlx::query(&format!("CREATE DATABASE {database}")).execute(&admin).await?;
    let (base, _) = admin_url.rsplit_once('/').ok_or("the URL names no database")?;
    let options = format!("{base}/{database}")
        .parse::<sqlx::postgres::PgConnectOptions>()?
        .options([("client_min_messages", "error")]);
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(WRITERS as u32 + 4).connect_with(options).await?;
    let result = measure(&pool, run_for).await;
    pool.close().await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")).execute(&admin).await?;
    result
}

async fn measure(pool: &sqlx::PgPool, run_for: Duration) -> Result<usize, Failure> {
    sqlx::raw_sql(hotline_bench_peers::peer_disintegrate::EVENT_STORE_SCHEMA).execute(pool).await?;
    let store: Store = PgEventStore::new_uninitialized(pool.clone(), Json::default());
    let (stop_writing, stop_reading) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let (store, stop) = (store.clone(), Arc::clone(&stop_writing));
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let event = ProbeEvent::TicketDispatched { ticket_id: format!("t{writer}"), note: "x".repeat(200) };
                    store.append_without_validation(vec![event]).await?;
                }
                Ok::<_, Failure>(())
            })
        })
        .collect();
    let library = tokio::spawn(tail_through_stream(store.clone(), Arc::clone(&stop_reading)));
    let epoch_first = tokio::spawn(tail_epoch_first(pool.clone(), Arc::clone(&stop_reading)));
    let plain = tokio::spawn(tail_plain(pool.clone(), Arc::clone(&stop_reading)));
    tokio::time::sleep(run_for).await;
    stop_writing.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await??;
    }
    // Every append has committed: each reader's last read sees all of them.
    stop_reading.store(true, Ordering::Relaxed);
    let (library, epoch_first, plain) = (library.await??, epoch_first.await??, plain.await??);
    let all: Vec<(i64,)> = sqlx::query_as("SELECT event_id FROM event").fetch_all(pool).await?;
    let all: BTreeSet<i64> = all.into_iter().map(|(id,)| id).collect();
    println!("{} events appended by {WRITERS} writers in {run_for:?}", all.len());
    for (name, tail) in [
        ("the library's `stream`", &library),
        ("its epoch function first, then the scan", &epoch_first),
        ("plain `event_id > N`", &plain),
    ] {
        let skipped = tail.skipped(&all);
        println!(
            "{name}: skipped {} of the {} events up to {}, e.g. {:?}",
            skipped.len(),
            all.range(..=tail.position).count(),
            tail.position,
            &skipped[..skipped.len().min(10)]
        );
    }
    Ok(library.skipped(&all).len())
}

/// Each read asks the library for the events after the last epoch and moves to the epoch it ends at.
async fn tail_through_stream(store: Store, stop: Arc<AtomicBool>) -> Result<Tail, Failure> {
    let mut tail = Tail { seen: BTreeSet::new(), position: 0 };
    loop {
        let last = stop.load(Ordering::Relaxed);
        let query = disintegrate::query!(ProbeEvent).change_origin(tail.position);
        let mut items = store.stream(&query);
        let mut end = tail.position;
        while let Some(item) = items.next().await {
            match item? {
                StreamItem::Event(event) => {
                    tail.seen.insert(event.id());
                }
                StreamItem::End(epoch) => end = epoch,
            }
        }
        tail.position = tail.position.max(end);
        if last {
            return Ok(tail);
        }
    }
}

/// The same epoch, from a statement of its own, and then the scan up to it.
async fn tail_epoch_first(pool: sqlx::PgPool, stop: Arc<AtomicBool>) -> Result<Tail, Failure> {
    let mut tail = Tail { seen: BTreeSet::new(), position: 0 };
    loop {
        let last = stop.load(Ordering::Relaxed);
        let (epoch,): (i64,) = sqlx::query_as("SELECT event_store_current_epoch()").fetch_one(&pool).await?;
        let ids: Vec<(i64,)> = sqlx::query_as("SELECT event_id FROM event WHERE event_id > $1 AND event_id <= $2")
            .bind(tail.position)
            .bind(epoch)
            .fetch_all(&pool)
            .await?;
        tail.seen.extend(ids.into_iter().map(|(id,)| id));
        tail.position = tail.position.max(epoch);
        if last {
            return Ok(tail);
        }
    }
}

/// What a reader without the epoch does: the events after the highest id it has seen.
async fn tail_plain(pool: sqlx::PgPool, stop: Arc<AtomicBool>) -> Result<Tail, Failure> {
    let mut tail = Tail { seen: BTreeSet::new(), position: 0 };
    loop {
        let last = stop.load(Ordering::Relaxed);
        let ids: Vec<(i64,)> = sqlx::query_as("SELECT event_id FROM event WHERE event_id > $1")
            .bind(tail.position)
            .fetch_all(&pool)
            .await?;
        for (id,) in ids {
            tail.seen.insert(id);
            tail.position = tail.position.max(id);
        }
        if last {
            return Ok(tail);
        }
    }
}
