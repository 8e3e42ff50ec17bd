//! Read models on every backend: pools and filters, KPIs against a hand computation,
//! idempotent catch-up, failure isolation, rebuild and read-your-writes.

#[path = "../../commands/tests/support/mod.rs"]
mod support;

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use hotline_commands::handler::CommandContext;
use hotline_commands::store::RecordedEvent;
use hotline_commands::Hotline;
use hotline_domain::approval::{ApprovalAction, ApprovalLevel, GatedOperation};
use hotline_domain::customer::CustomerCommand;
use hotline_domain::organisation::{OrganisationCommand, Role, UnitKind};
use hotline_domain::ticket::{NewTicket, Satisfaction, Source, TicketAction, TicketType, Urgency};
use hotline_domain::values::{ApprovalId, CustomerId, GeoPoint, PhoneNumber, TenantId, TicketId, UnitCode, UserId};
use hotline_projections::all_projections;
use hotline_projections::approvals::ApprovalQueries;
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
    for (level, unit) in [(ApprovalLevel::Station, "st01"), (ApprovalLevel::Subsidiary, "tj01")] {
        let approve = ApprovalAction::Approve { level, unit: UnitCode(unit.into()), comment: String::new() };
        w.hotline.decide_approval(&ctx("boss", t0()), approval, approve).await.unwrap();
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
        assert_eq!(found, vec![expected.to_string()], "pool {pool}");
    }
    assert_eq!(ids(tj01(), t0()).await.len(), 5, "tj01 never sees tj02's ticket");
    assert_eq!(ids(TicketFilter { tenants: Some(vec![]), ..TicketFilter::default() }, t0()).await.len(), 0);
    assert_eq!(ids(TicketFilter::default(), t0()).await.len(), 6);
    assert_eq!(
        ids(TicketFilter { tenants: Some(vec!["tj02".into()]), ..TicketFilter::default() }, t0()).await,
        vec![other.to_string()]
    );
    let under_station = TicketFilter { org_path: Some("/hq/north/tj01/st01".into()), ..TicketFilter::default() };
    assert_eq!(ids(under_station, t0()).await.len(), 2, "dispatched ones carry the station's path");
    let under_subsidiary = TicketFilter { org_path: Some("/hq/north/tj01".into()), ..TicketFilter::default() };
    assert_eq!(ids(under_subsidiary, t0()).await.len(), 2);
    // Critical repair: 2 h. At +1.5 h it is near due; at +3 h it is overdue; normal ones (24 h) neither.
    let near = TicketFilter { deadline: Some(DeadlineFlag::NearDue), ..tj01() };
    assert_eq!(ids(near, t0() + Duration::minutes(90)).await, vec![assigned.to_string()]);
    let red = TicketFilter { deadline: Some(DeadlineFlag::Overdue), ..tj01() };
    assert_eq!(ids(red.clone(), t0() + Duration::hours(3)).await, vec![assigned.to_string()]);
    assert_eq!(ids(red, t0()).await.len(), 0);
    let page = queries.list(&tj01(), &t0(), 2, None).await.unwrap();
    assert!(page.has_next_page && page.tickets.len() == 2);
    let next = queries.list(&tj01(), &t0(), 10, Some(page.tickets[1].created_position)).await.unwrap();
    assert_eq!(next.tickets.len(), 3);
    assert!(!next.has_next_page);
    let view = queries.by_id(&returned.to_string()).await.unwrap().expect("returned ticket");
    assert_eq!((view.status.as_str(), view.ticket_type.as_str()), ("returned", "complaint"));
    assert_eq!(queries.by_number(&view.ticket_no).await.unwrap().map(|v| v.ticket_id), Some(returned.to_string()));
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
        unit: UnitCode("st01".into()),
        comment: String::new(),
    };
    w.hotline.decide_approval(&ctx("lead", t0()), approval, approve).await.unwrap();
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
    let pending = approvals.list(Some(&tj01), true, &t0()).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].next_level.as_deref(), pending[0].overdue), (Some("subsidiary"), false));
    let later = approvals.list(Some(&tj01), true, &(t0() + Duration::hours(25))).await.unwrap();
    assert!(later[0].overdue, "pending past its 24 h is flagged");
    assert!(approvals.list(Some(&["tj02".to_owned()]), true, &t0()).await.unwrap().is_empty());

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
        matches!(w.runner.step(&w.runner.projections()[3]).await, Err(ProjectionError::Stopped { .. })),
        "it stays stopped"
    );

    let snapshot = || async {
        let queries = TicketQueries(w.runner.read_store().reader());
        let tickets = queries.list(&TicketFilter::default(), &t0(), 100, None).await.unwrap().tickets;
        let mut timelines = Vec::new();
        for ticket in &tickets {
            timelines.push(queries.timeline(&ticket.ticket_id).await.unwrap());
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
    assert_eq!(view.map(|v| v.source), Some("wechat".to_owned()));
    let beyond = w.runner.wait_for(position + 100, std::time::Duration::from_millis(200)).await;
    assert!(matches!(beyond, Err(hotline_projections::runner::WaitError::Timeout { .. })), "{beyond:?}");
    for handle in handles {
        handle.abort();
    }
}

on_every_backend!(
    kpis_match_a_hand_computation,
    pools_filters_and_scoping,
    approvals_and_customers,
    catch_up_is_idempotent_failures_stop_one_projection_and_rebuild_matches,
    live_runner_answers_read_your_writes,
);
