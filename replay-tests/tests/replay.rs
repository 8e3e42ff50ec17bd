//! Every fixture decodes (running the upcasters), folds through its deciders, replays into every
//! projection, and matches its snapshots: `<fixture>__state` (decider states) and
//! `<fixture>__read_models` (what the read side shows). Ticket histories snapshot the ticket side
//! (tickets, approvals and their read models), telephony histories the telephony side (the
//! tenant's configuration, calls, agents, phones and their read models); a history with both
//! snapshots both. A stream category no decider here knows fails the test, naming it.

use chrono::{Duration, TimeZone, Utc};
use hotline_commands::clock::ManualClock;
use hotline_commands::store::sqlite::SqliteEventStore;
use hotline_commands::store::{AppendRequest, EventStore, ExpectedVersion, Metadata, NewEvent, StreamId};
use hotline_domain::agent::Agent;
use hotline_domain::approval::Approval;
use hotline_domain::call::Call;
use hotline_domain::customer::CustomerEvent;
use hotline_domain::numbering::NumberingEvent;
use hotline_domain::organisation::OrganisationEvent;
use hotline_domain::phone::Phone;
use hotline_domain::settings::SettingsEvent;
use hotline_domain::telephony::Telephony;
use hotline_domain::ticket::Ticket;
use hotline_domain::{Decider, EventCodec};
use hotline_projections::agents::AgentQueries;
use hotline_projections::all_projections;
use hotline_projections::approvals::ApprovalQueries;
use hotline_projections::call_kpi::{agent_call_totals, call_kpis, CallKpiScope};
use hotline_projections::calls::{CallFilter, CallQueries};
use hotline_projections::customers::CustomerQueries;
use hotline_projections::kpi::{ticket_kpis, Bucket, KpiScope};
use hotline_projections::runner::Runner;
use hotline_projections::store::ReadStore;
use hotline_projections::tickets::{TicketFilter, TicketQueries};
use hotline_replay_tests::{fixtures_dir, load, FixtureEvent};
use std::collections::{BTreeMap, BTreeSet};
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

fn decode<E: EventCodec>(event: &FixtureEvent) -> Result<E, String> {
    E::decode(&event.event_type, event.schema_version, event.payload.clone())
        .map_err(|e| format!("{} v{} does not decode: {e}", event.event_type, event.schema_version))
}

/// The states of one decider's streams, by stream id.
type States<D> = BTreeMap<String, <D as Decider>::State>;

/// A fixture folded per stream through its deciders.
#[derive(Default)]
struct Folded {
    tickets: States<Ticket>,
    approvals: States<Approval>,
    telephony: States<Telephony>,
    calls: States<Call>,
    agents: States<Agent>,
    phones: States<Phone>,
}

impl Folded {
    /// Decodes every event and folds it into its stream's state; an error names the first event
    /// that does not decode or whose category no decider here knows.
    fn of(events: &[FixtureEvent]) -> Result<Folded, String> {
        let mut folded = Folded::default();
        for event in events {
            let stream = StreamId::parse(&event.stream_id).map_err(|e| e.to_string())?;
            let folding = match stream.category() {
                "ticket" => evolve::<Ticket>(&mut folded.tickets, event),
                "approval" => evolve::<Approval>(&mut folded.approvals, event),
                "telephony" => evolve::<Telephony>(&mut folded.telephony, event),
                "call" => evolve::<Call>(&mut folded.calls, event),
                "agent" => evolve::<Agent>(&mut folded.agents, event),
                "phone" => evolve::<Phone>(&mut folded.phones, event),
                "org" => decode::<OrganisationEvent>(event).map(drop),
                "settings" => decode::<SettingsEvent>(event).map(drop),
                "customer" => decode::<CustomerEvent>(event).map(drop),
                "ticketno" => decode::<NumberingEvent>(event).map(drop),
                other => Err(format!("unknown stream category {other:?}: fold it in replay.rs")),
            };
            folding.map_err(|error| format!("{} v{}: {error}", event.stream_id, event.stream_version))?;
        }
        Ok(folded)
    }

    /// Whether the fixture has ticket-side aggregates.
    fn has_tickets(&self) -> bool {
        !(self.tickets.is_empty() && self.approvals.is_empty())
    }

    /// Whether the fixture has telephony aggregates.
    fn has_telephony(&self) -> bool {
        !(self.telephony.is_empty() && self.calls.is_empty() && self.agents.is_empty() && self.phones.is_empty())
    }
}

fn evolve<D: Decider>(states: &mut States<D>, event: &FixtureEvent) -> Result<(), String> {
    let decoded: D::Event = decode(event)?;
    let state = states.remove(&event.stream_id).unwrap_or_default();
    states.insert(event.stream_id.clone(), D::evolve(state, &decoded));
    Ok(())
}

#[test]
fn every_fixture_decodes_and_folds() {
    let mut failures = Vec::new();
    for (name, events) in fixtures() {
        let folded = match Folded::of(&events) {
            Ok(folded) => folded,
            Err(error) => {
                failures.push(format!("{name}: {error}"));
                continue;
            }
        };
        let sides = (folded.has_tickets(), folded.has_telephony());
        let Folded { tickets, approvals, telephony, calls, agents, phones } = folded;
        match sides {
            (false, false) => failures.push(format!("{name}: no aggregate")),
            // Ticket histories keep the snapshot form they were released with.
            (true, false) => {
                insta::assert_debug_snapshot!(format!("{name}__state"), (tickets, approvals));
            }
            (false, true) => {
                insta::assert_debug_snapshot!(format!("{name}__state"), (telephony, calls, agents, phones));
            }
            (true, true) => {
                let both = ((tickets, approvals), (telephony, calls, agents, phones));
                insta::assert_debug_snapshot!(format!("{name}__state"), both);
            }
        }
    }
    assert!(failures.is_empty(), "fixtures that do not fold:\n{}", failures.join("\n"));
}

/// The ticket side's read models, as the API reads them.
async fn ticket_read_models(runner: &Runner, events: &[FixtureEvent]) -> serde_json::Map<String, serde_json::Value> {
    let pool = runner.read_store().reader();
    let now = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap();
    let tickets = TicketQueries(pool);
    let views = tickets.list(&TicketFilter::default(), &now, 100, None).await.unwrap().tickets;
    let mut timelines = BTreeMap::new();
    for view in &views {
        timelines.insert(view.ticket_no.clone(), tickets.timeline(&view.ticket_id.to_string()).await.unwrap());
    }
    let approvals = ApprovalQueries(pool).list(None, None, false, &now).await.unwrap();
    let customers = CustomerQueries(pool).by_phone("13812345678").await.unwrap();
    let from = first_day(events);
    let kpis =
        ticket_kpis(pool, &KpiScope::Group, &from, &(from + Duration::days(5)), Bucket::Day, &now).await.unwrap();
    let mut read_models = serde_json::Map::new();
    read_models.insert("tickets".into(), serde_json::json!(views));
    read_models.insert("timelines".into(), serde_json::json!(timelines));
    read_models.insert("approvals".into(), serde_json::json!(approvals));
    read_models.insert("customers_by_phone".into(), serde_json::json!(customers));
    read_models.insert("kpis".into(), serde_json::json!(kpis));
    read_models
}

/// The telephony side's read models, as the API reads them: every call, the call KPIs by hour and
/// by agent, the agent board and every phone of the fixture.
async fn telephony_read_models(runner: &Runner, events: &[FixtureEvent]) -> serde_json::Map<String, serde_json::Value> {
    let pool = runner.read_store().reader();
    let calls = CallQueries(pool).list(&CallFilter::default(), 100, None).await.unwrap().calls;
    let from = first_day(events);
    let to = from + Duration::days(5);
    let kpis = call_kpis(pool, &CallKpiScope::Group, &from, &to, Bucket::Hour).await.unwrap();
    let by_agent = agent_call_totals(pool, None, &from, &to).await.unwrap();
    let agents = AgentQueries(pool);
    let board = agents.board(None).await.unwrap();
    let phone_keys: BTreeSet<(String, String)> = events
        .iter()
        .filter(|event| event.stream_id.starts_with("phone-"))
        .filter_map(|event| {
            Some((event.payload["tenant"].as_str()?.to_owned(), event.payload["extension"].as_str()?.to_owned()))
        })
        .collect();
    let mut phones = Vec::new();
    for (tenant, extension) in &phone_keys {
        phones.push(agents.phone(tenant, extension).await.unwrap());
    }
    let mut read_models = serde_json::Map::new();
    read_models.insert("calls".into(), serde_json::json!(calls));
    read_models.insert("call_kpis".into(), serde_json::json!(kpis));
    read_models.insert("call_kpis_by_agent".into(), serde_json::json!(by_agent));
    read_models.insert("agents".into(), serde_json::json!(board));
    read_models.insert("phones".into(), serde_json::json!(phones));
    read_models
}

/// The day before the fixture's first event: the start of its KPI window.
fn first_day(events: &[FixtureEvent]) -> chrono::DateTime<Utc> {
    let first = events.iter().find_map(|e| e.metadata["occurred_at"].as_str()).expect("a time");
    chrono::DateTime::parse_from_rfc3339(first).unwrap().with_timezone(&Utc) - Duration::days(1)
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
                fingerprint: None,
            };
            log.append(request).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let read = ReadStore::open_sqlite(&dir.path().join("readmodels.db")).await.unwrap();
        let runner = Runner::new(Arc::clone(&log), read, all_projections());
        runner.catch_up_all().await.unwrap_or_else(|e| panic!("{name}: {e}"));
        let checkpoints = runner.checkpoints().await.unwrap();
        assert!(
            checkpoints.iter().all(|c| c.status == "running" && c.position == events.len() as u64),
            "{name}: {checkpoints:?}"
        );
        let folded = Folded::of(&events).unwrap_or_else(|error| panic!("{name}: {error}"));
        let mut read_models = serde_json::Map::new();
        if folded.has_tickets() {
            read_models.extend(ticket_read_models(&runner, &events).await);
        }
        if folded.has_telephony() {
            read_models.extend(telephony_read_models(&runner, &events).await);
        }
        insta::assert_json_snapshot!(format!("{name}__read_models"), read_models, {
            ".timelines.*[].recorded_at" => "[recorded_at]",
        });
    }
}
