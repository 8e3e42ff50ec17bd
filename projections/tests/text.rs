//! Issue 12, text on the read side, on both engines: any text the domain accepts projects and
//! reads back equal (a property test through the command path), and an event already in the log
//! with a NUL (from before the domain refused them) stops no projection: the read models store
//! U+FFFD in its place.

#[path = "../../commands/tests/support/mod.rs"]
mod support;

use chrono::{DateTime, Duration, TimeZone, Utc};
use hotline_commands::handler::CommandContext;
use hotline_commands::store::{AppendRequest, ExpectedVersion, Metadata, NewEvent, StreamId};
use hotline_commands::Hotline;
use hotline_domain::call::CallEvent;
use hotline_domain::customer::CustomerCommand;
use hotline_domain::text::{self, Lines, TextRule, ADDRESS, DESCRIPTION, NAME};
use hotline_domain::ticket::{NewTicket, Source, TicketCreated, TicketEvent, TicketType, Urgency};
use hotline_domain::values::{CustomerId, PhoneNumber, TenantId, TicketId, UserId};
use hotline_domain::EventCodec;
use hotline_projections::all_projections;
use hotline_projections::calls::CallQueries;
use hotline_projections::customers::CustomerQueries;
use hotline_projections::runner::Runner;
use hotline_projections::store::ReadStore;
use hotline_projections::tickets::TicketQueries;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::sync::Arc;
use support::{Raw, TestStore};
use uuid::Uuid;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap()
}

async fn read_store(t: &TestStore) -> ReadStore {
    match &t.raw {
        Raw::Sqlite(path) => ReadStore::open_sqlite(&path.with_file_name("readmodels.db")).await.expect("read models"),
        Raw::Postgres { url, .. } => ReadStore::open_postgres(url).await.expect("read models"),
    }
}

async fn world(t: &TestStore) -> (Hotline, Runner) {
    let hotline = Hotline::new(Arc::clone(&t.store), t.clock.clone(), "hq");
    support::small_organisation(&hotline, t0()).await;
    let runner = Runner::new(Arc::clone(&t.store), read_store(t).await, all_projections());
    (hotline, runner)
}

/// Any character, with the ones that break naive code drawn more often: line breaks and tabs,
/// quotes and backslashes, SQL wildcards, U+FFFD itself, a BOM, zero-width and astral characters.
fn character() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => any::<char>(),
        1 => prop::sample::select(vec!['\n', '\t', '\r', '\'', '"', '\\', '%', '_', '\u{FFFD}', '\u{FEFF}', '\u{200B}', '😀', '热']),
    ]
}

/// Strings a field under `rule` accepts: characters it refuses are left out, and the length is
/// cut to the limit (sometimes exactly the limit).
fn accepted(rule: TextRule) -> impl Strategy<Value = String> {
    let max = rule.max_chars;
    (prop::collection::vec(character(), 1..=max.min(300)), any::<bool>()).prop_map(move |(chars, fill)| {
        let mut kept: Vec<char> = chars.into_iter().filter(|c| text::allowed(*c, rule.lines)).collect();
        if fill && !kept.is_empty() {
            kept = kept.iter().copied().cycle().take(max).collect();
        }
        // A required field must not be blank.
        let value: String = kept.into_iter().take(max).collect();
        if value.trim().is_empty() {
            format!("x{value}").chars().take(max).collect()
        } else {
            value
        }
    })
}

/// Arbitrary accepted strings, put in commands (a ticket's description and address, a customer's
/// name and address), appended and projected, read back equal.
fn accepted_texts_project_and_read_back_equal(
    make: fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = TestStore>>>,
) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let t = runtime.block_on(make());
    let (hotline, runner) = runtime.block_on(world(&t));
    let mut proptest = TestRunner::new(Config { cases: 24, failure_persistence: None, ..Config::default() });
    let strategy = (accepted(DESCRIPTION), accepted(ADDRESS), accepted(NAME));
    let result = proptest.run(&strategy, |(description, address, name)| {
        for (rule, value) in [(DESCRIPTION, &description), (ADDRESS, &address), (NAME, &name)] {
            prop_assert!(text::check("field", rule, value).is_ok(), "the strategy makes accepted text: {value:?}");
            prop_assert!(rule.lines == Lines::Many || !value.contains('\n'));
        }
        runtime.block_on(async {
            let ticket_id = TicketId(Uuid::now_v7());
            let new = NewTicket {
                ticket_id,
                ticket_no: String::new(),
                tenant: TenantId("tj01".into()),
                ticket_type: TicketType("repair".into()),
                urgency: Urgency::Normal,
                source: Source::Phone,
                customer_id: None,
                caller_phone: PhoneNumber::parse("13812345678"),
                address: address.clone(),
                description: description.clone(),
                deadline_override: None,
            };
            hotline
                .create_ticket(&CommandContext::new("agent1", "test", t0()), new)
                .await
                .map_err(|e| TestCaseError::fail(format!("create: {e}")))?;
            let phone = format!("139{:08}", number_of(&ticket_id));
            let customer = CustomerCommand::Register {
                customer_id: CustomerId(Uuid::now_v7()),
                tenant: TenantId("tj01".into()),
                name: name.clone(),
                address: address.clone(),
                site_path: address.clone(),
                phones: vec![PhoneNumber(phone.clone())],
            };
            hotline
                .customer(&CommandContext::new("agent1", "test", t0()), CustomerId(Uuid::now_v7()), &customer)
                .await
                .map_err(|e| TestCaseError::fail(format!("customer: {e}")))?;
            runner.catch_up_all().await.map_err(|e| TestCaseError::fail(format!("projection: {e}")))?;
            let reader = runner.read_store().reader();
            let view = TicketQueries(reader).by_id(&ticket_id.to_string()).await;
            let view = view.map_err(|e| TestCaseError::fail(e.to_string()))?.expect("the ticket");
            prop_assert_eq!(&view.description, &description);
            prop_assert_eq!(&view.address, &address);
            let customers =
                CustomerQueries(reader).by_phone(&phone).await.map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(customers.len(), 1);
            prop_assert_eq!(&customers[0].name, &name);
            prop_assert_eq!(&customers[0].address, &address);
            Ok(())
        })
    });
    drop(runner);
    drop(hotline);
    runtime.block_on(async { drop(t) });
    if let Err(error) = result {
        panic!("{error}");
    }
}

/// Eight digits from a ticket id, so each case's customer has a number of its own.
fn number_of(ticket_id: &TicketId) -> u32 {
    (ticket_id.0.as_u128() % 100_000_000) as u32
}

#[test]
fn sqlite_accepted_texts_project_and_read_back_equal() {
    accepted_texts_project_and_read_back_equal(|| Box::pin(support::sqlite()));
}

#[test]
fn postgres_accepted_texts_project_and_read_back_equal() {
    accepted_texts_project_and_read_back_equal(|| Box::pin(support::postgres()));
}

fn metadata(tenant: &str) -> Metadata {
    Metadata {
        tenant: Some(tenant.into()),
        actor: "agent\u{0}1".into(),
        command_id: Some(Uuid::now_v7()),
        correlation_id: Uuid::now_v7(),
        causation_id: None,
        source: "graphql".into(),
        occurred_at: t0(),
    }
}

/// An old log (written before the domain refused control characters) holds a ticket and a call
/// with NUL bytes; every projection goes on, stores U+FFFD for NUL, and later events project.
async fn a_nul_already_in_the_log_stops_no_projection(t: TestStore) {
    let (hotline, runner) = world(&t).await;
    let ticket_id = TicketId(Uuid::now_v7());
    let created = TicketEvent::Created(TicketCreated {
        ticket_id,
        ticket_no: "tj01-2026-000900".into(),
        tenant: TenantId("tj01".into()),
        ticket_type: TicketType("repair".into()),
        urgency: Urgency::Normal,
        source: Source::Phone,
        customer_id: None,
        caller_phone: Some("138\u{0}0000".into()),
        address: "幸福里\u{0}1号楼".into(),
        description: "暖气\u{0}不热".into(),
        created_by: UserId("agent\u{0}1".into()),
        deadline_at: t0() + Duration::hours(24),
        deadline_hours: Some(24),
        extra_nodes: vec![],
    });
    let call_key = Uuid::now_v7();
    let offered = CallEvent::Offered {
        call_id: "c\u{0}1@pbx".into(),
        tenant: TenantId("tj01".into()),
        caller: "138\u{0}12345678".into(),
        dialled: "96069".into(),
        correlation: None,
        queue: None,
        service_level_seconds: 20,
        short_abandon_seconds: 5,
        blacklisted: false,
        at: t0(),
    };
    for (stream, encoded) in
        [(StreamId::new("ticket", ticket_id), created.encode()), (StreamId::new("call", call_key), offered.encode())]
    {
        let request = AppendRequest {
            stream_id: stream,
            expected: ExpectedVersion::NoStream,
            events: vec![NewEvent::encoded(encoded, metadata("tj01"))],
            command_id: None,
            fingerprint: None,
        };
        t.store.append(request).await.expect("the log takes any JSON string");
    }
    runner.catch_up_all().await.expect("no projection stops on a NUL");
    for checkpoint in runner.checkpoints().await.expect("checkpoints") {
        assert_eq!(checkpoint.status, "running", "{checkpoint:?}");
    }
    let reader = runner.read_store().reader();
    let view = TicketQueries(reader).by_id(&ticket_id.to_string()).await.expect("read").expect("the old ticket");
    assert_eq!(view.description, "暖气\u{FFFD}不热");
    assert_eq!(view.address, "幸福里\u{FFFD}1号楼");
    assert_eq!(view.caller_phone.as_deref(), Some("138\u{FFFD}0000"));
    let call = CallQueries(reader).by_key(&call_key.to_string()).await.expect("read").expect("the old call");
    assert_eq!((call.caller.as_str(), call.call_id.as_str()), ("138\u{FFFD}12345678", "c\u{FFFD}1@pbx"));

    // A ticket registered now still projects: nothing is stuck behind the old event.
    let next = TicketId(Uuid::now_v7());
    let new = NewTicket {
        ticket_id: next,
        ticket_no: String::new(),
        tenant: TenantId("tj01".into()),
        ticket_type: TicketType("repair".into()),
        urgency: Urgency::Normal,
        source: Source::Phone,
        customer_id: None,
        caller_phone: None,
        address: "幸福里2号楼".into(),
        description: "不热".into(),
        deadline_override: None,
    };
    hotline.create_ticket(&CommandContext::new("agent1", "test", t0()), new).await.expect("a normal ticket");
    runner.catch_up_all().await.expect("catch up");
    assert!(TicketQueries(reader).by_id(&next.to_string()).await.expect("read").is_some());
    // A rebuild from position 0 goes through the same path.
    for projection in runner.projections().to_vec() {
        runner.rebuild(&projection, &|_| {}).await.expect("rebuild over the NUL");
    }
}

on_every_backend!(a_nul_already_in_the_log_stops_no_projection);
