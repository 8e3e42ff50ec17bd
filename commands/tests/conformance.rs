//! The log's conformance suite: one test per invariant of DESIGN.md ("The log"), run against
//! every backend.

mod support;

use chrono::Duration;
use hotline_commands::store::hash::{ChainVerifier, ChainViolation, Recomputer};
use hotline_commands::store::{
    AppendError, AppendRequest, EventStore, ExpectedVersion, Metadata, NewEvent, StoredEvent, StreamId,
};
use hotline_domain::ticket::{TicketEvent, Urgency};
use hotline_domain::EventCodec;
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use support::TestStore;
use uuid::Uuid;

fn event(event_type: &str, payload: serde_json::Value) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: event_type.into(),
        schema_version: 1,
        payload,
        metadata: Metadata {
            tenant: Some("tj01".into()),
            actor: "agent1".into(),
            command_id: None,
            correlation_id: Uuid::now_v7(),
            causation_id: None,
            source: "test".into(),
            occurred_at: support::clock().now_for_tests(),
        },
    }
}

trait NowForTests {
    fn now_for_tests(&self) -> chrono::DateTime<chrono::Utc>;
}

impl NowForTests for hotline_commands::clock::ManualClock {
    fn now_for_tests(&self) -> chrono::DateTime<chrono::Utc> {
        hotline_commands::clock::Clock::now(self)
    }
}

fn request(stream: &StreamId, expected: ExpectedVersion, count: usize) -> AppendRequest {
    AppendRequest {
        stream_id: stream.clone(),
        expected,
        events: (0..count).map(|i| event("TicketUrged", json!({ "n": i, "note": "快点" }))).collect(),
        command_id: None,
        fingerprint: None,
    }
}

async fn all_events(store: &dyn EventStore) -> Vec<hotline_commands::store::RecordedEvent> {
    store.read_all(0, u32::MAX).await.expect("read log")
}

/// Invariant 1: append-only. The API has no update or delete; hand-written SQL is refused too.
async fn append_only_refuses_update_and_delete(t: TestStore) {
    let stream = StreamId::new("ticket", "a");
    t.store.append(request(&stream, ExpectedVersion::NoStream, 2)).await.expect("append");
    let update = t.raw_sql("UPDATE events SET event_type = 'TicketClosed' WHERE global_position = 1").await;
    assert!(update.is_err_and(|e| e.contains("append-only")), "update must be refused");
    let delete = t.raw_sql("DELETE FROM events WHERE global_position = 2").await;
    assert!(delete.is_err_and(|e| e.contains("append-only")), "delete must be refused");
    let events = all_events(t.store.as_ref()).await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].event_type, "TicketUrged");
}

/// Invariant 2: optimistic concurrency per stream, with a conflict naming stream and versions.
async fn stale_expected_version_is_a_typed_conflict(t: TestStore) {
    let stream = StreamId::new("ticket", "b");
    let first = t.store.append(request(&stream, ExpectedVersion::NoStream, 1)).await.expect("first append");
    assert_eq!((first.stream_version, first.last_position), (1, Some(1)));
    match t.store.append(request(&stream, ExpectedVersion::NoStream, 1)).await {
        Err(AppendError::Conflict { stream: s, expected: ExpectedVersion::NoStream, actual: 1 }) => {
            assert_eq!(s, stream)
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    t.store.append(request(&stream, ExpectedVersion::Exact(1), 2)).await.expect("append at version 1");
    let stale = t.store.append(request(&stream, ExpectedVersion::Exact(1), 1)).await;
    let Err(conflict @ AppendError::Conflict { .. }) = stale else { panic!("expected a conflict, got {stale:?}") };
    assert_eq!(conflict.to_string(), "conflict on stream ticket-b: expected version 1, actual 3");
    assert_eq!(t.store.head().await.unwrap(), 3, "a conflict appends nothing");
    let any = t.store.append(request(&stream, ExpectedVersion::Any, 1)).await.expect("any");
    assert_eq!(any.stream_version, 4);
    let other = t.store.append(request(&StreamId::new("ticket", "c"), ExpectedVersion::Exact(1), 1)).await;
    assert!(matches!(other, Err(AppendError::Conflict { actual: 0, .. })), "{other:?}");
}

/// Invariant 3: global order without gaps or skips under 64 concurrent writers, seen by a
/// tailing reader that must see every position exactly once, in order, and not stall.
async fn concurrent_writers_never_let_a_tailing_reader_skip(t: TestStore) {
    const WRITERS: usize = 64;
    const APPENDS: usize = 12;
    let total = (WRITERS * APPENDS * 2) as u64; // two events per append
    let reader = {
        let store = Arc::clone(&t.store);
        tokio::spawn(async move {
            let mut head = store.watch_head();
            let mut seen = Vec::with_capacity(total as usize);
            let mut last = 0;
            while last < total {
                head.borrow_and_update();
                let batch = store.read_all(last, 97).await.expect("read");
                if batch.is_empty() {
                    tokio::time::timeout(std::time::Duration::from_secs(30), head.changed())
                        .await
                        .expect("reader stalled: no commit notification for 30 s")
                        .expect("head sender alive");
                    continue;
                }
                for event in batch {
                    assert_eq!(event.global_position, last + 1, "reader skipped or repeated a position");
                    last = event.global_position;
                    seen.push((event.stream_id.to_string(), event.stream_version));
                }
            }
            seen
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = Arc::clone(&t.store);
            tokio::spawn(async move {
                // Half the writers share streams, so conflicts and retries happen under load.
                let stream =
                    StreamId::new("ticket", if w % 2 == 0 { format!("shared{}", w % 8) } else { format!("own{w}") });
                for _ in 0..APPENDS {
                    loop {
                        let version = store.read_stream(&stream, 1).await.expect("read").len() as u64;
                        let expected =
                            if version == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(version) };
                        match store.append(request(&stream, expected, 2)).await {
                            Ok(_) => break,
                            Err(AppendError::Conflict { .. }) => continue,
                            Err(e) => panic!("append failed: {e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("writer");
    }
    let seen = tokio::time::timeout(std::time::Duration::from_secs(60), reader)
        .await
        .expect("reader finished")
        .expect("reader");
    assert_eq!(seen.len() as u64, total);
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "an event was seen twice");
    assert_eq!(t.store.head().await.unwrap(), total);
    // Hashes chain correctly also across appends committed in one batch.
    let mut verifier = ChainVerifier::default();
    for event in all_events(t.store.as_ref()).await {
        verifier.check(&event).expect("every stream's hash chain verifies after concurrent appends");
    }
    // Within each stream, versions are 1..n in global order.
    let mut versions = std::collections::HashMap::<String, u64>::new();
    for (stream, version) in &seen {
        let last = versions.entry(stream.clone()).or_default();
        assert_eq!(*version, *last + 1, "stream {stream} out of order");
        *last = *version;
    }
}

/// Invariant 4: a command id appended twice returns the first outcome and appends nothing,
/// also under concurrent retries and after a restart.
async fn duplicate_command_id_returns_first_outcome(t: TestStore) {
    let stream = StreamId::new("ticket", "d");
    let command_id = Uuid::now_v7();
    let with_id = |expected| AppendRequest { command_id: Some(command_id), ..request(&stream, expected, 2) };
    let first = t.store.append(with_id(ExpectedVersion::NoStream)).await.expect("first");
    assert!(!first.duplicate);
    assert_eq!((first.first_position, first.last_position), (Some(1), Some(2)));
    // The retry carries a stale expected version: the duplicate check wins over the conflict.
    let again = t.store.append(with_id(ExpectedVersion::NoStream)).await.expect("retry");
    assert!(again.duplicate);
    assert_eq!((again.stream_version, again.first_position, again.last_position), (2, Some(1), Some(2)));
    let racing: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&t.store);
            let request = with_id(ExpectedVersion::Any);
            tokio::spawn(async move { store.append(request).await.expect("concurrent retry") })
        })
        .collect();
    for retry in racing {
        assert!(retry.await.unwrap().duplicate);
    }
    assert_eq!(t.store.command_outcome(command_id).await.unwrap().map(|o| o.last_position), Some(Some(2)));
    let reopened = t.reopen().await;
    assert!(reopened.append(with_id(ExpectedVersion::Any)).await.expect("after restart").duplicate);
    assert_eq!(all_events(t.store.as_ref()).await.len(), 2, "duplicates appended nothing");
}

/// Invariant 5: stream hashes chain; a changed byte, a deleted row and swapped rows are found.
async fn stream_hashes_chain_and_tampering_is_detected(t: TestStore) {
    for (stream, n) in [("ticket-e", 3), ("ticket-f", 2), ("ticket-e", 1)] {
        let stream = StreamId::parse(stream).unwrap();
        t.store.append(request(&stream, ExpectedVersion::Any, n)).await.expect("append");
        t.clock.advance(Duration::seconds(1));
    }
    let events = all_events(t.store.as_ref()).await;
    let mut verifier = ChainVerifier::default();
    for e in &events {
        verifier.check(e).expect("untouched log verifies");
    }
    assert_eq!(verifier.checked(), 6);
    assert_ne!(events[0].stream_hash, events[1].stream_hash);

    t.raw_sql(t.disable_append_only_sql()).await.expect("disable triggers");
    // One byte of the payload of position 5: "快点" becomes "快占".
    let tamper = match t.raw {
        support::Raw::Sqlite(_) => "UPDATE events SET payload = REPLACE(payload, '点', '占') WHERE global_position = 5",
        support::Raw::Postgres { .. } => {
            "UPDATE events SET payload = REPLACE(payload::text, '点', '占')::json WHERE global_position = 5"
        }
    };
    t.raw_sql(tamper).await.expect("tamper");
    let violation = first_violation(t.store.as_ref()).await;
    assert!(matches!(violation, Some(ChainViolation::HashMismatch { position: 5, .. })), "{violation:?}");

    t.raw_sql("DELETE FROM events WHERE global_position = 5").await.expect("delete");
    let violation = first_violation(t.store.as_ref()).await;
    assert_eq!(violation, Some(ChainViolation::PositionGap { previous: 4, found: 6 }));
}

/// Invariant 5, exhaustively: every single-character change to any stored field of an event
/// (position, stream, version, id, type, schema version, payload, metadata, commit time, hash),
/// made directly in the database, is found; so are two rows swapped.
async fn every_single_byte_change_is_found(t: TestStore) {
    for (stream, n) in [("ticket-e", 3), ("ticket-f", 2), ("ticket-e", 1)] {
        let stream = StreamId::parse(stream).unwrap();
        t.store.append(request(&stream, ExpectedVersion::Any, n)).await.expect("append");
        t.clock.advance(Duration::seconds(1));
    }
    assert_eq!(first_violation(t.store.as_ref()).await, None);
    let mut conn = t.raw_connection().await;
    conn.execute(t.disable_append_only_sql()).await.expect("disable triggers");
    let postgres = matches!(t.raw, support::Raw::Postgres { .. });
    let columns = [
        "global_position",
        "stream_id",
        "stream_version",
        "event_id",
        "event_type",
        "schema_version",
        "payload",
        "metadata",
        "recorded_at",
        "stream_hash",
    ];
    let (mut found, mut refused) = (0, 0);
    let text = |column: &str| match postgres {
        true => format!("SELECT {column}::text FROM events WHERE stream_id = 'ticket-e' AND stream_version = 2"),
        false => {
            format!("SELECT CAST({column} AS TEXT) FROM events WHERE stream_id = 'ticket-e' AND stream_version = 2")
        }
    };
    let position = conn.text(&text("global_position")).await;
    let event_id = conn.text(&text("event_id")).await;
    for column in columns {
        let original = conn.text(&text(column)).await;
        // The row is found by a field other than the one changed.
        let row = match column {
            "global_position" => format!("event_id = '{event_id}'"),
            _ => format!("global_position = {position}"),
        };
        let set = |value: &str| format!("UPDATE events SET {column} = '{}' WHERE {row}", value.replace('\'', "''"));
        let chars: Vec<char> = original.chars().collect();
        for i in 0..chars.len() {
            let mut changed = chars.clone();
            changed[i] = substitute(chars[i]);
            let changed: String = changed.into_iter().collect();
            // The database's own types may refuse the change (e.g. a broken UUID in PostgreSQL), so
            // nothing was altered…
            if conn.execute(&set(&changed)).await.is_err() {
                refused += 1;
                continue;
            }
            // …or read it as the same value (PostgreSQL reads "2026#11-23" as a date, too).
            if conn.text(&text(column).replace("stream_id = 'ticket-e' AND stream_version = 2", &row)).await == original
            {
                refused += 1;
                continue;
            }
            let outcome = match t.store.read_all(0, u32::MAX).await {
                Err(_) => true, // unreadable: found by the reader
                Ok(events) => {
                    let mut verifier = ChainVerifier::default();
                    events.iter().any(|e| verifier.check(e).is_err())
                }
            };
            assert!(outcome, "{column}: {original:?} -> {changed:?} was not found");
            // `hotline verify` reads the columns as text and hashes them as they are.
            let stored = match t.store.read_all_stored(0, u32::MAX).await {
                Err(_) => true,
                Ok(events) => stored_violation(&events).is_some(),
            };
            assert!(stored, "{column}: {original:?} -> {changed:?} was not found reading stored text");
            found += 1;
            conn.execute(&set(&original)).await.expect("restore");
        }
        assert_eq!(first_violation(t.store.as_ref()).await, None, "restored {column}");
    }
    assert!(found > 250 && found > refused * 3, "found {found}, refused by the database {refused}");

    // Two whole rows swapped (contents exchanged, positions kept).
    let swap = "UPDATE events SET global_position = -global_position WHERE global_position IN (2, 3); \
                UPDATE events SET global_position = 3 WHERE global_position = -2; \
                UPDATE events SET global_position = 2 WHERE global_position = -3;";
    conn.execute(swap).await.expect("swap");
    assert!(first_violation(t.store.as_ref()).await.is_some(), "swapped rows must be found");
}

/// Another character of the same kind, so the field stays well-formed where it can.
fn substitute(c: char) -> char {
    match c {
        '0'..='8' | 'a'..='y' | 'A'..='Y' => char::from(c as u8 + 1),
        '9' => '0',
        'z' => 'a',
        'Z' => 'A',
        c if !c.is_ascii() => char::from_u32(c as u32 + 1).filter(|n| !n.is_control()).unwrap_or('x'),
        '"' => '\'',
        _ => '#',
    }
}

/// The first violation reading whole events; reading stored text must find one where it does.
async fn first_violation(store: &dyn EventStore) -> Option<ChainViolation> {
    let mut verifier = ChainVerifier::default();
    let violation = all_events(store).await.iter().find_map(|e| verifier.check(e).err());
    let stored = stored_violation(&store.read_all_stored(0, u32::MAX).await.expect("read stored"));
    assert_eq!(stored.is_some(), violation.is_some(), "whole events: {violation:?}; stored text: {stored:?}");
    violation
}

/// What `hotline verify` does with each event, one thread.
fn stored_violation(events: &[StoredEvent]) -> Option<ChainViolation> {
    let mut chain = ChainVerifier::default();
    let mut recomputer = Recomputer::default();
    events.iter().find_map(|e| chain.link(e).and_then(|previous| recomputer.check_stored(previous.as_deref(), e)).err())
}

/// The stored text of each event is what its whole form gives canonically (on PostgreSQL too,
/// where ids and times are typed columns), and pages the same way.
async fn stored_reads_match_full_reads(t: TestStore) {
    let a = StreamId::new("ticket", Uuid::now_v7());
    t.store.append(request(&a, ExpectedVersion::NoStream, 3)).await.unwrap();
    t.clock.advance(Duration::microseconds(1_234_567));
    t.store.append(request(&StreamId::new("ticket", Uuid::now_v7()), ExpectedVersion::NoStream, 2)).await.unwrap();
    let full = all_events(t.store.as_ref()).await;
    let stored = t.store.read_all_stored(0, u32::MAX).await.unwrap();
    assert_eq!(stored, full.iter().map(StoredEvent::from).collect::<Vec<_>>());
    assert_eq!(t.store.read_all_stored(2, 2).await.unwrap(), stored[2..4].to_vec());
    assert_eq!(stored_violation(&stored), None);
}

/// Invariant 6: events keep their schema version; an old version is upcast on read.
async fn old_schema_version_is_stored_as_is_and_upcast_on_read(t: TestStore) {
    let stream = StreamId::new("ticket", Uuid::from_u128(6));
    let v1 = json!({
        "ticket_id": Uuid::from_u128(6), "ticket_no": "tj01-2025-000001", "tenant": "tj01",
        "ticket_type": "repair", "urgent": true, "customer_id": null, "caller_phone": "13812345678",
        "address": "和平区1号", "description": "暖气不热", "created_by": "agent1",
        "deadline_at": "2025-01-02T09:00:00Z", "deadline_hours": 8, "extra_nodes": []
    });
    let mut old = event("TicketCreated", v1.clone());
    old.schema_version = 1;
    t.store
        .append(AppendRequest { events: vec![old], ..request(&stream, ExpectedVersion::NoStream, 0) })
        .await
        .unwrap();
    let stored = t.store.read_stream(&stream, 1).await.unwrap().remove(0);
    assert_eq!((stored.schema_version, &stored.payload), (1, &v1), "stored exactly as written");
    let TicketEvent::Created(created) =
        TicketEvent::decode(&stored.event_type, stored.schema_version, stored.payload).unwrap()
    else {
        panic!("not a TicketCreated")
    };
    assert_eq!(created.urgency, Urgency::Urgent);
    assert_eq!(created.source, hotline_domain::ticket::Source::Phone);
}

/// Reads: a stream from a version, one event of a stream, the log after a position with a limit, and notifications.
async fn reads_and_commit_notifications(t: TestStore) {
    let a = StreamId::new("ticket", "g");
    let b = StreamId::new("approval", "h");
    let mut head = t.store.watch_head();
    t.store.append(request(&a, ExpectedVersion::NoStream, 3)).await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), head.changed()).await.expect("notified").unwrap();
    t.store.append(request(&b, ExpectedVersion::NoStream, 2)).await.unwrap();
    let from_two: Vec<u64> = t.store.read_stream(&a, 2).await.unwrap().iter().map(|e| e.stream_version).collect();
    assert_eq!(from_two, [2, 3]);
    let page: Vec<u64> = t.store.read_all(2, 2).await.unwrap().iter().map(|e| e.global_position).collect();
    assert_eq!(page, [3, 4]);
    let last = t.store.read_all(4, 10).await.unwrap();
    assert_eq!((last.len(), last[0].stream_id.category()), (1, "approval"));
    assert_eq!(*head.borrow_and_update(), 5);
    assert!(t.store.read_stream(&StreamId::new("ticket", "none"), 1).await.unwrap().is_empty());
    let second = t.store.read_event(&a, 2).await.unwrap().expect("the stream has a version 2");
    assert_eq!((second.stream_id, second.stream_version, second.global_position), (a.clone(), 2, 2));
    assert!(t.store.read_event(&a, 4).await.unwrap().is_none());
    assert!(t.store.read_event(&StreamId::new("ticket", "none"), 1).await.unwrap().is_none());
    let meta = last[0].meta().expect("typed metadata");
    assert_eq!((meta.actor.as_str(), meta.tenant.as_deref()), ("agent1", Some("tj01")));
    let other_process = t.reopen().await;
    let mut other_head = other_process.watch_head();
    t.store.append(request(&a, ExpectedVersion::Exact(3), 1)).await.unwrap();
    if matches!(t.raw, support::Raw::Postgres { .. }) {
        // Another process learns of commits through LISTEN/NOTIFY.
        tokio::time::timeout(std::time::Duration::from_secs(10), other_head.wait_for(|h| *h == 6))
            .await
            .expect("other process notified")
            .unwrap();
    }
    assert_eq!(other_process.read_all(5, 10).await.unwrap().len(), 1);
}

/// Invariant: recorded time never decreases along positions. The clock set back 2 h across a
/// restart records the last recorded time again (and counts it), never an earlier one; once the
/// clock passes it, its own time is recorded again.
async fn recorded_time_never_goes_back(t: TestStore) {
    use hotline_commands::clock::Clock;
    use std::sync::atomic::Ordering::Relaxed;
    let a = StreamId::new("ticket", Uuid::now_v7());
    t.store.append(request(&a, ExpectedVersion::NoStream, 2)).await.unwrap();
    let first = all_events(&*t.store).await[1].recorded_at;
    assert_eq!(first, t.clock.now());
    t.clock.advance(-Duration::hours(2));
    let restarted = t.reopen().await;
    let behind_before = hotline_commands::store::CLOCK_BEHIND_BATCHES.load(Relaxed);
    restarted.append(request(&a, ExpectedVersion::Exact(2), 1)).await.unwrap();
    assert!(hotline_commands::store::CLOCK_BEHIND_BATCHES.load(Relaxed) > behind_before, "counted");
    let held = all_events(&*restarted).await[2].recorded_at;
    assert_eq!(held, first, "the clock is 2 h behind: the last recorded time is held");
    t.clock.advance(Duration::hours(3));
    restarted.append(request(&a, ExpectedVersion::Exact(3), 1)).await.unwrap();
    let events = all_events(&*restarted).await;
    assert_eq!(events[3].recorded_at, first + Duration::hours(1), "the clock's own time once it is ahead");
    assert!(events.windows(2).all(|w| w[0].recorded_at <= w[1].recorded_at));
}

/// The rehydration read (`read_stream_payloads`) gives what the full read gives: the same
/// events in the same order, each payload's text parsing to the stored value.
async fn payload_reads_match_full_reads(t: TestStore) {
    let a = StreamId::new("ticket", Uuid::now_v7());
    let b = StreamId::new("ticket", Uuid::now_v7());
    t.store.append(request(&a, ExpectedVersion::NoStream, 3)).await.unwrap();
    t.store.append(request(&b, ExpectedVersion::NoStream, 1)).await.unwrap();
    t.store.append(request(&a, ExpectedVersion::Exact(3), 1)).await.unwrap();
    let full = t.store.read_stream(&a, 2).await.unwrap();
    let narrow = t.store.read_stream_payloads(&a, 2).await.unwrap();
    assert_eq!(narrow.len(), 3);
    for (full, narrow) in full.iter().zip(&narrow) {
        assert_eq!(
            (full.global_position, full.stream_version, full.event_type.as_str(), full.schema_version),
            (narrow.global_position, narrow.stream_version, narrow.event_type.as_str(), narrow.schema_version)
        );
        assert_eq!(serde_json::from_str::<serde_json::Value>(&narrow.payload).unwrap(), full.payload);
    }
    assert!(t.store.read_stream_payloads(&StreamId::new("ticket", "none"), 1).await.unwrap().is_empty());
}

on_every_backend!(
    append_only_refuses_update_and_delete,
    stale_expected_version_is_a_typed_conflict,
    concurrent_writers_never_let_a_tailing_reader_skip,
    duplicate_command_id_returns_first_outcome,
    stream_hashes_chain_and_tampering_is_detected,
    every_single_byte_change_is_found,
    old_schema_version_is_stored_as_is_and_upcast_on_read,
    reads_and_commit_notifications,
    recorded_time_never_goes_back,
    payload_reads_match_full_reads,
    stored_reads_match_full_reads,
);

/// Sums `Actual Rows × Actual Loops` over every plan node that reads `events`.
fn event_rows_read(plan: &serde_json::Value) -> f64 {
    let own =
        if plan["Relation Name"] == "events" || plan["Index Name"].as_str().is_some_and(|i| i.starts_with("events")) {
            plan["Actual Rows"].as_f64().unwrap_or(0.0) * plan["Actual Loops"].as_f64().unwrap_or(1.0)
        } else {
            0.0
        };
    own + plan["Plans"].as_array().map_or(0.0, |children| children.iter().map(event_rows_read).sum())
}

/// Regression: the append's look-up of each stream's latest version read (and sorted) every event
/// of every stream in the batch, so an append to a long stream grew slower with each event. The
/// plan must read one row per stream, however long the streams.
#[tokio::test]
async fn the_postgres_append_reads_one_row_per_stream_whatever_its_length() {
    let t = support::postgres().await;
    let streams: Vec<StreamId> = (0..3).map(|_| StreamId::new("ticket", Uuid::now_v7())).collect();
    for stream in &streams {
        t.store.append(request(stream, ExpectedVersion::NoStream, 400)).await.unwrap();
    }
    let support::Raw::Postgres { url, .. } = &t.raw else { unreachable!("a PostgreSQL store") };
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url).await.unwrap();
    sqlx::Executor::execute(&mut conn, "ANALYZE events").await.unwrap();
    let ids: Vec<String> = streams.iter().map(|s| s.as_str().to_owned()).collect();
    let explain = format!("EXPLAIN (ANALYZE, FORMAT JSON) {}", hotline_commands::store::postgres::STREAM_HEADS);
    let plan: serde_json::Value = sqlx::query_scalar(&explain).bind(&ids).fetch_one(&mut conn).await.unwrap();
    let rows = event_rows_read(&plan[0]["Plan"]);
    assert!(
        rows <= ids.len() as f64,
        "the stream-head look-up read {rows} event rows for {} streams:\n{plan:#}",
        ids.len()
    );
    // And it answers what the DISTINCT ON did: each stream's latest version and hash.
    let heads: Vec<(String, i64, String)> =
        sqlx::query_as(hotline_commands::store::postgres::STREAM_HEADS).bind(&ids).fetch_all(&mut conn).await.unwrap();
    assert_eq!(heads.len(), 3);
    for (stream, version, hash) in heads {
        let last = t.store.read_stream(&StreamId::parse(&stream).unwrap(), 400).await.unwrap();
        assert_eq!((version, hash), (400, last[0].stream_hash.clone()));
    }
}
