//! Read models on every backend: pools and filters, KPIs against a hand computation,
//! idempotent catch-up, failure isolation, rebuild and read-your-writes; calls, the agent board,
//! call KPIs against a hand computation and a queue at an instant.

#[path = "../../commands/tests/support/mod.rs"]
mod support;

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use hotline_commands::handler::CommandContext;
use hotline_commands::store::RecordedEvent;
use hotline_commands::store::{AppendRequest, ExpectedVersion, NewEvent, StreamId};
use hotline_commands::Hotline;
use hotline_domain::agent::{Agent, AgentCommand, AgentStatus};
use hotline_domain::approval::{ApprovalAction, ApprovalLevel, Approver, GatedOperation};
use hotline_domain::call::{Call, CallAction, CallCommand, CallKey, CallStatus, OfferCall, Party};
use hotline_domain::customer::CustomerCommand;
use hotline_domain::organisation::{OrganisationCommand, Role, UnitKind};
use hotline_domain::phone::{Phone, PhoneCommand};
use hotline_domain::telephony::{CallRouting, Extension, QueueId, SeatId, Telephony, TelephonyCommand};
use hotline_domain::ticket::{
    NewTicket, Satisfaction, Source, TicketAction, TicketEvent, TicketStatus, TicketType, Urgency,
};
use hotline_domain::values::{
    ApprovalId, CustomerId, GeoPoint, OrgPath, PhoneNumber, TenantId, TicketId, UnitCode, UserId,
};
use hotline_domain::{Decider, EventCodec};
use hotline_projections::agents::AgentQueries;
use hotline_projections::all_projections;
use hotline_projections::approvals::{ApprovalQueries, ApprovalReach, LevelDecision};
use hotline_projections::call_kpi::{agent_call_totals, call_kpis, CallKpiScope, CallKpis};
use hotline_projections::calls::{CallFilter, CallQueries};
use hotline_projections::customers::CustomerQueries;
use hotline_projections::kpi::{ticket_kpis, Bucket, KpiScope};
use hotline_projections::runner::{Projection, ProjectionError, Runner};
use hotline_projections::store::ReadStore;
use hotline_projections::tickets::{DeadlineFlag, TicketFilter, TicketQueries};
use std::sync::Arc;
use support::{Raw, TestStore};
use uuid::Uuid;

/// 09:00 China Standard Time on 2026-11-23.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap()
}

fn ctx(actor: &str, at: DateTime<Utc>) -> CommandContext {
    CommandContext::new(actor, "test", at)
}

async fn read_store(t: &TestStore) -> ReadStore {
    match &t.raw {
        Raw::Sqlite(path) => {
            ReadStore::open_sqlite(&path.with_file_name("readmodels.db")).await.expect("open read models")
        }
        Raw::Postgres { url, .. } => ReadStore::open_postgres(url).await.expect("open read models"),
    }
}

struct World {
    hotline: Hotline,
    runner: Arc<Runner>,
}

async fn world(t: &TestStore, projections: Vec<Arc<dyn Projection>>) -> World {
    let hotline = Hotline::new(Arc::clone(&t.store), t.clock.clone(), "hq");
    let units = [
        ("hq", UnitKind::Group, None),
        ("north", UnitKind::Division, Some("hq")),
        ("tj01", UnitKind::Subsidiary, Some("north")),
        ("tj02", UnitKind::Subsidiary, Some("north")),
        ("st01", UnitKind::Station, Some("tj01")),
        ("st21", UnitKind::Station, Some("tj02")),
    ];
    for (code, kind, parent) in units {
        let command = OrganisationCommand::CreateUnit {
            code: UnitCode(code.into()),
            kind,
            name: code.into(),
            parent: parent.map(|p| UnitCode(p.into())),
        };
        hotline.organisation(&ctx("admin", t0()), &command).await.unwrap();
    }
    let worker = OrganisationCommand::RegisterUser {
        user_id: UserId("w1".into()),
        name: "王师傅".into(),
        unit: UnitCode("st01".into()),
        roles: vec![Role::FieldWorker],
        phone: None,
    };
    hotline.organisation(&ctx("admin", t0()), &worker).await.unwrap();
    let runner = Arc::new(Runner::new(Arc::clone(&t.store), read_store(t).await, projections));
    World { hotline, runner }
}

async fn create(w: &World, tenant: &str, ticket_type: &str, urgency: Urgency, at: DateTime<Utc>) -> TicketId {
    let ticket_id = TicketId(Uuid::now_v7());
    let new = NewTicket {
        ticket_id,
        ticket_no: String::new(),
        tenant: TenantId(tenant.into()),
        ticket_type: TicketType(ticket_type.into()),
        urgency,
        source: Source::Phone,
        customer_id: None,
        caller_phone: PhoneNumber::parse("13812345678"),
        address: "幸福里1号楼".into(),
        description: "暖气不热".into(),
        deadline_override: None,
    };
    w.hotline.create_ticket(&ctx("agent1", at), new).await.unwrap();
    ticket_id
}

async fn act(
    w: &World,
    actor: &str,
    at: DateTime<Utc>,
    ticket_id: TicketId,
    action: hotline_domain::ticket::TicketRequest,
) {
    let name = action.name();
    w.hotline.ticket(&ctx(actor, at), ticket_id, action).await.unwrap_or_else(|e| panic!("{name}: {e}"));
}

/// Dispatch at +10 min, accept at +`accept`, check in at +`on_site`, complete right after.
async fn work(w: &World, ticket_id: TicketId, accept: i64, on_site: i64) {
    let m = |minutes| t0() + Duration::minutes(minutes);
    act(
        w,
        "agent1",
        m(10),
        ticket_id,
        TicketAction::Dispatch { station: UnitCode("st01".into()), note: String::new(), approval: None },
    )
    .await;
    act(
        w,
        "lead",
        m(accept),
        ticket_id,
        TicketAction::Accept { station: UnitCode("st01".into()), worker: Some(UserId("w1".into())) },
    )
    .await;
    let location = GeoPoint { latitude: 39.1, longitude: 117.2, accuracy_m: 5.0 };
    act(w, "w1", m(on_site), ticket_id, TicketAction::CheckIn { location }).await;
    let result = TicketAction::RecordResult { result: "修好".into(), parts: vec![], duration_minutes: 20 };
    act(w, "w1", m(on_site + 5), ticket_id, result).await;
    act(w, "w1", m(on_site + 30), ticket_id, TicketAction::CompleteWork).await;
}

async fn kpis_match_a_hand_computation(t: TestStore) {
    let w = world(&t, all_projections()).await;
    // A: response 30 min, on site after 60 min, called back satisfied and closed in time.
    let a = create(&w, "tj01", "repair", Urgency::Urgent, t0()).await;
    work(&w, a, 40, 70).await;
    let callback = |s| TicketAction::RecordCallback { satisfaction: s, note: String::new() };
    act(&w, "agent2", t0() + Duration::hours(3), a, callback(Satisfaction::Satisfied)).await;
    act(&w, "agent2", t0() + Duration::hours(3), a, TicketAction::Close { note: String::new() }).await;
    // B: response 10 min, on site after 20 min, called back dissatisfied, still open past its
    // deadline (urgent repair: 8 h).
    let b = create(&w, "tj01", "repair", Urgency::Urgent, t0()).await;
    work(&w, b, 20, 30).await;
    act(&w, "agent2", t0() + Duration::hours(2), b, callback(Satisfaction::Dissatisfied)).await;
    // C: a consultation, due tomorrow, voided: it counts nowhere.
    let c = create(&w, "tj01", "consultation", Urgency::Normal, t0()).await;
    let approval = ApprovalId(Uuid::now_v7());
    w.hotline
        .request_approval(&ctx("agent1", t0()), approval, c, GatedOperation::Void, "重复", serde_json::json!({}))
        .await
        .unwrap();
    // The ticket has no station: tj01's supervisor decides the station level, its admin the next.
    for (level, actor, role) in [
        (ApprovalLevel::Station, "supervisor1", Role::Supervisor),
        (ApprovalLevel::Subsidiary, "boss", Role::SubsidiaryAdmin),
    ] {
        let approve = ApprovalAction::Approve { level, approver: tj01_approver(role), comment: String::new() };
        w.hotline.decide_approval(&ctx(actor, t0()), approval, approve).await.unwrap();
    }
    act(
        &w,
        "agent1",
        t0() + Duration::minutes(5),
        c,
        TicketAction::Void { reason: "重复".into(), approval: Some(approval) },
    )
    .await;
    // D: another tenant's ticket must not count for tj01.
    create(&w, "tj02", "repair", Urgency::Urgent, t0()).await;
    w.runner.catch_up_all().await.unwrap();

    let now = t0() + Duration::hours(9);
    let day_start = Utc.with_ymd_and_hms(2026, 11, 22, 16, 0, 0).unwrap();
    let day_end = day_start + Duration::days(1);
    let scope = KpiScope::Tenant("tj01".into());
    let kpis =
        ticket_kpis(w.runner.read_store().reader(), &scope, &day_start, &day_end, Bucket::Day, &now).await.unwrap();
    assert_eq!(kpis.len(), 1, "{kpis:?}");
    let day = &kpis[0];
    assert_eq!(day.bucket, "2026-11-23");
    assert_eq!((day.responded, day.response_seconds), (2, Some((1800.0 + 600.0) / 2.0)));
    assert_eq!((day.on_site, day.on_site_seconds), (2, Some((3600.0 + 1200.0) / 2.0)));
    assert_eq!((day.closed, day.first_time_fixed, day.first_time_fix_rate()), (1, 1, Some(1.0)));
    assert_eq!((day.due, day.due_closed, day.closure_rate()), (2, 1, Some(0.5)));
    assert_eq!((day.due_overdue, day.overdue_rate()), (1, Some(0.5)));
    assert_eq!((day.rated, day.satisfied, day.satisfaction_rate()), (2, 1, Some(0.5)));
    // By hour (China Standard Time): A and B were accepted in the 09:00 hour.
    let hours =
        ticket_kpis(w.runner.read_store().reader(), &scope, &day_start, &day_end, Bucket::Hour, &now).await.unwrap();
    let nine = hours.iter().find(|k| k.bucket == "2026-11-23T09").expect("09:00 bucket");
    assert_eq!(nine.responded, 2);
    let worker = ticket_kpis(
        w.runner.read_store().reader(),
        &KpiScope::Worker("w1".into()),
        &day_start,
        &day_end,
        Bucket::Day,
        &now,
    )
    .await
    .unwrap();
    assert_eq!(worker[0].responded, 2);
    let group = ticket_kpis(w.runner.read_store().reader(), &KpiScope::Group, &day_start, &day_end, Bucket::Day, &now)
        .await
        .unwrap();
    assert_eq!(group[0].due, 3, "the group also sees tj02's ticket");
}

/// Decides each command against the stream's state and appends what it decides, as the command
/// layer does; telephony commands are wired into `Hotline` elsewhere, so the read side is tested
/// on exactly the events its deciders make.
async fn drive<D: Decider>(t: &TestStore, stream: StreamId, commands: Vec<(DateTime<Utc>, D::Command)>)
where
    D::Command: std::fmt::Debug,
{
    let mut state = D::State::default();
    for (at, command) in commands {
        let events = D::decide(&state, &command).unwrap_or_else(|e| panic!("{command:?}: {e}"));
        let metadata = ctx("sip", at).metadata();
        let new = events.iter().map(|event| NewEvent::encoded(event.encode(), metadata.clone())).collect();
        let request = AppendRequest {
            stream_id: stream.clone(),
            expected: ExpectedVersion::Any,
            events: new,
            command_id: None,
            fingerprint: None,
        };
        t.store.append(request).await.expect("append");
        state = events.iter().fold(state, D::evolve);
    }
}

/// Seconds after [`t0`].
fn s(seconds: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(seconds)
}

/// Offers a call at `at` and runs `then`; returns its key.
async fn call(
    t: &TestStore,
    tenant: &str,
    queue: &str,
    caller: &str,
    blacklisted: bool,
    at: DateTime<Utc>,
    then: Vec<(DateTime<Utc>, CallAction)>,
) -> CallKey {
    let tenant = TenantId(tenant.into());
    let call_id = Uuid::now_v7().to_string();
    let key = CallKey::of(&tenant, &call_id, None);
    let offer = CallAction::Offer(OfferCall {
        call_id,
        tenant,
        caller: PhoneNumber(caller.into()),
        dialled: PhoneNumber("96069".into()),
        correlation: None,
        routing: CallRouting {
            queue: Some(QueueId(queue.into())),
            service_level_seconds: 20,
            short_abandon_seconds: 5,
            blacklisted,
        },
    });
    let commands =
        std::iter::once((at, offer)).chain(then).map(|(at, action)| (at, CallCommand { at, action })).collect();
    drive::<Call>(t, StreamId::new("call", key), commands).await;
    key
}

fn ring(extension: &str, seat: &str, agent: &str) -> CallAction {
    CallAction::Ring {
        extension: Extension(extension.into()),
        seat: Some(SeatId(seat.into())),
        agent: Some(UserId(agent.into())),
    }
}

fn answer(extension: &str, seat: &str, agent: &str) -> CallAction {
    CallAction::Answer {
        extension: Extension(extension.into()),
        seat: Some(SeatId(seat.into())),
        agent: Some(UserId(agent.into())),
    }
}

/// Seats, phones, agents and calls of tj01 (and one of tj02), 2026-11-23 from 09:00 CST:
/// A rings a1, answered after 10 s (within T = 20), held 20 s, ended after 120 s: talk 100.
/// B queued, rings a2, answered after 40 s (beyond T), ended after 60 s: talk 60.
/// C abandoned after 3 s (short); D rings a1, abandoned after 30 s; E blacklisted;
/// G offered at 10:00 to queue `billing`, still waiting. F is tj02's, answered by b1.
/// Wrap-up: a1 30 s, a2 20 s.
async fn telephony_day(t: &TestStore) -> [CallKey; 7] {
    let seat = |name: &str| SeatId(name.into());
    drive::<Telephony>(
        t,
        StreamId::new("telephony", "tj01"),
        vec![
            (s(-900), TelephonyCommand::DefineSeat { seat: seat("A-01"), name_zh: "一号坐席".into() }),
            (s(-900), TelephonyCommand::DefineSeat { seat: seat("A-02"), name_zh: "二号坐席".into() }),
            (s(-900), TelephonyCommand::BindPhone { seat: seat("A-01"), extension: Extension("8001".into()) }),
            (s(-900), TelephonyCommand::BindPhone { seat: seat("A-02"), extension: Extension("8002".into()) }),
        ],
    )
    .await;
    let register = |extension: &str, at| PhoneCommand::Register {
        tenant: TenantId("tj01".into()),
        extension: Extension(extension.into()),
        contact: format!("sip:{extension}@10.0.0.1"),
        expires_seconds: 3600,
        at,
    };
    drive::<Phone>(t, StreamId::new("phone", "tj01-8001"), vec![(s(-800), register("8001", s(-800)))]).await;
    drive::<Phone>(
        t,
        StreamId::new("phone", "tj01-8002"),
        vec![(s(-800), register("8002", s(-800))), (s(-700), PhoneCommand::Unregister { at: s(-700) })],
    )
    .await;
    let sign_in = |agent: &str, tenant: &str, seat_id: &str, at| AgentCommand::SignIn {
        agent: UserId(agent.into()),
        tenant: TenantId(tenant.into()),
        seat: seat(seat_id),
        seat_defined: true,
        seat_occupant: None,
        at,
    };
    let status = |status, at| (at, AgentCommand::SetStatus { status, at });
    drive::<Agent>(
        t,
        StreamId::new("agent", "a1"),
        vec![
            (s(-100), sign_in("a1", "tj01", "A-01", s(-100))),
            status(AgentStatus::Busy, s(10)),
            status(AgentStatus::WrapUp, s(130)),
            status(AgentStatus::Idle, s(160)),
        ],
    )
    .await;
    drive::<Agent>(
        t,
        StreamId::new("agent", "a2"),
        vec![
            (s(-100), sign_in("a2", "tj01", "A-02", s(-100))),
            status(AgentStatus::WrapUp, s(160)),
            status(AgentStatus::Idle, s(180)),
        ],
    )
    .await;
    drive::<Agent>(
        t,
        StreamId::new("agent", "b1"),
        vec![(s(-100), sign_in("b1", "tj02", "B-01", s(-100))), (s(70), AgentCommand::SignOut { at: s(70) })],
    )
    .await;
    let a = call(
        t,
        "tj01",
        "repair",
        "13800000001",
        false,
        s(0),
        vec![
            (s(5), ring("8001", "A-01", "a1")),
            (s(10), answer("8001", "A-01", "a1")),
            (s(30), CallAction::Hold { by: Party::Callee }),
            (s(50), CallAction::Resume { by: Party::Callee }),
            (s(130), CallAction::End { by: Party::Caller }),
        ],
    )
    .await;
    let b = call(
        t,
        "tj01",
        "repair",
        "13800000002",
        false,
        s(60),
        vec![
            (s(61), CallAction::Queue),
            (s(65), ring("8002", "A-02", "a2")),
            (s(100), answer("8002", "A-02", "a2")),
            (s(160), CallAction::End { by: Party::Callee }),
        ],
    )
    .await;
    let c = call(t, "tj01", "repair", "13800000003", false, s(120), vec![(s(123), CallAction::Abandon)]).await;
    let d = call(
        t,
        "tj01",
        "repair",
        "13800000004",
        false,
        s(200),
        vec![(s(201), CallAction::Queue), (s(205), ring("8001", "A-01", "a1")), (s(230), CallAction::Abandon)],
    )
    .await;
    let e = call(t, "tj01", "repair", "13800000005", true, s(300), vec![]).await;
    let f = call(
        t,
        "tj02",
        "repair",
        "13900000001",
        false,
        s(0),
        vec![
            (s(2), ring("9001", "B-01", "b1")),
            (s(4), answer("9001", "B-01", "b1")),
            (s(64), CallAction::End { by: Party::Callee }),
        ],
    )
    .await;
    let g = call(t, "tj01", "billing", "13800000001", false, s(3610), vec![]).await;
    [a, b, c, d, e, f, g]
}

async fn calls_agents_and_call_kpis_match_a_hand_computation(t: TestStore) {
    let w = world(&t, all_projections()).await;
    let [a, b, c, d, e, _f, g] = telephony_day(&t).await;
    w.runner.catch_up_all().await.unwrap();
    let pool = w.runner.read_store().reader();

    // One row per call, every figure from the events.
    let calls = CallQueries(pool);
    let row = calls.by_key(&a.to_string()).await.unwrap().expect("call A");
    assert_eq!((row.status, row.outcome.as_deref()), (CallStatus::Ended, Some("answered")));
    assert_eq!((row.wait_seconds, row.talk_seconds, row.hold_seconds), (Some(10), Some(100), 20));
    assert_eq!(
        (row.within_service_level, row.agent.as_deref(), row.seat.as_deref()),
        (Some(true), Some("a1"), Some("A-01"))
    );
    assert_eq!(row.caller, "13800000001", "stored raw; the API masks it");
    let short = calls.by_key(&c.to_string()).await.unwrap().expect("call C");
    assert_eq!(
        (short.status, short.outcome.as_deref(), short.short_abandon),
        (CallStatus::Abandoned, Some("short_abandoned"), Some(true))
    );
    assert!(short.abandoned_at.is_some() && short.ended_at == short.abandoned_at);
    let refused = calls.by_key(&e.to_string()).await.unwrap().expect("call E");
    assert_eq!((refused.status, refused.outcome.as_deref()), (CallStatus::Rejected, Some("blacklisted")));
    let keys = |filter: CallFilter| {
        let calls = &calls;
        async move {
            calls.list(&filter, 100, None).await.unwrap().calls.into_iter().map(|c| c.call_key).collect::<Vec<_>>()
        }
    };
    let tj01 = || CallFilter { tenants: Some(vec!["tj01".into()]), ..CallFilter::default() };
    assert_eq!(keys(tj01()).await.len(), 6, "tj01 never sees tj02's call");
    assert_eq!(keys(CallFilter::default()).await.len(), 7);
    assert_eq!(keys(CallFilter { status: Some("abandoned".into()), ..tj01() }).await, [c.to_string(), d.to_string()]);
    assert_eq!(keys(CallFilter { agent: Some("a1".into()), ..tj01() }).await, [a.to_string()]);
    assert_eq!(keys(CallFilter { queue: Some("billing".into()), ..tj01() }).await, [g.to_string()]);
    assert_eq!(
        keys(CallFilter { from: Some(s(60)), to: Some(s(200)), ..tj01() }).await,
        [b.to_string(), c.to_string()]
    );
    let page = calls.list(&tj01(), 2, None).await.unwrap();
    assert!(page.has_next_page && page.calls.len() == 2);
    let next = calls.list(&tj01(), 10, Some(page.calls[1].offered_position)).await.unwrap();
    assert_eq!((next.calls.len(), next.has_next_page), (4, false));
    let recent = calls.recent_by_caller("tj01", "13800000001", 10).await.unwrap();
    assert_eq!(recent.iter().map(|c| c.call_key.clone()).collect::<Vec<_>>(), [g.to_string(), a.to_string()]);

    // The queue at an instant, from the calls' own times.
    let queries = &calls;
    let state = |at| async move { queries.queue_state("tj01", "repair", &at).await.unwrap() };
    let ids =
        |views: Vec<hotline_projections::calls::CallView>| views.into_iter().map(|c| c.call_key).collect::<Vec<_>>();
    let at_20 = state(s(20)).await;
    assert_eq!((ids(at_20.waiting), ids(at_20.talking)), (vec![], vec![a.to_string()]));
    let at_90 = state(s(90)).await;
    assert_eq!((ids(at_90.waiting), ids(at_90.talking)), (vec![b.to_string()], vec![a.to_string()]));
    let at_121 = state(s(121)).await;
    assert_eq!((ids(at_121.waiting), ids(at_121.talking)), (vec![c.to_string()], vec![a.to_string(), b.to_string()]));
    let at_230 = state(s(230)).await;
    assert!(at_230.waiting.is_empty() && at_230.talking.is_empty(), "D gave up at 230 s");
    assert_eq!(ids(state(s(229)).await.waiting), [d.to_string()]);

    // Call KPIs against a hand computation.
    let day_start = Utc.with_ymd_and_hms(2026, 11, 22, 16, 0, 0).unwrap();
    let day_end = day_start + Duration::days(1);
    let kpis = |scope: CallKpiScope, bucket| async move {
        call_kpis(pool, &scope, &day_start, &day_end, bucket).await.unwrap()
    };
    let day = kpis(CallKpiScope::Tenant("tj01".into()), Bucket::Day).await;
    assert_eq!(day.len(), 1, "{day:?}");
    let day = &day[0];
    assert_eq!(day.bucket, "2026-11-23");
    assert_eq!((day.offered, day.blacklisted, day.presented), (5, 1, 3));
    assert_eq!((day.answered, day.answer_rate()), (2, Some(2.0 / 5.0)));
    assert_eq!((day.abandoned, day.short_abandoned, day.abandon_rate()), (2, 1, Some(2.0 / 5.0)));
    assert_eq!(day.average_speed_of_answer(), Some((10.0 + 40.0) / 2.0));
    assert_eq!(day.service_level(), Some(0.5));
    assert_eq!(day.handled, 2);
    assert_eq!(day.average_handling_time(), Some((100.0 + 60.0 + 20.0 + 30.0 + 20.0) / 2.0));
    let hours = kpis(CallKpiScope::Tenant("tj01".into()), Bucket::Hour).await;
    let offered: Vec<(&str, i64)> = hours.iter().map(|h| (h.bucket.as_str(), h.offered)).collect();
    assert_eq!(offered, [("2026-11-23T09", 4), ("2026-11-23T10", 1)]);
    let repair = &kpis(CallKpiScope::Queue { tenant: "tj01".into(), queue: "repair".into() }, Bucket::Day).await[0];
    assert_eq!((repair.offered, repair.answered), (4, 2));
    assert_eq!(repair.average_handling_time(), Some((100.0 + 60.0 + 20.0) / 2.0), "wrap-up names no queue");
    let a1 = &kpis(CallKpiScope::Agent { agent: "a1".into(), tenant: Some("tj01".into()) }, Bucket::Day).await[0];
    assert_eq!((a1.offered, a1.presented, a1.answered, a1.presented_answer_rate()), (0, 2, 1, Some(0.5)));
    assert_eq!(a1.average_handling_time(), Some(100.0 + 20.0 + 30.0));
    let group = &kpis(CallKpiScope::Group, Bucket::Day).await[0];
    assert_eq!((group.offered, group.answered, group.handled), (6, 3, 3), "the group also counts tj02's call");

    // The agent board: status, seat phone online or not, today's figures.
    let board = AgentQueries(pool).board(Some(&["tj01".to_owned()])).await.unwrap();
    let summary: Vec<_> = board
        .iter()
        .map(|v| (v.agent.as_str(), v.status, v.signed_in, v.extension.as_deref(), v.phone_registered))
        .collect();
    let idle = Some(AgentStatus::Idle);
    assert_eq!(summary, [("a1", idle, true, Some("8001"), Some(true)), ("a2", idle, true, Some("8002"), Some(false))]);
    assert_eq!(board[1].since, s(180));
    let everyone = AgentQueries(pool).board(None).await.unwrap();
    let b1 = everyone.iter().find(|v| v.agent == "b1").expect("b1");
    assert_eq!((b1.status, b1.signed_in, b1.seat.as_deref()), (None, false, None));
    let phone = AgentQueries(pool).phone("tj01", "8002").await.unwrap().expect("8002");
    assert!(!phone.registered && phone.expires_at.is_none());
    let totals = agent_call_totals(pool, Some(&["tj01".to_owned()]), &day_start, &day_end).await.unwrap();
    let a1 = &totals["a1"];
    assert_eq!((a1.presented, a1.answered, a1.average_talk_time()), (2, 1, Some(100.0)));
    assert!(!totals.contains_key("b1"), "another tenant's agent");

    // A rebuild from position 0 gives the same counters.
    let before = kpis(CallKpiScope::Group, Bucket::Hour).await;
    let projection = w.runner.projections().iter().find(|p| p.id() == "call_kpis").cloned().unwrap();
    assert_eq!(w.runner.step(&projection).await.unwrap(), 0, "caught up: nothing applied twice");
    w.runner.rebuild(&projection, &|_| {}).await.unwrap();
    assert_eq!(kpis(CallKpiScope::Group, Bucket::Hour).await, before);
}

async fn pools_filters_and_scoping(t: TestStore) {
    let w = world(&t, all_projections()).await;
    let pending = create(&w, "tj01", "repair", Urgency::Normal, t0()).await;
    let assigned = create(&w, "tj01", "repair", Urgency::Critical, t0()).await;
    act(
        &w,
        "agent1",
        t0(),
        assigned,
        TicketAction::Dispatch { station: UnitCode("st01".into()), note: String::new(), approval: None },
    )
    .await;
    let returned = create(&w, "tj01", "complaint", Urgency::Normal, t0()).await;
    act(
        &w,
        "agent1",
        t0(),
        returned,
        TicketAction::Dispatch { station: UnitCode("st01".into()), note: String::new(), approval: None },
    )
    .await;
    act(&w, "lead", t0(), returned, TicketAction::Reject { reason: "不在片区".into() }).await;
    let supervised = create(&w, "tj01", "repair", Urgency::Normal, t0()).await;
    act(&w, "boss", t0(), supervised, TicketAction::Supervise { unit: UnitCode("hq".into()), note: "督办".into() })
        .await;
    let escalated = create(&w, "tj01", "repair", Urgency::Normal, t0()).await;
    act(&w, "agent1", t0(), escalated, TicketAction::Escalate { reason: "越级".into() }).await;
    let other = create(&w, "tj02", "repair", Urgency::Normal, t0()).await;
    w.runner.catch_up_all().await.unwrap();

    let queries = TicketQueries(w.runner.read_store().reader());
    let ids = |filter: TicketFilter, now: DateTime<Utc>| {
        let queries = &queries;
        async move {
            let page = queries.list(&filter, &now, 100, None).await.unwrap();
            page.tickets.into_iter().map(|t| t.ticket_id).collect::<Vec<_>>()
        }
    };
    let tj01 = || TicketFilter { tenants: Some(vec!["tj01".into()]), ..TicketFilter::default() };
    for (pool, expected) in [
        ("pending", pending),
        ("assigned", assigned),
        ("returned", returned),
        ("supervised", supervised),
        ("escalated", escalated),
    ] {
        let found = ids(TicketFilter { pool: Some(pool.into()), ..tj01() }, t0()).await;
        assert_eq!(found, vec![expected], "pool {pool}");
    }
    assert_eq!(ids(tj01(), t0()).await.len(), 5, "tj01 never sees tj02's ticket");
    assert_eq!(ids(TicketFilter { tenants: Some(vec![]), ..TicketFilter::default() }, t0()).await.len(), 0);
    assert_eq!(ids(TicketFilter::default(), t0()).await.len(), 6);
    assert_eq!(
        ids(TicketFilter { tenants: Some(vec!["tj02".into()]), ..TicketFilter::default() }, t0()).await,
        vec![other]
    );
    let under_station = TicketFilter { org_path: Some("/hq/north/tj01/st01".into()), ..TicketFilter::default() };
    assert_eq!(ids(under_station, t0()).await.len(), 2, "dispatched ones carry the station's path");
    let under_subsidiary = TicketFilter { org_path: Some("/hq/north/tj01".into()), ..TicketFilter::default() };
    assert_eq!(ids(under_subsidiary, t0()).await.len(), 2);
    // Critical repair: 2 h. At +1.5 h it is near due; at +3 h it is overdue; normal ones (24 h) neither.
    let near = TicketFilter { deadline: Some(DeadlineFlag::NearDue), ..tj01() };
    assert_eq!(ids(near, t0() + Duration::minutes(90)).await, vec![assigned]);
    let red = TicketFilter { deadline: Some(DeadlineFlag::Overdue), ..tj01() };
    assert_eq!(ids(red.clone(), t0() + Duration::hours(3)).await, vec![assigned]);
    assert_eq!(ids(red, t0()).await.len(), 0);
    let page = queries.list(&tj01(), &t0(), 2, None).await.unwrap();
    assert!(page.has_next_page && page.tickets.len() == 2);
    let next = queries.list(&tj01(), &t0(), 10, Some(page.tickets[1].created_position)).await.unwrap();
    assert_eq!(next.tickets.len(), 3);
    assert!(!next.has_next_page);
    let view = queries.by_id(&returned.to_string()).await.unwrap().expect("returned ticket");
    assert_eq!((view.status, view.ticket_type.0.as_str()), (TicketStatus::Returned, "complaint"));
    assert_eq!(queries.by_number(&view.ticket_no).await.unwrap().map(|v| v.ticket_id), Some(returned));
    let timeline = queries.timeline(&returned.to_string()).await.unwrap();
    let types: Vec<&str> = timeline.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["TicketCreated", "TicketDispatched", "TicketRejected"]);
    assert_eq!((timeline[2].actor.as_str(), timeline[2].reason.as_deref()), ("lead", Some("不在片区")));
}

async fn approvals_and_customers(t: TestStore) {
    let w = world(&t, all_projections()).await;
    let ticket = create(&w, "tj01", "repair", Urgency::Normal, t0()).await;
    let approval = ApprovalId(Uuid::now_v7());
    w.hotline
        .request_approval(
            &ctx("agent1", t0()),
            approval,
            ticket,
            GatedOperation::Void,
            "重复工单",
            serde_json::json!({}),
        )
        .await
        .unwrap();
    let approve = ApprovalAction::Approve {
        level: ApprovalLevel::Station,
        approver: tj01_approver(Role::Supervisor),
        comment: String::new(),
    };
    w.hotline.decide_approval(&ctx("supervisor1", t0()), approval, approve).await.unwrap();
    let customer = CustomerId(Uuid::now_v7());
    let register = CustomerCommand::Register {
        customer_id: customer,
        tenant: TenantId("tj01".into()),
        name: "李四".into(),
        address: "幸福里3号楼".into(),
        site_path: "tj01/hs1".into(),
        phones: vec![PhoneNumber("13800000001".into()), PhoneNumber("02212345678".into())],
    };
    w.hotline.customer(&ctx("billing", t0()), customer, &register).await.unwrap();
    let change = CustomerCommand::ChangePhones { phones: vec![PhoneNumber("13800000002".into())] };
    w.hotline.customer(&ctx("billing", t0()), customer, &change).await.unwrap();
    w.runner.catch_up_all().await.unwrap();

    let approvals = ApprovalQueries(w.runner.read_store().reader());
    let tj01 = ["tj01".to_owned()];
    let pending = approvals.list(Some(&tj01), None, true, &t0()).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].next_level, pending[0].overdue), (Some(ApprovalLevel::Subsidiary), false));
    let later = approvals.list(Some(&tj01), None, true, &(t0() + Duration::hours(25))).await.unwrap();
    assert!(later[0].overdue, "pending past its 24 h is flagged");
    assert!(approvals.list(Some(&["tj02".to_owned()]), None, true, &t0()).await.unwrap().is_empty());
    // Each level names who may decide it, and who did.
    let levels: Vec<_> = pending[0]
        .levels
        .iter()
        .map(|l| (l.level, l.role, l.unit.as_deref(), l.decision, l.decided_by.as_deref(), l.decided_at.is_some()))
        .collect();
    assert_eq!(
        levels,
        [
            (
                ApprovalLevel::Station,
                Some(Role::Supervisor),
                Some("tj01"),
                Some(LevelDecision::Approved),
                Some("supervisor1"),
                true
            ),
            (ApprovalLevel::Subsidiary, Some(Role::SubsidiaryAdmin), Some("tj01"), None, None, false),
        ]
    );
    // A station's roles see an approval of a ticket they cannot read only while it waits for them.
    let reach = |path: &str, role| ApprovalReach { path: path.into(), roles: vec![role] };
    let lead = reach("/hq/north/tj01/st01", Role::StationLead);
    assert!(approvals.list(Some(&tj01), Some(&lead), false, &t0()).await.unwrap().is_empty());
    let admin = reach("/hq/north/tj01", Role::SubsidiaryAdmin);
    assert_eq!(approvals.list(Some(&tj01), Some(&admin), true, &t0()).await.unwrap().len(), 1);
    act(
        &w,
        "agent1",
        t0(),
        ticket,
        TicketAction::Dispatch { station: UnitCode("st01".into()), note: String::new(), approval: None },
    )
    .await;
    w.runner.catch_up_all().await.unwrap();
    assert_eq!(approvals.list(Some(&tj01), Some(&lead), false, &t0()).await.unwrap().len(), 1, "its ticket is at st01");

    let customers = CustomerQueries(w.runner.read_store().reader());
    assert!(customers.by_phone("13800000001").await.unwrap().is_empty(), "old number dropped");
    let found = customers.by_phone("13800000002").await.unwrap();
    assert_eq!((found.len(), found[0].name.as_str()), (1, "李四"));
}

/// Fails on the first `TicketEscalated`, like a projection with a bug.
struct Fragile;

#[async_trait]
impl Projection for Fragile {
    fn id(&self) -> &'static str {
        "fragile"
    }
    fn tables(&self) -> &'static [&'static str] {
        &[]
    }
    async fn apply(&self, _: &mut sqlx::AnyConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
        if event.event_type == "TicketEscalated" {
            return Err(ProjectionError::Decode {
                event_type: event.event_type.clone(),
                source: hotline_domain::DecodeError::UnknownEventType {
                    event_type: event.event_type.clone(),
                    schema_version: 1,
                },
            });
        }
        Ok(())
    }
}

async fn catch_up_is_idempotent_failures_stop_one_projection_and_rebuild_matches(t: TestStore) {
    let mut projections = all_projections();
    projections.push(Arc::new(Fragile));
    let w = world(&t, projections).await;
    let first = create(&w, "tj01", "repair", Urgency::Normal, t0()).await;
    work(&w, first, 20, 40).await;
    let escalated = create(&w, "tj01", "repair", Urgency::Normal, t0()).await;
    act(&w, "agent1", t0(), escalated, TicketAction::Escalate { reason: "越级".into() }).await;
    let escalation_position = t.store.head().await.unwrap();
    create(&w, "tj01", "repair", Urgency::Normal, t0()).await;
    let error = w.runner.catch_up_all().await.unwrap_err();
    assert!(
        matches!(&error, ProjectionError::Failed { projection, position, .. } if projection == "fragile" && *position == escalation_position),
        "{error}"
    );

    let head = t.store.head().await.unwrap();
    let checkpoints = w.runner.checkpoints().await.unwrap();
    let by_id = |id: &str| checkpoints.iter().find(|c| c.projection == id).cloned().expect(id);
    assert_eq!((by_id("tickets").position, by_id("tickets").status.as_str()), (head, "running"), "others go on");
    let fragile = by_id("fragile");
    assert_eq!((fragile.status.as_str(), fragile.failed_position), ("failed", Some(escalation_position)));
    assert!(fragile.position < escalation_position, "the failing batch was not committed");
    assert!(
        matches!(
            w.runner.step(w.runner.projections().last().expect("fragile is last")).await,
            Err(ProjectionError::Stopped { .. })
        ),
        "it stays stopped"
    );

    let snapshot = || async {
        let queries = TicketQueries(w.runner.read_store().reader());
        let tickets = queries.list(&TicketFilter::default(), &t0(), 100, None).await.unwrap().tickets;
        let mut timelines = Vec::new();
        for ticket in &tickets {
            timelines.push(queries.timeline(&ticket.ticket_id.to_string()).await.unwrap());
        }
        (tickets, timelines)
    };
    let before = snapshot().await;
    assert_eq!(w.runner.step(&w.runner.projections()[0]).await.unwrap(), 0, "caught up: nothing applied twice");
    assert_eq!(snapshot().await, before);
    let report = w.runner.rebuild(&w.runner.projections()[0], &|_| {}).await.unwrap();
    assert_eq!(report.events, head);
    assert_eq!(snapshot().await, before, "a rebuild from position 0 gives the same read models");
}

/// Fails on `TicketEscalated` while `broken` holds, with a transient error (the database went
/// away mid-batch) or a permanent one (an event it cannot apply), counting its attempts.
struct Flaky {
    broken: std::sync::atomic::AtomicU32,
    transient: bool,
    attempts: std::sync::atomic::AtomicU32,
}

impl Flaky {
    fn new(failures: u32, transient: bool) -> Arc<Flaky> {
        let (broken, attempts) = (failures.into(), 0.into());
        Arc::new(Flaky { broken, transient, attempts })
    }
}

#[async_trait]
impl Projection for Flaky {
    fn id(&self) -> &'static str {
        "flaky"
    }
    fn tables(&self) -> &'static [&'static str] {
        &[]
    }
    async fn apply(&self, _: &mut sqlx::AnyConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
        use std::sync::atomic::Ordering::SeqCst;
        if event.event_type != "TicketEscalated" {
            return Ok(());
        }
        self.attempts.fetch_add(1, SeqCst);
        if self.broken.fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1)).is_err() {
            return Ok(());
        }
        if self.transient {
            return Err(ProjectionError::Database(sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into())));
        }
        Err(ProjectionError::Decode {
            event_type: event.event_type.clone(),
            source: hotline_domain::DecodeError::UnknownEventType {
                event_type: event.event_type.clone(),
                schema_version: 1,
            },
        })
    }
}

async fn escalated_ticket(w: &World) -> u64 {
    let ticket = create(w, "tj01", "repair", Urgency::Normal, t0()).await;
    act(w, "agent1", t0(), ticket, TicketAction::Escalate { reason: "越级".into() }).await;
    w.hotline.store().head().await.unwrap()
}

/// Issue 13: a transient error mid-batch ended the projection's task, and was once stored as a
/// permanent failure. Now the batch is retried with back-off, shown as `retrying`, and nothing is
/// recorded as failed.
async fn a_transient_error_is_retried_until_it_passes_and_never_stored_as_a_failure(t: TestStore) {
    use hotline_projections::health::ProjectionStatus;
    let flaky = Flaky::new(4, true);
    let w = world(&t, vec![Arc::clone(&flaky) as Arc<dyn Projection>]).await;
    let head = escalated_ticket(&w).await;
    let handles = w.runner.spawn();
    let mut seen_retrying = false;
    let started = std::time::Instant::now();
    while w.runner.wait_for(head, std::time::Duration::from_millis(20)).await.is_err() {
        let [health] = w.runner.health().try_into().expect("one projection");
        if health.status == ProjectionStatus::Retrying {
            seen_retrying = true;
            assert!(health.error.as_deref().is_some_and(|e| e.contains("reset")), "{health:?}");
            assert_eq!(health.lag_events, head - health.position, "{health:?}");
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "never caught up: {health:?}");
    }
    assert!(seen_retrying, "the retries were shown");
    assert_eq!(flaky.attempts.load(std::sync::atomic::Ordering::SeqCst), 5, "four failures, then applied");
    let [health] = w.runner.health().try_into().expect("one projection");
    assert_eq!(
        (health.status, health.lag_events, health.retries, health.error),
        (ProjectionStatus::Running, 0, 0, None)
    );
    let checkpoints = w.runner.checkpoints().await.unwrap();
    assert_eq!((checkpoints[0].status.as_str(), checkpoints[0].position), ("running", head));
    for handle in handles {
        handle.abort();
    }
    tokio::task::yield_now().await;
}

/// Issue 13: a failure stored earlier (once, a transient error) kept the projection stopped
/// across restarts. A live runner retries a stopped projection once at start; an event that still
/// cannot be applied stops it again, and its runner stays alive, saying so.
async fn a_stopped_projection_is_retried_once_at_start_and_a_bad_event_stops_it_again(t: TestStore) {
    use hotline_projections::health::ProjectionStatus;
    let once = Flaky::new(1, false);
    let w = world(&t, vec![Arc::clone(&once) as Arc<dyn Projection>]).await;
    let head = escalated_ticket(&w).await;
    w.runner.catch_up_all().await.expect_err("the bad event stops it");
    assert_eq!(w.runner.checkpoints().await.unwrap()[0].status, "failed");
    let [health] = w.runner.health().try_into().expect("one projection");
    assert_eq!((health.status, health.failed_position), (ProjectionStatus::Failed, Some(head)));
    // A new runner (a restart, a fixed binary) tries the event again, and it passes now.
    let restarted = Arc::new(Runner::new(Arc::clone(w.hotline.store()), w.runner.read_store().clone(), vec![once]));
    let handles = restarted.spawn();
    restarted.wait_for(head, std::time::Duration::from_secs(10)).await.expect("caught up after the retry");
    assert_eq!(w.runner.checkpoints().await.unwrap()[0].status, "running");
    for handle in handles {
        handle.abort();
    }

    let broken = Flaky::new(u32::MAX, false);
    let read = w.runner.read_store().clone();
    let again = Arc::new(Runner::new(Arc::clone(w.hotline.store()), read, vec![broken as Arc<dyn Projection>]));
    let head = escalated_ticket(&w).await;
    let handles = again.spawn();
    let started = std::time::Instant::now();
    loop {
        let [health] = again.health().try_into().expect("one projection");
        if health.status == ProjectionStatus::Failed {
            assert_eq!(health.failed_position, Some(head), "{health:?}");
            assert!(health.error.as_deref().is_some_and(|e| e.contains("TicketEscalated")), "{health:?}");
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "{health:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(handles.iter().all(|h| !h.is_finished()), "a stopped projection's runner stays alive");
    for handle in handles {
        handle.abort();
    }
}

async fn live_runner_answers_read_your_writes(t: TestStore) {
    let w = world(&t, all_projections()).await;
    let handles = w.runner.spawn();
    let ticket_id = TicketId(Uuid::now_v7());
    let new = NewTicket {
        ticket_id,
        ticket_no: String::new(),
        tenant: TenantId("tj01".into()),
        ticket_type: TicketType("repair".into()),
        urgency: Urgency::Normal,
        source: Source::Wechat,
        customer_id: None,
        caller_phone: None,
        address: "阳光花园".into(),
        description: "漏水".into(),
        deadline_override: None,
    };
    let created = w.hotline.create_ticket(&ctx("agent1", t0()), new).await.unwrap();
    let position = created.outcome.last_position.unwrap();
    w.runner.wait_for(position, std::time::Duration::from_secs(10)).await.expect("read models reach the write");
    let view = TicketQueries(w.runner.read_store().reader()).by_id(&ticket_id.to_string()).await.unwrap();
    assert_eq!(view.map(|v| v.source), Some(Source::Wechat));
    let beyond = w.runner.wait_for(position + 100, std::time::Duration::from_millis(200)).await;
    assert!(matches!(beyond, Err(hotline_projections::runner::WaitError::Timeout { .. })), "{beyond:?}");
    for handle in handles {
        handle.abort();
    }
}

/// Issue 11: views are typed where rows are read. A stored value that does not decode is an error
/// naming the column and the value; the API used to show a bad time as 1970 and pass bad codes on.
async fn a_row_that_does_not_decode_is_an_error_naming_column_and_value(t: TestStore) {
    let w = world(&t, all_projections()).await;
    let ticket = create(&w, "tj01", "repair", Urgency::Normal, t0()).await;
    w.runner.catch_up_all().await.unwrap();
    let reader = w.runner.read_store().reader();
    let queries = TicketQueries(reader);
    let view = queries.by_id(&ticket.to_string()).await.unwrap().expect("the ticket");
    assert_eq!((view.ticket_id, view.status), (ticket, TicketStatus::Registered));
    assert!(view.deadline_at > view.created_at && view.created_at == t0());
    let check = |column: &'static str, value: &'static str| {
        let ticket = ticket.to_string();
        async move {
            let sql = format!("UPDATE rm_ticket SET {column} = $1 WHERE ticket_id = $2");
            sqlx::query(&sql).bind(value).bind(&ticket).execute(reader).await.unwrap();
            let error = TicketQueries(reader).by_id(&ticket).await.expect_err("an undecodable row");
            assert!(matches!(error, sqlx::Error::ColumnDecode { .. }), "{error:?}");
            let message = error.to_string();
            assert!(message.contains(column) && message.contains(value), "{column}: {message}");
        }
    };
    check("deadline_at", "2026-13-45T99:00:00Z").await;
    check("deadline_at", "").await;
    check("status", "lost").await;
}

/// A projection applied one event at a time (the trait's default batch): the reference that
/// batched application is checked against.
struct PerEvent(Arc<dyn Projection>);

#[async_trait]
impl Projection for PerEvent {
    fn id(&self) -> &'static str {
        self.0.id()
    }
    fn tables(&self) -> &'static [&'static str] {
        self.0.tables()
    }
    async fn apply(&self, conn: &mut sqlx::AnyConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
        self.0.apply(conn, event).await
    }
}

/// A projection given its events in batches of `.1`, so that batches end in the middle of
/// streams (a ticket's row is then read back and folded on). A batch that fails panics: the
/// runner's event-by-event retry would otherwise hide it.
struct Chunked(Arc<dyn Projection>, usize);

#[async_trait]
impl Projection for Chunked {
    fn id(&self) -> &'static str {
        self.0.id()
    }
    fn tables(&self) -> &'static [&'static str] {
        self.0.tables()
    }
    async fn apply(&self, conn: &mut sqlx::AnyConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
        self.0.apply(conn, event).await
    }
    async fn apply_batch(
        &self,
        conn: &mut sqlx::AnyConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        for chunk in events.chunks(self.1) {
            let applied = self.0.apply_batch(conn, chunk).await;
            applied.unwrap_or_else(|error| panic!("{} in batches of {}: {error}", self.0.id(), self.1));
        }
        Ok(())
    }
}

/// Every row of every read-model table, each value as text (`NULL` apart), rows sorted.
async fn every_row(read: &ReadStore) -> Vec<(&'static str, Vec<Vec<String>>)> {
    use sqlx::{Row, TypeInfo, ValueRef};
    let mut tables = Vec::new();
    for projection in all_projections() {
        for table in projection.tables() {
            let rows = sqlx::query(&format!("SELECT * FROM {table}")).fetch_all(read.reader()).await.unwrap();
            let mut values: Vec<Vec<String>> = rows
                .iter()
                .map(|row| {
                    (0..row.len())
                        .map(|i| {
                            let raw = row.try_get_raw(i).unwrap();
                            if raw.is_null() {
                                return "NULL".to_owned();
                            }
                            let kind = raw.type_info().name().to_owned();
                            row.try_get::<String, _>(i)
                                .or_else(|_| row.try_get::<i64, _>(i).map(|v| v.to_string()))
                                .or_else(|_| row.try_get::<f64, _>(i).map(|v| format!("{v:?}")))
                                .map(|v| format!("{kind}:{v}"))
                                .unwrap_or_else(|e| panic!("{table} column {i}: {e}"))
                        })
                        .collect()
                })
                .collect();
            values.sort();
            tables.push((*table, values));
        }
    }
    tables
}

/// Batched application (every batch size, and the projections' own batches) leaves every
/// read-model table exactly as applying the same log one event at a time does.
async fn batched_application_matches_per_event_application(t: TestStore) {
    let w = world(&t, all_projections()).await;
    telephony_day(&t).await;
    let callback = |s| TicketAction::RecordCallback { satisfaction: s, note: "回访".into() };
    let dispatch =
        || TicketAction::Dispatch { station: UnitCode("st01".into()), note: "派单".into(), approval: None };
    for n in 0..6i64 {
        let at = t0() + Duration::minutes(n * 7);
        let urgency = if n % 2 == 0 { Urgency::Urgent } else { Urgency::Normal };
        let ticket = create(&w, if n == 5 { "tj02" } else { "tj01" }, "repair", urgency, at).await;
        match n {
            0 => {
                work(&w, ticket, 40, 70).await;
                act(&w, "agent2", at + Duration::hours(3), ticket, callback(Satisfaction::Satisfied)).await;
                act(&w, "agent2", at + Duration::hours(3), ticket, TicketAction::Close { note: "好".into() }).await;
            }
            1 => {
                work(&w, ticket, 20, 30).await;
                act(&w, "agent2", at + Duration::hours(2), ticket, callback(Satisfaction::Dissatisfied)).await;
            }
            2 => {
                act(&w, "agent1", at, ticket, dispatch()).await;
                act(&w, "lead", at, ticket, TicketAction::Reject { reason: "不在片区".into() }).await;
                act(&w, "agent1", at, ticket, TicketAction::Urge { note: "快".into() }).await;
                act(&w, "agent1", at, ticket, TicketAction::Urge { note: "再快".into() }).await;
            }
            3 => {
                let supervise = TicketAction::Supervise { unit: UnitCode("hq".into()), note: "督办".into() };
                act(&w, "boss", at, ticket, supervise).await;
                act(&w, "agent1", at, ticket, TicketAction::Escalate { reason: "越级".into() }).await;
            }
            _ => {}
        }
    }
    let voided = create(&w, "tj01", "consultation", Urgency::Normal, t0()).await;
    let approval = ApprovalId(Uuid::now_v7());
    w.hotline
        .request_approval(&ctx("agent1", t0()), approval, voided, GatedOperation::Void, "重复", serde_json::json!({}))
        .await
        .unwrap();
    for (level, actor, role) in [
        (ApprovalLevel::Station, "supervisor1", Role::Supervisor),
        (ApprovalLevel::Subsidiary, "boss", Role::SubsidiaryAdmin),
    ] {
        let approve = ApprovalAction::Approve { level, approver: tj01_approver(role), comment: String::new() };
        w.hotline.decide_approval(&ctx(actor, t0()), approval, approve).await.unwrap();
    }
    let void = TicketAction::Void { reason: "重复".into(), approval: Some(approval) };
    act(&w, "agent1", t0() + Duration::minutes(5), voided, void).await;
    let customer = CustomerId(Uuid::now_v7());
    let register = CustomerCommand::Register {
        customer_id: customer,
        tenant: TenantId("tj01".into()),
        name: "李四".into(),
        address: "幸福里3号楼".into(),
        site_path: "tj01/hs1".into(),
        phones: vec![PhoneNumber("13800000001".into())],
    };
    w.hotline.customer(&ctx("billing", t0()), customer, &register).await.unwrap();
    // An event of a ticket that was never created: no row, but a timeline entry.
    let orphan = TicketEvent::Escalated { by: UserId("agent1".into()), reason: "无主".into() }.encode();
    let new = NewEvent {
        event_id: Uuid::now_v7(),
        event_type: orphan.event_type,
        schema_version: orphan.schema_version,
        payload: orphan.payload,
        metadata: hotline_commands::store::Metadata {
            tenant: Some("tj01".into()),
            actor: "agent1".into(),
            command_id: None,
            correlation_id: Uuid::now_v7(),
            causation_id: None,
            source: "test".into(),
            occurred_at: t0(),
        },
    };
    let stream = StreamId::new("ticket", Uuid::now_v7());
    let request = AppendRequest {
        stream_id: stream,
        expected: ExpectedVersion::Any,
        events: vec![new],
        command_id: None,
        fingerprint: None,
    };
    t.store.append(request).await.unwrap();
    let head = t.store.head().await.unwrap();

    let log = Arc::clone(&t.store);
    let read = w.runner.read_store().clone();
    let rebuilt = |projections: Vec<Arc<dyn Projection>>| {
        let (log, read) = (Arc::clone(&log), read.clone());
        async move {
            let runner = Runner::new(log, read.clone(), projections);
            let report = runner.rebuild_all(runner.projections(), &|_| {}).await.unwrap();
            assert_eq!(report.events, head);
            every_row(&read).await
        }
    };
    let per_event = rebuilt(all_projections().into_iter().map(|p| Arc::new(PerEvent(p)) as _).collect()).await;
    let tickets = &per_event.iter().find(|(table, _)| *table == "rm_ticket").expect("rm_ticket").1;
    assert_eq!(tickets.len(), 7, "the scenario's tickets");
    assert!(per_event.iter().all(|(_, rows)| !rows.is_empty()), "every table has rows: {per_event:?}");
    for size in [1, 2, 3, 5, 8, 13, usize::MAX] {
        let chunked = all_projections().into_iter().map(|p| Arc::new(Chunked(p, size)) as _).collect();
        assert_eq!(rebuilt(chunked).await, per_event, "batches of {size}");
    }
    // The live runner's batches too, from an empty read model.
    let whole = all_projections().into_iter().map(|p| Arc::new(Chunked(p, usize::MAX)) as _).collect();
    let runner = Runner::new(Arc::clone(&log), read.clone(), whole);
    for projection in runner.projections() {
        for table in projection.tables() {
            sqlx::query(&format!("DELETE FROM {table}")).execute(read.reader()).await.unwrap();
        }
    }
    sqlx::query("DELETE FROM rm_checkpoints").execute(read.reader()).await.unwrap();
    runner.catch_up_all().await.unwrap();
    assert_eq!(every_row(&read).await, per_event, "live batches");
}

/// A batch the tickets projection folds fails as a whole on an event its statements refuse (a
/// second `TicketCreated` of one ticket): the runner still stops at exactly that event, commits
/// nothing of its batch, and a rebuild names the same event.
async fn a_failing_event_in_a_folded_batch_is_found_and_nothing_of_its_batch_is_committed(t: TestStore) {
    let w = world(&t, all_projections()).await;
    w.runner.catch_up_all().await.unwrap();
    let before = t.store.head().await.unwrap();
    let first = create(&w, "tj01", "repair", Urgency::Normal, t0()).await;
    let stream = StreamId::new("ticket", first.0);
    let again = t.store.read_stream(&stream, 0).await.unwrap().remove(0);
    let duplicate = NewEvent {
        event_id: Uuid::now_v7(),
        event_type: again.event_type.clone(),
        schema_version: again.schema_version,
        payload: again.payload.clone(),
        metadata: again.meta().unwrap(),
    };
    let request = AppendRequest {
        stream_id: stream,
        expected: ExpectedVersion::Any,
        events: vec![duplicate],
        command_id: None,
        fingerprint: None,
    };
    t.store.append(request).await.unwrap();
    let bad = t.store.head().await.unwrap();
    create(&w, "tj01", "repair", Urgency::Normal, t0()).await;
    let error = w.runner.catch_up_all().await.unwrap_err();
    assert!(
        matches!(&error, ProjectionError::Failed { projection, position, .. } if projection == "tickets" && *position == bad),
        "{error}"
    );
    let checkpoints = w.runner.checkpoints().await.unwrap();
    let tickets = checkpoints.iter().find(|c| c.projection == "tickets").expect("tickets");
    assert_eq!((tickets.position, tickets.status.as_str(), tickets.failed_position), (before, "failed", Some(bad)));
    let queries = TicketQueries(w.runner.read_store().reader());
    assert!(queries.by_id(&first.to_string()).await.unwrap().is_none(), "nothing of the failed batch is committed");
    let error = w.runner.rebuild(&w.runner.projections()[0], &|_| {}).await.unwrap_err();
    assert!(matches!(&error, ProjectionError::Failed { position, .. } if *position == bad), "{error}");
}

/// Issue 15: a call completed elsewhere counts as connected (接通) with no answer seen, and an
/// answered call whose end was not observed stays answered, is counted apart and stays out of
/// handled calls and AHT.
async fn calls_completed_elsewhere_or_never_seen_ending_count_as_documented(t: TestStore) {
    let w = world(&t, all_projections()).await;
    let elsewhere = call(
        &t,
        "tj01",
        "repair",
        "13800000011",
        false,
        s(0),
        vec![(s(2), ring("8001", "A-01", "a1")), (s(9), CallAction::CompleteElsewhere)],
    )
    .await;
    let unobserved = call(
        &t,
        "tj01",
        "repair",
        "13800000012",
        false,
        s(10),
        vec![
            (s(12), ring("8001", "A-01", "a1")),
            (s(15), answer("8001", "A-01", "a1")),
            (s(7_300), CallAction::EndUnobserved { last_seen: s(75) }),
        ],
    )
    .await;
    call(
        &t,
        "tj01",
        "repair",
        "13800000013",
        false,
        s(20),
        vec![(s(25), answer("8001", "A-01", "a1")), (s(95), CallAction::End { by: Party::Caller })],
    )
    .await;
    w.runner.catch_up_all().await.unwrap();
    let pool = w.runner.read_store().reader();
    let calls = CallQueries(pool);
    let row = calls.by_key(&elsewhere.to_string()).await.unwrap().expect("completed elsewhere");
    assert_eq!((row.status, row.outcome.as_deref()), (CallStatus::CompletedElsewhere, Some("answered_elsewhere")));
    assert_eq!(row.wait_seconds, Some(9));
    let row = calls.by_key(&unobserved.to_string()).await.unwrap().expect("end unobserved");
    assert_eq!((row.status, row.outcome.as_deref()), (CallStatus::EndUnobserved, Some("answered")));
    assert_eq!((row.talk_seconds, row.ended_at), (Some(60), Some(s(75))), "talk known to the last message");
    let from = s(0) - Duration::hours(1);
    let day = call_kpis(pool, &CallKpiScope::Tenant("tj01".into()), &from, &(from + Duration::days(2)), Bucket::Day)
        .await
        .unwrap();
    let totals = day.iter().fold(CallKpis::default(), |mut sum, bucket| {
        sum.offered += bucket.offered;
        sum.answered += bucket.answered;
        sum.answered_elsewhere += bucket.answered_elsewhere;
        sum.ends_unobserved += bucket.ends_unobserved;
        sum.handled += bucket.handled;
        sum.talk_seconds += bucket.talk_seconds;
        sum.abandoned += bucket.abandoned;
        sum
    });
    assert_eq!((totals.offered, totals.answered, totals.answered_elsewhere), (3, 2, 1));
    assert_eq!(totals.answer_rate(), Some(1.0), "completed elsewhere is connected, not lost");
    assert_eq!((totals.abandoned, totals.abandon_rate()), (0, Some(0.0)));
    assert_eq!(
        (totals.ends_unobserved, totals.handled, totals.talk_seconds),
        (1, 1, 70),
        "only the observed end is handled"
    );
}

on_every_backend!(
    kpis_match_a_hand_computation,
    calls_agents_and_call_kpis_match_a_hand_computation,
    calls_completed_elsewhere_or_never_seen_ending_count_as_documented,
    pools_filters_and_scoping,
    approvals_and_customers,
    catch_up_is_idempotent_failures_stop_one_projection_and_rebuild_matches,
    live_runner_answers_read_your_writes,
    a_transient_error_is_retried_until_it_passes_and_never_stored_as_a_failure,
    a_stopped_projection_is_retried_once_at_start_and_a_bad_event_stops_it_again,
    a_row_that_does_not_decode_is_an_error_naming_column_and_value,
    batched_application_matches_per_event_application,
    a_failing_event_in_a_folded_batch_is_found_and_nothing_of_its_batch_is_committed,
);

/// An approver of tj01 with this role, working at the subsidiary.
fn tj01_approver(role: Role) -> Approver {
    Approver { roles: vec![role], tenant: Some(TenantId("tj01".into())), path: OrgPath("/hq/north/tj01".into()) }
}
