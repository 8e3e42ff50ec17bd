//! `hotline verify` checks pages of the log on every core (issue 14): whatever part of a page, or
//! page, a violation is in, it reports the one at the lowest position, and the events that
//! verified before it, as checking one event at a time would.

use chrono::Duration;
use hotline_commands::clock::{Clock, SystemClock};
use hotline_commands::process::Follower;
use hotline_commands::seal::{SealKey, Sealer};
use hotline_commands::store::sqlite::SqliteEventStore;
use hotline_commands::store::{AppendRequest, EventStore, ExpectedVersion, Metadata, NewEvent, StreamId};
use hotline_commands::Hotline;
use hotline_ops::verify::{verify, Report};
use sqlx::{Connection, Executor, SqliteConnection};
use std::path::Path;
use std::sync::Arc;

/// More than two of verify's pages (2,000 events), so violations fall in several pages and in
/// both halves of a page.
const EVENTS: u64 = 6_000;

fn urged(n: u64, clock: &dyn Clock) -> NewEvent {
    NewEvent {
        event_id: uuid::Uuid::now_v7(),
        event_type: "TicketUrged".into(),
        schema_version: 1,
        payload: serde_json::json!({ "by": "agent1", "note": format!("催办 {n}"), "count": n }),
        metadata: Metadata {
            tenant: Some("tj01".into()),
            actor: "agent1".into(),
            command_id: None,
            correlation_id: uuid::Uuid::now_v7(),
            causation_id: None,
            source: "test".into(),
            occurred_at: clock.now(),
        },
    }
}

/// A log of [`EVENTS`] events in 40 streams appended 10 at a time, and one late stream that
/// starts after position 5,000 and takes every tenth append from there.
async fn log(path: &Path) -> Arc<dyn EventStore> {
    let clock = Arc::new(SystemClock);
    let store: Arc<dyn EventStore> = Arc::new(SqliteEventStore::open(path, clock.clone()).await.unwrap());
    let mut n = 0;
    while n < EVENTS {
        let append = n / 10;
        let stream = if n >= 5_000 && append % 10 == 0 {
            StreamId::new("ticket", "late")
        } else {
            StreamId::new("ticket", append % 40)
        };
        let events = (n..n + 10).map(|i| urged(i, clock.as_ref())).collect();
        store
            .append(AppendRequest {
                stream_id: stream,
                expected: ExpectedVersion::Any,
                events,
                command_id: None,
                fingerprint: None,
            })
            .await
            .unwrap();
        n += 10;
    }
    assert_eq!(store.head().await.unwrap(), EVENTS);
    store
}

async fn tamperer(path: &Path) -> SqliteConnection {
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    conn.execute("DROP TRIGGER IF EXISTS events_are_append_only_update").await.unwrap();
    conn.execute("DROP TRIGGER IF EXISTS events_are_append_only_delete").await.unwrap();
    conn
}

/// Changes one character of the payload at `position`.
async fn alter(conn: &mut SqliteConnection, position: u64) {
    let sql =
        format!("UPDATE events SET payload = REPLACE(payload, '催办', '催促') WHERE global_position = {position}");
    assert_eq!(conn.execute(sql.as_str()).await.unwrap().rows_affected(), 1);
}

async fn verified(store: &Arc<dyn EventStore>) -> Report {
    verify(Arc::clone(store), None, Vec::new(), false).await.unwrap()
}

fn assert_found(report: &Report, checked: u64, says: &str) {
    let violation = report.violation.as_deref().unwrap_or_else(|| panic!("no violation found, {says:?} expected"));
    assert!(violation.contains(says), "{says:?} expected in: {violation}");
    assert_eq!(report.checked, checked, "{violation}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lowest_violation_is_reported_wherever_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let store = log(&path).await;
    let report = verified(&store).await;
    assert_eq!((report.checked, report.violation), (EVENTS, None));
    let late: i64 = sqlx::query_scalar("SELECT MAX(global_position) FROM events WHERE stream_id = 'ticket-late'")
        .fetch_one(&mut tamperer(&path).await)
        .await
        .unwrap();
    let late = late as u64;
    assert!(late > 5_900, "the late stream's last event is in the last page's second half: {late}");

    let mut conn = tamperer(&path).await;
    // Alone, a violation in a late stream, in the second half of the last page, is found.
    alter(&mut conn, late).await;
    assert_found(&verified(&store).await, late - 1, &format!("at position {late} (stream ticket-late"));
    // With another in an earlier page's second half, that one is reported…
    alter(&mut conn, 3_900).await;
    assert_found(&verified(&store).await, 3_899, "at position 3900 ");
    // …and with one lower in the same page, in its first half, that one.
    alter(&mut conn, 2_900).await;
    assert_found(&verified(&store).await, 2_899, "at position 2900 ");
    // A missing event (an order violation) above a changed one in its page: the changed one.
    conn.execute("DELETE FROM events WHERE global_position = 2500").await.unwrap();
    alter(&mut conn, 2_300).await;
    assert_found(&verified(&store).await, 2_299, "at position 2300 ");
    // Below it: the missing one, as the next position found.
    conn.execute("DELETE FROM events WHERE global_position = 2200").await.unwrap();
    assert_found(&verified(&store).await, 2_199, "position 2201 follows 2199");
}

/// Checkpoints are checked after the page's hashes, in global order: a checkpoint that does
/// not match (re-hashed, so its own stream hash holds) is reported before a changed event above
/// it in the same page, and after one below it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_and_an_event_are_reported_in_position_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let store = log(&path).await;
    let clock = Arc::new(SystemClock);
    let hotline = Hotline::new(Arc::clone(&store), clock.clone(), "hq");
    let key = SealKey::generate();
    let mut sealer = Follower::new(hotline, Sealer::new(key.clone(), 1_000, Duration::hours(1)));
    assert_eq!(sealer.step().await.unwrap(), 1, "one checkpoint over the {EVENTS} events");
    let sealed_at = EVENTS + 1;
    let after = (0..20).map(|i| urged(i, clock.as_ref())).collect();
    let stream = StreamId::new("ticket", "after");
    let request = AppendRequest {
        stream_id: stream,
        expected: ExpectedVersion::Any,
        events: after,
        command_id: None,
        fingerprint: None,
    };
    store.append(request).await.unwrap();
    let trusted = || Some(key.public_hex());
    let report = verify(Arc::clone(&store), trusted(), Vec::new(), false).await.unwrap();
    assert_eq!((report.checked, report.checkpoints, report.violation), (EVENTS + 21, 1, None));

    let mut conn = tamperer(&path).await;
    let sql = format!(
        "UPDATE events SET payload = REPLACE(payload, '\"tree_size\":{EVENTS}', '\"tree_size\":{}') WHERE \
         global_position = {sealed_at}",
        EVENTS - 1
    );
    assert_eq!(conn.execute(sql.as_str()).await.unwrap().rows_affected(), 1);
    let altered = store.read_all(EVENTS, 1).await.unwrap().remove(0);
    let rehashed = hotline_commands::store::hash::recompute(None, &altered);
    let sql = format!("UPDATE events SET stream_hash = '{rehashed}' WHERE global_position = {sealed_at}");
    conn.execute(sql.as_str()).await.unwrap();
    let checkpoint = format!("checkpoint 1 at position {sealed_at} does not match the log");
    assert_found(&verify(Arc::clone(&store), trusted(), Vec::new(), false).await.unwrap(), EVENTS + 1, &checkpoint);
    alter(&mut conn, EVENTS + 10).await;
    assert_found(&verify(Arc::clone(&store), trusted(), Vec::new(), false).await.unwrap(), EVENTS + 1, &checkpoint);
    alter(&mut conn, 5_990).await;
    assert_found(&verify(Arc::clone(&store), trusted(), Vec::new(), false).await.unwrap(), 5_989, "at position 5990 ");
}
