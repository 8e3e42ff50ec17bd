//! Every fixture decodes (running the upcasters), folds through its deciders, replays into every
//! projection, and matches its snapshots: `<fixture>__state` (decider states) and
//! `<fixture>__read_models` (what the read side shows).

use chrono::{Duration, TimeZone, Utc};
use hotline_commands::clock::ManualClock;
use hotline_commands::store::sqlite::SqliteEventStore;
use hotline_commands::store::{AppendRequest, EventStore, ExpectedVersion, Metadata, NewEvent, StreamId};
use hotline_domain::approval::{Approval, ApprovalEvent};
use hotline_domain::customer::CustomerEvent;
use hotline_domain::numbering::NumberingEvent;
use hotline_domain::organisation::OrganisationEvent;
use hotline_domain::settings::SettingsEvent;
use hotline_domain::ticket::{Ticket, TicketEvent};
use hotline_domain::{Decider, EventCodec};
use hotline_projections::all_projections;
use hotline_projections::approvals::ApprovalQueries;
use hotline_projections::customers::CustomerQueries;
use hotline_projections::kpi::{ticket_kpis, Bucket, KpiScope};
use hotline_projections::runner::Runner;
use hotline_projections::store::ReadStore;
use hotline_projections::tickets::{TicketFilter, TicketQueries};
use hotline_replay_tests::{fixtures_dir, load, FixtureEvent};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

fn fixtures() -> Vec<(String, Vec<FixtureEvent>)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures folder")
        .map(|entry| entry.expect("fixture entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "jsonl"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 12, "at least 12 golden histories, found {}", paths.len());
    paths
        .into_iter()
        .map(|path| {
            let name = path.file_stem().and_then(|s| s.to_str()).expect("fixture name").to_owned();
            let events = load(&path).unwrap_or_else(|e| panic!("{e}"));
            (name, events)
        })
        .collect()
}

fn decode<E: EventCodec>(name: &str, event: &FixtureEvent) -> E {
    E::decode(&event.event_type, event.schema_version, event.payload.clone())
        .unwrap_or_else(|e| panic!("{name}: {} v{} does not decode: {e}", event.event_type, event.schema_version))
}

#[test]
fn every_fixture_decodes_and_folds() {
    for (name, events) in fixtures() {
        let mut tickets = BTreeMap::new();
        let mut approvals = BTreeMap::new();
        for event in &events {
            match event.stream_id.split_once('-').map(|(category, _)| category) {
                Some("ticket") => {
                    let decoded: TicketEvent = decode(&name, event);
                    let state = tickets.remove(&event.stream_id).unwrap_or_default();
                    tickets.insert(event.stream_id.clone(), Ticket::evolve(state, &decoded));
                }
                Some("approval") => {
                    let decoded: ApprovalEvent = decode(&name, event);
                    let state = approvals.remove(&event.stream_id).unwrap_or_default();
                    approvals.insert(event.stream_id.clone(), Approval::evolve(state, &decoded));
                }
                Some("org") => drop(decode::<OrganisationEvent>(&name, event)),
                Some("settings") => drop(decode::<SettingsEvent>(&name, event)),
                Some("customer") => drop(decode::<CustomerEvent>(&name, event)),
                Some("ticketno") => drop(decode::<NumberingEvent>(&name, event)),
                other => panic!("{name}: unknown category {other:?}"),
            }
        }
        assert!(!tickets.is_empty(), "{name} has a ticket");
        insta::assert_debug_snapshot!(format!("{name}__state"), (tickets, approvals));
    }
}

#[tokio::test]
async fn every_fixture_replays_into_every_projection() {
    for (name, events) in fixtures() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()));
        let log: Arc<dyn EventStore> =
            Arc::new(SqliteEventStore::open(&dir.path().join("log.db"), clock).await.unwrap());
        for event in &events {
            let metadata: Metadata =
                serde_json::from_value(event.metadata.clone()).unwrap_or_else(|e| panic!("{name}: metadata: {e}"));
            let request = AppendRequest {
                stream_id: StreamId::parse(&event.stream_id).unwrap(),
                expected: ExpectedVersion::Exact(event.stream_version - 1),
                events: vec![NewEvent {
                    event_id: uuid::Uuid::now_v7(),
                    event_type: event.event_type.clone(),
                    schema_version: event.schema_version,
                    payload: event.payload.clone(),
                    metadata,
                }],
                command_id: None,
            };
            log.append(request).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let read = ReadStore::open_sqlite(&dir.path().join("readmodels.db")).await.unwrap();
        let runner = Runner::new(Arc::clone(&log), read, all_projections());
        runner.catch_up_all().await.unwrap_or_else(|e| panic!("{name}: {e}"));
        let pool = runner.read_store().reader();
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap();
        let tickets = TicketQueries(pool);
        let views = tickets.list(&TicketFilter::default(), &now, 100, None).await.unwrap().tickets;
        let mut timelines = BTreeMap::new();
        for view in &views {
            timelines.insert(view.ticket_no.clone(), tickets.timeline(&view.ticket_id.to_string()).await.unwrap());
        }
        let approvals = ApprovalQueries(pool).list(None, false, &now).await.unwrap();
        let customers = CustomerQueries(pool).by_phone("13812345678").await.unwrap();
        let first = events.iter().find_map(|e| e.metadata["occurred_at"].as_str()).expect("a time");
        let from = chrono::DateTime::parse_from_rfc3339(first).unwrap().with_timezone(&Utc) - Duration::days(1);
        let kpis =
            ticket_kpis(pool, &KpiScope::Group, &from, &(from + Duration::days(5)), Bucket::Day, &now).await.unwrap();
        let checkpoints = runner.checkpoints().await.unwrap();
        assert!(
            checkpoints.iter().all(|c| c.status == "running" && c.position == events.len() as u64),
            "{name}: {checkpoints:?}"
        );
        let read_models = serde_json::json!({
            "tickets": views,
            "timelines": timelines,
            "approvals": approvals,
            "customers_by_phone": customers,
            "kpis": kpis,
        });
        insta::assert_json_snapshot!(format!("{name}__read_models"), read_models, {
            ".timelines.*[].recorded_at" => "[recorded_at]",
        });
    }
}
