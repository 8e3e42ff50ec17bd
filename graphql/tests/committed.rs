//! A committed command is never reported as a failure: with the read models standing still (no
//! runner task), `createTicket`, `syncBatch` and `requestApproval` answer success with their
//! position and `readModelsCurrent: false`, and a retry of the same `clientCommandId` appends
//! nothing. Before, each answered `UNAVAILABLE "read models reached position X, not Y, in time"`
//! and a client retrying without an id made the ticket twice.

mod common;

use chrono::{TimeZone, Utc};
use hotline_commands::clock::ManualClock;
use hotline_commands::handler::CommandContext;
use hotline_commands::store::sqlite::SqliteEventStore;
use hotline_commands::store::EventStore;
use hotline_commands::Hotline;
use hotline_domain::organisation::{OrganisationCommand, UnitKind};
use hotline_domain::ticket::{NewTicket, Source, TicketAction, TicketType, Urgency};
use hotline_domain::values::{TenantId, TicketId, UnitCode};
use hotline_graphql::schema::Api;
use hotline_projections::runner::Runner;
use hotline_projections::store::ReadStore;
use serde_json::Value;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_commands_answer_success_while_the_read_models_lag() {
    let dir = tempfile::tempdir().unwrap();
    let at = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::new(at));
    let log = Arc::new(SqliteEventStore::open(&dir.path().join("log.db"), clock.clone()).await.unwrap());
    let hotline = Hotline::new(log.clone(), clock.clone(), "hq");
    let ctx = || CommandContext::new("admin", "test", at);
    for (code, kind, parent) in [
        ("hq", UnitKind::Group, None),
        ("north", UnitKind::Division, Some("hq")),
        ("tj01", UnitKind::Subsidiary, Some("north")),
        ("tj01-st01", UnitKind::Station, Some("tj01")),
    ] {
        let command = OrganisationCommand::CreateUnit {
            code: UnitCode(code.into()),
            kind,
            name: code.into(),
            parent: parent.map(|p| UnitCode(p.into())),
        };
        hotline.organisation(&ctx(), &command).await.unwrap();
    }
    let dispatched = TicketId(uuid::Uuid::now_v7());
    let new = NewTicket {
        ticket_id: dispatched,
        ticket_no: String::new(),
        tenant: TenantId("tj01".into()),
        ticket_type: TicketType("repair".into()),
        urgency: Urgency::Normal,
        source: Source::Phone,
        customer_id: None,
        caller_phone: None,
        address: "地址".into(),
        description: "描述".into(),
        deadline_override: None,
    };
    hotline.create_ticket(&ctx(), new).await.unwrap();
    let dispatch =
        TicketAction::Dispatch { station: UnitCode("tj01-st01".into()), note: String::new(), approval: None };
    hotline.ticket(&ctx(), dispatched, dispatch).await.unwrap();
    let read = ReadStore::open_sqlite(&dir.path().join("readmodels.db")).await.unwrap();
    let runner = Arc::new(Runner::new(log.clone(), read, hotline_projections::all_projections()));
    // The read models show what came before, then stand still: no runner task is spawned.
    runner.catch_up_all().await.unwrap();
    let schema = hotline_graphql::build_schema(Api { hotline, runner: Arc::clone(&runner) });
    let agent = common::caller("u-agent", "agent", Some("tj01"), "/hq/north/tj01");
    let lead = common::caller("u-lead", "station_lead", Some("tj01"), "/hq/north/tj01/tj01-st01");

    let cid = uuid::Uuid::now_v7();
    let create = format!(
        "mutation {{ createTicket(input: {{ type: \"repair\", address: \"幸福里\", description: \"暖气不热\" }}, \
         clientCommandId: \"{cid}\") {{ position duplicate readModelsCurrent ticket {{ id }} }} }}"
    );
    let head = log.head().await.unwrap();
    let created = common::run(&schema, &agent, &create).await;
    assert!(created.errors.is_empty(), "a committed ticket is a success: {:?}", created.errors);
    let payload = &created.data.into_json().unwrap()["createTicket"];
    assert_eq!(payload["readModelsCurrent"], false, "{payload}");
    assert_eq!(payload["ticket"], Value::Null, "the read models do not show the new ticket yet: {payload}");
    assert_eq!(payload["duplicate"], false);
    let position = payload["position"].as_u64().expect("the position it wrote");
    assert!(position > head, "{position} was appended after {head}");
    assert_eq!(log.head().await.unwrap(), position);

    // The client retries; the same id appends nothing, and now the read models show it.
    runner.catch_up_all().await.unwrap();
    let retried = common::run(&schema, &agent, &create).await;
    assert!(retried.errors.is_empty(), "{:?}", retried.errors);
    let payload = &retried.data.into_json().unwrap()["createTicket"];
    assert_eq!(payload["duplicate"], true, "{payload}");
    assert_eq!(payload["readModelsCurrent"], true, "{payload}");
    assert!(payload["ticket"]["id"].is_string(), "{payload}");
    assert_eq!(payload["position"].as_u64(), Some(position));
    assert_eq!(log.head().await.unwrap(), position, "the retry appended nothing");

    // An offline batch: applied and committed, the read models behind.
    let batch = format!(
        "mutation {{ syncBatch(commands: [{{clientCommandId: \"{}\", deviceTime: \"2026-11-23T08:55:00Z\", \
         ticketId: \"{dispatched}\", action: \"accept\", args: {{station: \"tj01-st01\"}}}}]) \
         {{ status position readModelsCurrent }} }}",
        uuid::Uuid::now_v7()
    );
    let synced = common::run(&schema, &lead, &batch).await;
    assert!(synced.errors.is_empty(), "{:?}", synced.errors);
    let result = &synced.data.into_json().unwrap()["syncBatch"][0];
    assert_eq!(result["status"], "APPLIED", "{result}");
    assert_eq!(result["readModelsCurrent"], false, "{result}");
    assert_eq!(result["position"].as_u64(), Some(log.head().await.unwrap()));

    // An approval request, the same.
    let request = format!(
        "mutation {{ requestApproval(ticketId: \"{dispatched}\", operation: \"void\", reason: \"重复工单\") \
         {{ approvalId position readModelsCurrent }} }}"
    );
    let requested = common::run(&schema, &agent, &request).await;
    assert!(requested.errors.is_empty(), "{:?}", requested.errors);
    let payload = &requested.data.into_json().unwrap()["requestApproval"];
    assert_eq!(payload["readModelsCurrent"], false, "{payload}");
    assert_eq!(payload["position"].as_u64(), Some(log.head().await.unwrap()));

    // Once the read models catch up, every change shows.
    runner.catch_up_all().await.unwrap();
    let query = format!("{{ ticket(id: \"{dispatched}\") {{ status }} }}");
    let shown = common::run(&schema, &agent, &query).await;
    assert!(shown.errors.is_empty(), "{:?}", shown.errors);
    assert_eq!(shown.data.into_json().unwrap()["ticket"]["status"], "accepted");
}
