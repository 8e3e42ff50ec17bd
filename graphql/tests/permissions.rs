//! The permission table (`Permission::for_action`): every mutation of the schema has its action
//! in it, who may send each command is a reviewed snapshot (any change of it shows up here), and
//! each offline command of `syncBatch` is refused to exactly the roles its mutation is refused to.

mod common;

use chrono::{TimeZone, Utc};
use hotline_commands::clock::ManualClock;
use hotline_commands::handler::CommandContext;
use hotline_commands::store::sqlite::SqliteEventStore;
use hotline_commands::Hotline;
use hotline_domain::organisation::{OrganisationCommand, UnitKind};
use hotline_domain::ticket::{NewTicket, Source, TicketAction, TicketType, Urgency};
use hotline_domain::values::{TenantId, TicketId, UnitCode};
use hotline_graphql::auth::{Action, Caller, Claims, Permission};
use hotline_graphql::schema::Api;
use hotline_projections::runner::Runner;
use hotline_projections::store::ReadStore;
use std::sync::Arc;

/// The fields of the mutation root, in order, read from the SDL.
fn mutation_fields() -> Vec<String> {
    let sdl = hotline_graphql::sdl();
    let body = sdl.split("type MutationRoot {\n").nth(1).expect("a mutation root");
    let body = body.split("\n}").next().expect("its end");
    let mut in_description = false;
    let mut fields = Vec::new();
    for line in body.lines() {
        let line = line.trim();
        if line == "\"\"\"" {
            in_description = !in_description;
        } else if !in_description && !line.starts_with("\"\"\"") && !line.is_empty() {
            let end = line.find(['(', ':']).expect("a field");
            fields.push(line[..end].to_owned());
        }
    }
    fields
}

#[test]
fn every_mutation_has_its_action() {
    let actions: Vec<String> = Action::ALL.iter().map(|a| a.field_name().to_owned()).collect();
    assert_eq!(actions, mutation_fields(), "Action::ALL names every mutation field, in the schema's order");
}

#[test]
fn who_may_send_each_command_is_reviewed() {
    let roles = [
        "group_admin",
        "group_auditor",
        "subsidiary_admin",
        "supervisor",
        "agent",
        "integration",
        "station_lead",
        "field_worker",
    ];
    let caller = |role: &str| {
        let claims = Claims {
            sub: "u1".into(),
            tenant: Some("tj01".into()),
            org_path: "/hq/north/tj01".into(),
            roles: vec![role.into()],
            exp: i64::MAX,
        };
        Caller::from_claims(claims).expect("a known role")
    };
    let table: String = Action::ALL
        .iter()
        .map(|&action| {
            let permission = Permission::for_action(action);
            let allowed: Vec<&str> = roles.iter().copied().filter(|role| caller(role).may(permission)).collect();
            format!("{:<22} {:<20} {}\n", action.field_name(), format!("{permission:?}"), allowed.join(", "))
        })
        .collect();
    insta::assert_snapshot!("who_may_send_each_command", table);
}

/// Each offline command kind, its `args`, and the same command as its mutation (on ticket `{t}`).
const SYNC_AND_MUTATION: [(&str, &str, &str); 9] = [
    (
        "check_in",
        r#"{"latitude": 39.1, "longitude": 117.2, "accuracy_m": 5.0}"#,
        "checkIn(ticketId: \"{t}\", latitude: 39.1, longitude: 117.2, accuracyM: 5.0)",
    ),
    (
        "attach_evidence",
        r#"{"kind": "photo", "uri": "u", "sha256": "00", "taken_at": "2026-11-23T01:00:00Z"}"#,
        "attachEvidence(ticketId: \"{t}\", kind: \"photo\", uri: \"u\", sha256: \"00\", takenAt: \"2026-11-23T01:00:00Z\")",
    ),
    (
        "record_temperature",
        r#"{"room": "卧室", "celsius": 18.5, "taken_at": "2026-11-23T01:00:00Z"}"#,
        "recordTemperature(ticketId: \"{t}\", room: \"卧室\", celsius: 18.5, takenAt: \"2026-11-23T01:00:00Z\")",
    ),
    (
        "record_result",
        r#"{"result": "换阀门", "duration_minutes": 30}"#,
        "recordWorkResult(ticketId: \"{t}\", result: \"换阀门\", durationMinutes: 30)",
    ),
    (
        "collect_signature",
        r#"{"signature_uri": "u", "sha256": "00", "satisfaction": "satisfied"}"#,
        "collectSignature(ticketId: \"{t}\", signatureUri: \"u\", sha256: \"00\", satisfaction: \"satisfied\")",
    ),
    ("complete_work", "{}", "completeWork(ticketId: \"{t}\")"),
    ("accept", r#"{"station": "tj01-st01"}"#, "acceptTicket(ticketId: \"{t}\", station: \"tj01-st01\")"),
    ("reject", r#"{"reason": "不归本站"}"#, "rejectTicket(ticketId: \"{t}\", reason: \"不归本站\")"),
    ("complete_node", r#"{"node": "复核"}"#, "completeWorkflowNode(ticketId: \"{t}\", node: \"复核\")"),
];

/// Whether a refusal is the permission table's (not the ticket's scope, not a business rule).
fn refused_by_role(code: Option<&str>, message: Option<&str>) -> bool {
    code == Some("FORBIDDEN") && message.is_some_and(|m| m.starts_with("your role may not"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_commands_are_refused_to_exactly_the_roles_their_mutations_are() {
    let dir = tempfile::tempdir().unwrap();
    let at = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::new(at));
    let log = Arc::new(SqliteEventStore::open(&dir.path().join("log.db"), clock.clone()).await.unwrap());
    let hotline = Hotline::new(log.clone(), clock.clone(), "hq");
    // A context per command: each has its own command id.
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
    let ticket_id = TicketId(uuid::Uuid::now_v7());
    let new = NewTicket {
        ticket_id,
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
    hotline.ticket(&ctx(), ticket_id, dispatch).await.unwrap();
    let read = ReadStore::open_sqlite(&dir.path().join("readmodels.db")).await.unwrap();
    let runner = Arc::new(Runner::new(log, read, hotline_projections::all_projections()));
    runner.catch_up_all().await.unwrap();
    // Commands that pass are applied, and the mutations wait for the read models to show them.
    let _projecting = runner.spawn();
    let schema = hotline_graphql::build_schema(Api { hotline, runner });

    let station = "/hq/north/tj01/tj01-st01";
    let roles = [
        ("group_admin", None, "/hq"),
        ("group_auditor", None, "/hq"),
        ("subsidiary_admin", Some("tj01"), "/hq/north/tj01"),
        ("supervisor", Some("tj01"), "/hq/north/tj01"),
        ("agent", Some("tj01"), "/hq/north/tj01"),
        ("integration", Some("tj01"), "/hq/north/tj01"),
        ("station_lead", Some("tj01"), station),
        ("field_worker", Some("tj01"), station),
    ];
    for (kind, args, mutation) in SYNC_AND_MUTATION {
        let mut refused_to = Vec::new();
        for (role, tenant, path) in roles {
            let caller = common::caller(&format!("u-{role}"), role, tenant, path);
            let batch = format!(
                "mutation {{ syncBatch(commands: [{{clientCommandId: \"{}\", deviceTime: \"2026-11-23T01:00:00Z\", \
                 ticketId: \"{ticket_id}\", action: \"{kind}\", args: {}}}]) {{ rule message }} }}",
                uuid::Uuid::now_v7(),
                graphql_object(args),
            );
            let synced = common::run(&schema, &caller, &batch).await;
            assert!(synced.errors.is_empty(), "{role} {kind}: {:?}", synced.errors);
            let result = &synced.data.into_json().unwrap()["syncBatch"][0];
            let by_sync = refused_by_role(result["rule"].as_str(), result["message"].as_str());
            let query = format!("mutation {{ {} {{ position }} }}", mutation.replace("{t}", &ticket_id.to_string()));
            let mutated = common::run(&schema, &caller, &query).await;
            let message = mutated.errors.first().map(|e| e.message.as_str());
            let by_mutation = refused_by_role(common::error_code(&mutated).as_deref(), message);
            assert_eq!(by_sync, by_mutation, "{role}: syncBatch {kind} and its mutation are refused alike");
            if by_sync {
                refused_to.push(role);
            }
        }
        assert!(!refused_to.is_empty() && refused_to.len() < roles.len(), "{kind} is refused to some roles only");
    }
}

/// A JSON object as a GraphQL input value (keys unquoted).
fn graphql_object(json: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(json).unwrap();
    let fields: Vec<String> = value.as_object().unwrap().iter().map(|(key, value)| format!("{key}: {value}")).collect();
    format!("{{{}}}", fields.join(", "))
}
