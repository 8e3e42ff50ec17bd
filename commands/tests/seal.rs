//! The sealer on every backend: signed checkpoints every N events or T time, never twice, and a
//! checker that finds a changed checkpoint or a foreign key.

mod support;

use chrono::Duration;
use hotline_commands::process::{Follower, ProcessManager};
use hotline_commands::seal::{CheckpointChecker, CheckpointViolation, SealKey, Sealer};
use hotline_commands::store::{AppendRequest, ExpectedVersion, Metadata, NewEvent, StreamId};
use hotline_commands::Hotline;
use std::sync::Arc;
use support::TestStore;

async fn append(t: &TestStore, n: usize, offset: usize) {
    for i in offset..offset + n {
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
                occurred_at: hotline_commands::clock::Clock::now(t.clock.as_ref()),
            },
        };
        let stream = StreamId::new("ticket", i % 7);
        t.store
            .append(AppendRequest {
                stream_id: stream,
                expected: ExpectedVersion::Any,
                events: vec![event],
                command_id: None,
                fingerprint: None,
            })
            .await
            .unwrap();
    }
}

async fn check(t: &TestStore, trusted: Option<String>) -> (u64, Option<CheckpointViolation>) {
    let mut checker = CheckpointChecker::new(trusted);
    for event in t.store.read_all(0, u32::MAX).await.unwrap() {
        if let Err(violation) = checker.check(&event) {
            return (checker.checked(), Some(violation));
        }
    }
    (checker.checked(), None)
}

/// A sealer signs what it observed; other writers may commit before its checkpoint lands. The
/// checkpoint then covers a prefix of the events before it, and still verifies (regression: the
/// checker used to demand that it cover every event before it, so a live log failed verify).
async fn a_checkpoint_may_land_after_events_it_does_not_cover(t: TestStore) {
    let hotline = Hotline::new(Arc::clone(&t.store), t.clock.clone(), "hq");
    let key = SealKey::generate();
    append(&t, 12, 0).await;
    let mut sealer = Sealer::new(key.clone(), 10, Duration::hours(1));
    for event in t.store.read_all(0, u32::MAX).await.unwrap() {
        sealer.observe(&event).unwrap();
    }
    append(&t, 3, 12).await;
    assert_eq!(sealer.act(&hotline).await.unwrap(), 1);
    append(&t, 2, 15).await;
    assert_eq!(check(&t, Some(key.public_hex())).await, (1, None));
}

async fn sealer_signs_checkpoints_once_and_the_checker_finds_changes(t: TestStore) {
    let hotline = Hotline::new(Arc::clone(&t.store), t.clock.clone(), "hq");
    let key = SealKey::generate();
    let sealer = || Sealer::new(key.clone(), 10, Duration::hours(1));
    append(&t, 25, 0).await;
    let mut follower = Follower::new(hotline.clone(), sealer());
    assert_eq!(follower.step().await.unwrap(), 1, "25 events ≥ 10: one checkpoint over all of them");
    append(&t, 5, 25).await;
    assert_eq!(follower.step().await.unwrap(), 0, "5 events, and the hour has not passed");
    t.clock.advance(Duration::hours(2));
    assert_eq!(follower.step().await.unwrap(), 1, "the hour passed: the 5 are sealed");
    assert_eq!(follower.step().await.unwrap(), 0);
    // A new sealer replays the log and seals nothing again.
    let head = t.store.head().await.unwrap();
    let mut replayed = Follower::new(hotline, sealer());
    assert_eq!(replayed.step().await.unwrap(), 0);
    assert_eq!(replayed.manager().checkpoints(), 2);
    assert_eq!(t.store.head().await.unwrap(), head);

    assert_eq!(check(&t, Some(key.public_hex())).await, (2, None));
    let (_, foreign) = check(&t, Some(SealKey::generate().public_hex())).await;
    assert!(matches!(foreign, Some(CheckpointViolation::BadSignature { checkpoint_no: 1, .. })), "{foreign:?}");

    t.raw_sql(t.disable_append_only_sql()).await.unwrap();
    let change_root = match t.raw {
        support::Raw::Sqlite(_) => "UPDATE events SET payload = REPLACE(payload, '\"tree_size\":30', '\"tree_size\":29') WHERE stream_id = 'seal-log'",
        support::Raw::Postgres { .. } => {
            "UPDATE events SET payload = REPLACE(payload::text, '\"tree_size\":30', '\"tree_size\":29')::json WHERE stream_id = 'seal-log'"
        }
    };
    t.raw_sql(change_root).await.unwrap();
    let (checked, changed) = check(&t, Some(key.public_hex())).await;
    assert_eq!(checked, 1);
    assert!(matches!(changed, Some(CheckpointViolation::Mismatch { checkpoint_no: 2, .. })), "{changed:?}");
}

on_every_backend!(
    a_checkpoint_may_land_after_events_it_does_not_cover,
    sealer_signs_checkpoints_once_and_the_checker_finds_changes
);
