//! The application service end to end on every backend: the ticket lifecycle, numbering under
//! concurrency, approvals gating operations, idempotency and conflict retry.

mod support;

use chrono::{Duration, TimeZone, Utc};
use hotline_commands::handler::CommandContext;
use hotline_commands::service::ServiceError;
use hotline_commands::Hotline;
use hotline_domain::approval::{ApprovalAction, ApprovalLevel, GatedOperation};
use hotline_domain::organisation::{OrganisationCommand, Role, UnitKind};
use hotline_domain::settings::SettingsCommand;
use hotline_domain::ticket::{
    NewTicket, Satisfaction, Source, TicketAction, TicketError, TicketEvent, TicketRequest, TicketType, Urgency,
};
use hotline_domain::values::{ApprovalId, GeoPoint, PhoneNumber, TenantId, TicketId, UnitCode, UserId};
use std::collections::BTreeSet;
use std::sync::Arc;
use support::TestStore;
use uuid::Uuid;

fn ctx(actor: &str) -> CommandContext {
    CommandContext::new(actor, "test", Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap())
}

async fn hotline(t: &TestStore) -> Hotline {
    let hotline = Hotline::new(Arc::clone(&t.store), t.clock.clone(), "hq");
    let units = [
        ("hq", UnitKind::Group, None),
        ("north", UnitKind::Division, Some("hq")),
        ("tj01", UnitKind::Subsidiary, Some("north")),
        ("st01", UnitKind::Station, Some("tj01")),
        ("st02", UnitKind::Station, Some("tj01")),
        ("g01", UnitKind::Grid, Some("st01")),
    ];
    for (code, kind, parent) in units {
        let command = OrganisationCommand::CreateUnit {
            code: UnitCode(code.into()),
            kind,
            name: format!("{code} 单位"),
            parent: parent.map(|p| UnitCode(p.into())),
        };
        hotline.organisation(&ctx("admin"), &command).await.expect("create unit");
    }
    let register = OrganisationCommand::RegisterUser {
        user_id: UserId("worker1".into()),
        name: "王师傅".into(),
        unit: UnitCode("st01".into()),
        roles: vec![Role::FieldWorker],
        phone: PhoneNumber::parse("13900001111"),
    };
    hotline.organisation(&ctx("admin"), &register).await.expect("register worker");
    hotline
}

fn new_ticket(ticket_id: TicketId) -> NewTicket {
    NewTicket {
        ticket_id,
        ticket_no: String::new(),
        tenant: TenantId("tj01".into()),
        ticket_type: TicketType("repair".into()),
        urgency: Urgency::Urgent,
        source: Source::Phone,
        customer_id: None,
        caller_phone: PhoneNumber::parse("13812345678"),
        address: "和平区幸福里3号楼2单元501".into(),
        description: "暖气片不热".into(),
        deadline_override: None,
    }
}

async fn create(hotline: &Hotline) -> TicketId {
    let ticket_id = TicketId(Uuid::now_v7());
    hotline.create_ticket(&ctx("agent1"), new_ticket(ticket_id)).await.expect("create ticket");
    ticket_id
}

async fn act(hotline: &Hotline, actor: &str, ticket_id: TicketId, request: TicketRequest) -> Vec<TicketEvent> {
    let name = request.name();
    hotline.ticket(&ctx(actor), ticket_id, request).await.unwrap_or_else(|e| panic!("{name}: {e}")).events
}

fn dispatch(station: &str, approval: Option<ApprovalId>) -> TicketRequest {
    TicketAction::Dispatch { station: UnitCode(station.into()), note: "请尽快处理".into(), approval }
}

async fn ticket_lifecycle_through_every_core_node(t: TestStore) {
    let hotline = hotline(&t).await;
    let ticket_id = TicketId(Uuid::now_v7());
    let created = hotline.create_ticket(&ctx("agent1"), new_ticket(ticket_id)).await.expect("create");
    assert_eq!(created.ticket_no, "tj01-2026-000001");
    act(&hotline, "agent1", ticket_id, dispatch("st01", None)).await;
    let accept = TicketAction::Accept { station: UnitCode("st01".into()), worker: Some(UserId("worker1".into())) };
    act(&hotline, "lead1", ticket_id, accept).await;
    let location = GeoPoint { latitude: 39.1, longitude: 117.2, accuracy_m: 8.0 };
    act(&hotline, "worker1", ticket_id, TicketAction::CheckIn { location }).await;
    let result = TicketAction::RecordResult { result: "更换阀芯".into(), parts: vec![], duration_minutes: 40 };
    act(&hotline, "worker1", ticket_id, result).await;
    act(&hotline, "worker1", ticket_id, TicketAction::CompleteWork).await;
    let callback = TicketAction::RecordCallback { satisfaction: Satisfaction::Satisfied, note: "用户满意".into() };
    act(&hotline, "agent2", ticket_id, callback).await;
    let closed = act(&hotline, "agent2", ticket_id, TicketAction::Close { note: String::new() }).await;
    assert!(matches!(&closed[..], [TicketEvent::Closed { first_time_fix: true, overdue: false, .. }]), "{closed:?}");
    let stream = t.store.read_stream(&hotline_commands::store::StreamId::new("ticket", ticket_id), 1).await.unwrap();
    let types: Vec<&str> = stream.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "TicketCreated",
            "TicketDispatched",
            "TicketAccepted",
            "WorkerCheckedIn",
            "WorkResultRecorded",
            "WorkCompleted",
            "CallbackRecorded",
            "TicketClosed"
        ]
    );
    let meta = stream[0].meta().unwrap();
    assert_eq!((meta.tenant.as_deref(), meta.actor.as_str(), meta.source.as_str()), (Some("tj01"), "agent1", "test"));
    let TicketEvent::Created(payload) =
        hotline_domain::EventCodec::decode("TicketCreated", 2, stream[0].payload.clone()).unwrap()
    else {
        panic!("not created")
    };
    assert_eq!(payload.deadline_hours, Some(8), "urgent repair: 8 h by the built-in matrix");
    assert_eq!(payload.deadline_at, ctx("x").occurred_at + Duration::hours(8));
}

async fn concurrent_creates_get_unique_ticket_numbers(t: TestStore) {
    let hotline = hotline(&t).await;
    let tasks: Vec<_> = (0..24)
        .map(|_| {
            let hotline = hotline.clone();
            tokio::spawn(async move {
                hotline
                    .create_ticket(&ctx("agent1"), new_ticket(TicketId(Uuid::now_v7())))
                    .await
                    .expect("create")
                    .ticket_no
            })
        })
        .collect();
    let mut numbers = BTreeSet::new();
    for task in tasks {
        numbers.insert(task.await.unwrap());
    }
    let expected: BTreeSet<String> = (1..=24).map(|n| format!("tj01-2026-{n:06}")).collect();
    assert_eq!(numbers, expected);
}

async fn gated_operations_wait_for_their_approval(t: TestStore) {
    let hotline = hotline(&t).await;
    let ticket_id = create(&hotline).await;
    act(&hotline, "agent1", ticket_id, dispatch("st01", None)).await;
    act(&hotline, "lead1", ticket_id, TicketAction::Accept { station: UnitCode("st01".into()), worker: None }).await;
    let give_back = |approval| TicketAction::Return { reason: "非本站片区".into(), approval };
    let head = t.store.head().await.unwrap();
    let refused = hotline.ticket(&ctx("lead1"), ticket_id, give_back(None)).await;
    assert!(
        matches!(refused, Err(ServiceError::Ticket(TicketError::ApprovalRequired(GatedOperation::Return)))),
        "{refused:?}"
    );
    assert_eq!(t.store.head().await.unwrap(), head, "a rejected command appends nothing");

    let approval_id = ApprovalId(Uuid::now_v7());
    hotline
        .request_approval(
            &ctx("lead1"),
            approval_id,
            ticket_id,
            GatedOperation::Return,
            "非本站片区",
            serde_json::json!({}),
        )
        .await
        .expect("request approval");
    let pending = hotline.ticket(&ctx("lead1"), ticket_id, give_back(Some(approval_id))).await;
    assert!(matches!(pending, Err(ServiceError::Ticket(TicketError::ApprovalNotGranted(id))) if id == approval_id));
    // The requester is st01's lead: another lead of st01 decides.
    let approve = ApprovalAction::Approve {
        level: ApprovalLevel::Station,
        approver: support::approver(Role::StationLead),
        comment: "同意".into(),
    };
    hotline.decide_approval(&ctx("stationboss"), approval_id, approve).await.expect("approve");
    let returned = act(&hotline, "lead1", ticket_id, give_back(Some(approval_id))).await;
    assert!(matches!(&returned[..], [TicketEvent::Returned { approval_id: Some(id), .. }] if *id == approval_id));

    // A three-level chain rejected at group level never lets the cancel through.
    let chain = SettingsCommand::ConfigureApprovalChain {
        operation: GatedOperation::Cancel,
        levels: vec![ApprovalLevel::Station, ApprovalLevel::Subsidiary, ApprovalLevel::Group],
    };
    hotline.settings(&ctx("admin"), &TenantId("tj01".into()), &chain).await.expect("configure chain");
    let cancel_approval = ApprovalId(Uuid::now_v7());
    let requested = hotline
        .request_approval(
            &ctx("agent1"),
            cancel_approval,
            ticket_id,
            GatedOperation::Cancel,
            "用户撤诉",
            serde_json::json!({}),
        )
        .await
        .expect("request");
    let [hotline_domain::approval::ApprovalEvent::Requested { approvers, .. }] = &requested.events[..] else {
        panic!("{:?}", requested.events)
    };
    // Each level names its approver: the ticket's station lead, its subsidiary's admin, the group's.
    let named: Vec<(Role, &str, &str)> =
        approvers.iter().map(|a| (a.role, a.unit.0.as_str(), a.path.0.as_str())).collect();
    assert_eq!(
        named,
        [
            (Role::StationLead, "st01", "/hq/north/tj01/st01"),
            (Role::SubsidiaryAdmin, "tj01", "/hq/north/tj01"),
            (Role::GroupAdmin, "hq", "/hq"),
        ]
    );
    for (level, actor, role) in [
        (ApprovalLevel::Station, "stationboss", Role::StationLead),
        (ApprovalLevel::Subsidiary, "boss", Role::SubsidiaryAdmin),
    ] {
        let approve = ApprovalAction::Approve { level, approver: support::approver(role), comment: String::new() };
        hotline.decide_approval(&ctx(actor), cancel_approval, approve).await.expect("approve level");
    }
    let reject = ApprovalAction::Reject {
        level: ApprovalLevel::Group,
        approver: support::approver(Role::GroupAdmin),
        reason: "须继续处理".into(),
    };
    hotline.decide_approval(&ctx("groupboss"), cancel_approval, reject).await.expect("reject at group");
    let cancel = TicketAction::Cancel { reason: "用户撤诉".into(), approval: Some(cancel_approval) };
    let refused = hotline.ticket(&ctx("agent1"), ticket_id, cancel).await;
    assert!(matches!(refused, Err(ServiceError::Ticket(TicketError::ApprovalNotGranted(_)))), "{refused:?}");
}

async fn duplicate_commands_return_the_first_result(t: TestStore) {
    let hotline = hotline(&t).await;
    let ticket_id = TicketId(Uuid::now_v7());
    let create_ctx = ctx("agent1");
    let first = hotline.create_ticket(&create_ctx, new_ticket(ticket_id)).await.unwrap();
    let head = t.store.head().await.unwrap();
    let again = hotline.create_ticket(&create_ctx, new_ticket(ticket_id)).await.unwrap();
    assert_eq!((again.ticket_no, again.outcome.last_position), (first.ticket_no, first.outcome.last_position));
    assert!(again.outcome.duplicate);
    let urge_ctx = ctx("agent1");
    let urge = || TicketAction::Urge { note: "用户再次来电".into() };
    let first = hotline.ticket(&urge_ctx, ticket_id, urge()).await.unwrap();
    let again = hotline.ticket(&urge_ctx, ticket_id, urge()).await.unwrap();
    assert_eq!(again.outcome.last_position, first.outcome.last_position);
    assert!(again.events.is_empty() && again.outcome.duplicate);
    assert_eq!(t.store.head().await.unwrap(), head + 1, "one urge, however often it is sent");
}

async fn bad_input_is_refused_with_the_rule_and_appends_nothing(t: TestStore) {
    let hotline = hotline(&t).await;
    let ticket_id = create(&hotline).await;
    let head = t.store.head().await.unwrap();
    let grid = hotline.ticket(&ctx("agent1"), ticket_id, dispatch("g01", None)).await.unwrap_err();
    assert_eq!(grid.rule(), Some("NotAStation"));
    let unknown = hotline.ticket(&ctx("agent1"), ticket_id, dispatch("nowhere", None)).await.unwrap_err();
    assert!(matches!(unknown, ServiceError::NotFound { what: "unit", .. }), "{unknown:?}");
    let missing = hotline.ticket(&ctx("agent1"), TicketId(Uuid::now_v7()), dispatch("st01", None)).await.unwrap_err();
    assert_eq!(missing.rule(), Some("TicketNotFound"));
    let foreign = NewTicket { tenant: TenantId("tj99".into()), ..new_ticket(TicketId(Uuid::now_v7())) };
    let foreign = hotline.create_ticket(&ctx("agent1"), foreign).await.unwrap_err();
    assert!(matches!(foreign, ServiceError::NotFound { what: "tenant", .. }), "{foreign:?}");
    let empty = NewTicket { description: " ".into(), ..new_ticket(TicketId(Uuid::now_v7())) };
    let empty = hotline.create_ticket(&ctx("agent1"), empty).await.unwrap_err();
    assert_eq!(empty.rule(), Some("Required"));
    assert_eq!(t.store.head().await.unwrap(), head, "no number is used up by a refused ticket either");
}

async fn concurrent_commands_on_one_ticket_retry_on_conflict(t: TestStore) {
    let hotline = hotline(&t).await;
    let ticket_id = create(&hotline).await;
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let hotline = hotline.clone();
            tokio::spawn(async move {
                hotline
                    .ticket(&ctx("agent1"), ticket_id, TicketAction::Urge { note: String::new() })
                    .await
                    .map(|e| e.events)
            })
        })
        .collect();
    let mut counts = BTreeSet::new();
    for task in tasks {
        for event in task.await.unwrap().expect("urge succeeds after retries") {
            let TicketEvent::Urged { count, .. } = event else { panic!("{event:?}") };
            counts.insert(count);
        }
    }
    assert_eq!(counts, BTreeSet::from([1, 2, 3, 4]));
}

/// A number is found from its own numbering stream, whatever else the log holds: other tickets,
/// other years, many unrelated events, and gaps (a number allocated to a ticket never created).
async fn ticket_id_by_number_reads_the_numbering_stream(t: TestStore) {
    let hotline = hotline(&t).await;
    let last_year = CommandContext::new("agent1", "test", Utc.with_ymd_and_hms(2025, 12, 31, 12, 0, 0).unwrap());
    let old = TicketId(Uuid::now_v7());
    assert_eq!(hotline.create_ticket(&last_year, new_ticket(old)).await.unwrap().ticket_no, "tj01-2025-000001");
    let mut tickets = Vec::new();
    for _ in 0..5 {
        let ticket_id = create(&hotline).await;
        for _ in 0..20 {
            act(&hotline, "agent1", ticket_id, TicketAction::Urge { note: "用户再次来电".into() }).await;
        }
        tickets.push(ticket_id);
    }
    // A crash between allocating a number and creating its ticket leaves the number to nobody.
    let gap = hotline_domain::numbering::NumberingEvent::Allocated { ticket_id: TicketId(Uuid::now_v7()) };
    let stream = hotline_commands::store::StreamId::new("ticketno", "tj01-2026");
    let metadata = ctx("agent1").metadata();
    let append = hotline_commands::store::AppendRequest {
        stream_id: stream,
        expected: hotline_commands::store::ExpectedVersion::Any,
        events: vec![hotline_commands::store::NewEvent::encoded(hotline_domain::EventCodec::encode(&gap), metadata)],
        command_id: None,
        fingerprint: None,
    };
    t.store.append(append).await.expect("allocate a number");
    assert!(t.store.head().await.unwrap() > 100, "the log holds many other events");

    let check = |ticket_no: &'static str, expected: Option<TicketId>| {
        let hotline = hotline.clone();
        async move { assert_eq!(hotline.ticket_id_by_number(ticket_no).await.unwrap(), expected, "{ticket_no}") }
    };
    check("tj01-2025-000001", Some(old)).await;
    check("tj01-2026-000001", Some(tickets[0])).await;
    check("tj01-2026-000005", Some(tickets[4])).await;
    check("tj01-2026-000006", None).await;
    check("tj01-2026-000007", None).await;
    check("tj01-2024-000001", None).await;
    check("tj02-2026-000001", None).await;
    check("tj01-2026-1", None).await;
    check("tj01-2026", None).await;
    check("", None).await;
}

/// A long stream is folded from its snapshot on: loads through the service's snapshots give the
/// state a full fold gives, also after another process (another service over the same log, no
/// shared snapshots) appended to it, and short streams are not kept.
async fn long_streams_load_from_their_snapshot_and_stay_current(t: TestStore) {
    use hotline_commands::handler::{execute_with, load};
    use hotline_commands::snapshots::Snapshots;
    use hotline_commands::store::StreamId;
    use hotline_domain::organisation::Organisation;
    let snapshots = Snapshots::new(8);
    let stream = StreamId::new("org", "long");
    let unit = |n: usize| OrganisationCommand::CreateUnit {
        code: UnitCode(format!("u{n:03}")),
        kind: if n == 0 { UnitKind::Group } else { UnitKind::Division },
        name: format!("单位{n}"),
        parent: (n > 0).then(|| UnitCode("u000".into())),
    };
    for n in 0..70 {
        execute_with::<Organisation>(t.store.as_ref(), &stream, &unit(n), &ctx("admin"), Some(&snapshots))
            .await
            .unwrap();
    }
    assert_eq!(snapshots.len(), 1, "kept once the stream is {} events long", Snapshots::MIN_VERSION);
    // Another process appends without these snapshots.
    for n in 70..75 {
        execute_with::<Organisation>(t.store.as_ref(), &stream, &unit(n), &ctx("admin"), None).await.unwrap();
    }
    let (from_snapshot, version) =
        hotline_commands::handler::load_with::<Organisation>(t.store.as_ref(), &stream, Some(&snapshots))
            .await
            .unwrap();
    let (folded, full_version) = load::<Organisation>(t.store.as_ref(), &stream).await.unwrap();
    assert_eq!((version, full_version), (75, 75));
    assert_eq!(from_snapshot, folded, "the snapshot plus its tail is the whole fold");
    assert_eq!(from_snapshot.units.len(), 75);
    let short = StreamId::new("org", "short");
    execute_with::<Organisation>(t.store.as_ref(), &short, &unit(0), &ctx("admin"), Some(&snapshots)).await.unwrap();
    assert_eq!(snapshots.len(), 1, "a short stream is folded whole each time, not kept");
}

on_every_backend!(
    ticket_lifecycle_through_every_core_node,
    concurrent_creates_get_unique_ticket_numbers,
    gated_operations_wait_for_their_approval,
    duplicate_commands_return_the_first_result,
    bad_input_is_refused_with_the_rule_and_appends_nothing,
    concurrent_commands_on_one_ticket_retry_on_conflict,
    ticket_id_by_number_reads_the_numbering_stream,
    long_streams_load_from_their_snapshot_and_stay_current,
);
