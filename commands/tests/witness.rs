//! The sealer and its witnesses, on the real clock: an idle tail is sealed and witnessed within
//! the sealing interval, without a new event; a witness that was behind gets what it lacks.

use hotline_commands::clock::SystemClock;
use hotline_commands::process::Follower;
use hotline_commands::seal::{SealKey, Sealer};
use hotline_commands::store::sqlite::SqliteEventStore;
use hotline_commands::store::{AppendRequest, EventStore, ExpectedVersion, Metadata, NewEvent, StreamId};
use hotline_commands::witness::WitnessFile;
use hotline_commands::Hotline;
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn append(store: &dyn EventStore, n: usize) {
    for i in 0..n {
        let event = NewEvent {
            event_id: uuid::Uuid::now_v7(),
            event_type: "TicketUrged".into(),
            schema_version: 1,
            payload: serde_json::json!({ "by": "agent1", "note": "", "count": 1 }),
            metadata: Metadata {
                tenant: Some("tj01".into()),
                actor: "agent1".into(),
                command_id: None,
                correlation_id: uuid::Uuid::now_v7(),
                causation_id: None,
                source: "test".into(),
                occurred_at: chrono::Utc::now(),
            },
        };
        let request = AppendRequest {
            stream_id: StreamId::new("ticket", i % 5),
            expected: ExpectedVersion::Any,
            events: vec![event],
            command_id: None,
            fingerprint: None,
        };
        store.append(request).await.unwrap();
    }
}

/// Waits until the witness file holds a checkpoint covering `last_position`.
async fn witnessed_up_to(file: &WitnessFile, last_position: u64, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let covered = file.read().map(|(records, _)| records.iter().map(|r| r.checkpoint.last_position).max());
        if matches!(covered, Ok(Some(covered)) if covered >= last_position) {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "no witnessed checkpoint up to position {last_position} within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_tail_is_sealed_and_witnessed_within_the_interval() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn EventStore> =
        Arc::new(SqliteEventStore::open(&dir.path().join("log.db"), Arc::new(SystemClock)).await.unwrap());
    let hotline = Hotline::new(Arc::clone(&store), Arc::new(SystemClock), "hq");
    let file = WitnessFile::at(&dir.path().join("witness.jsonl"));
    // Never by count: only time seals here.
    let sealer =
        Sealer::new(SealKey::generate(), 1_000_000, chrono::Duration::seconds(1)).with_witness(Box::new(file.clone()));
    let running = tokio::spawn(Follower::new(hotline, sealer).run());
    append(store.as_ref(), 7).await;
    witnessed_up_to(&file, 7, Duration::from_secs(5)).await;
    // A second burst, then nothing: the tail is sealed within the interval all the same.
    append(store.as_ref(), 3).await;
    let head = store.head().await.unwrap();
    let waited = witnessed_up_to(&file, head, Duration::from_secs(5)).await;
    assert!(waited < Duration::from_millis(2_500), "sealed {waited:?} after the last event, the bound is 1 s");
    running.abort();
    let (records, _) = file.read().unwrap();
    let positions: Vec<u64> = records.iter().map(|r| r.position).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "each checkpoint witnessed once, in order: {positions:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_that_was_behind_gets_every_checkpoint_it_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn EventStore> =
        Arc::new(SqliteEventStore::open(&dir.path().join("log.db"), Arc::new(SystemClock)).await.unwrap());
    let hotline = Hotline::new(Arc::clone(&store), Arc::new(SystemClock), "hq");
    let key = SealKey::generate();
    let first = WitnessFile::at(&dir.path().join("first.jsonl"));
    let mut sealer = Sealer::new(key.clone(), 5, chrono::Duration::hours(1)).with_witness(Box::new(first.clone()));
    for _ in 0..3 {
        append(store.as_ref(), 5).await;
        sealer.seal_now(&hotline).await.unwrap();
    }
    assert_eq!(first.read().unwrap().0.len(), 3);
    // A new witness (say, a second copy set up later) on a restarted sealer: it gets all three,
    // and the first witness nothing twice.
    let second = WitnessFile::at(&dir.path().join("second.jsonl"));
    let mut restarted = Sealer::new(key, 5, chrono::Duration::hours(1))
        .with_witness(Box::new(first.clone()))
        .with_witness(Box::new(second.clone()));
    assert!(restarted.seal_now(&hotline).await.unwrap().is_none(), "nothing new to seal");
    assert_eq!(second.read().unwrap().0, first.read().unwrap().0);
    assert_eq!(first.read().unwrap().0.len(), 3);
}
