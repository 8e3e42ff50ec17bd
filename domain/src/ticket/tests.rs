//! Given-when-then tests of the ticket decider, one per rule.

use super::*;
use crate::approval::{ApprovalEvidence, ApprovalStatus, GatedOperation};
use crate::organisation::UnitKind;
use crate::settings::{DeadlineRule, TicketPolicy};
use crate::spec::given;
use crate::values::{ApprovalId, CustomerId, GeoPoint, OrgPath, PhoneNumber, TenantId, TicketId, UnitCode, UserId};
use crate::{Decider, DecodeError, EventCodec};
use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::json;
use std::collections::BTreeSet;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

fn ticket_id() -> TicketId {
    TicketId(Uuid::from_u128(1))
}

fn approval_id(n: u128) -> ApprovalId {
    ApprovalId(Uuid::from_u128(n))
}

fn user(name: &str) -> UserId {
    UserId(name.into())
}

fn tenant() -> TenantId {
    TenantId("tj01".into())
}

fn unit(code: &str, kind: UnitKind) -> UnitRef {
    UnitRef {
        code: UnitCode(code.into()),
        kind,
        path: OrgPath(format!("/hq/north/tj01/{code}")),
        tenant: Some(tenant()),
    }
}

fn station_a() -> UnitRef {
    unit("st01", UnitKind::Station)
}

fn station_b() -> UnitRef {
    unit("st02", UnitKind::Station)
}

fn cmd(actor: &str, action: TicketAction) -> TicketCommand {
    cmd_at(actor, at(), action)
}

fn cmd_at(actor: &str, when: DateTime<Utc>, action: TicketAction) -> TicketCommand {
    TicketCommand { actor: user(actor), at: when, policy: TicketPolicy::default(), action }
}

fn cmd_under(policy: TicketPolicy, actor: &str, action: TicketAction) -> TicketCommand {
    TicketCommand { policy, ..cmd(actor, action) }
}

/// A policy under which `operation` needs no approval (an empty chain).
fn ungated(operation: GatedOperation) -> TicketPolicy {
    TicketPolicy { approval_chains: vec![(operation, vec![])], ..TicketPolicy::default() }
}

fn evidence(n: u128, operation: GatedOperation, status: ApprovalStatus) -> ApprovalEvidence {
    ApprovalEvidence { approval_id: approval_id(n), ticket_id: ticket_id(), operation, status }
}

fn granted(n: u128, operation: GatedOperation) -> ApprovalEvidence {
    evidence(n, operation, ApprovalStatus::Granted)
}

fn digest() -> String {
    "0123456789abcdef".repeat(4)
}

fn gps() -> GeoPoint {
    GeoPoint { latitude: 39.13, longitude: 117.2, accuracy_m: 8.0 }
}

fn node(code: &str, after: CoreNode) -> WorkflowNode {
    WorkflowNode { code: code.into(), label_zh: "质检".into(), after }
}

fn new_ticket() -> NewTicket {
    NewTicket {
        ticket_id: ticket_id(),
        ticket_no: "tj01-2026-000001".into(),
        tenant: tenant(),
        ticket_type: TicketType("repair".into()),
        urgency: Urgency::Normal,
        source: Source::Phone,
        customer_id: Some(CustomerId(Uuid::from_u128(2))),
        caller_phone: Some(PhoneNumber("13812345678".into())),
        address: "天津市南开区复康路 10 号 3-2-501".into(),
        description: "暖气不热".into(),
        deadline_override: None,
    }
}

/// What creating [`new_ticket`] under the default policy records: repair, normal, phone = 24 h.
fn created_payload() -> TicketCreated {
    TicketCreated {
        ticket_id: ticket_id(),
        ticket_no: "tj01-2026-000001".into(),
        tenant: tenant(),
        ticket_type: TicketType("repair".into()),
        urgency: Urgency::Normal,
        source: Source::Phone,
        customer_id: Some(CustomerId(Uuid::from_u128(2))),
        caller_phone: Some("13812345678".into()),
        address: "天津市南开区复康路 10 号 3-2-501".into(),
        description: "暖气不热".into(),
        created_by: user("agent1"),
        deadline_at: at() + Duration::hours(24),
        deadline_hours: Some(24),
        extra_nodes: vec![],
    }
}

fn created() -> TicketEvent {
    TicketEvent::Created(created_payload())
}

fn created_with_nodes(nodes: Vec<WorkflowNode>) -> TicketEvent {
    TicketEvent::Created(TicketCreated { extra_nodes: nodes, ..created_payload() })
}

fn dispatched_to(station: &UnitRef) -> TicketEvent {
    TicketEvent::Dispatched {
        station: station.code.clone(),
        station_path: station.path.clone(),
        by: user("agent1"),
        note: "请尽快处理".into(),
        redispatch: false,
        approval_id: None,
    }
}

fn dispatched() -> TicketEvent {
    dispatched_to(&station_a())
}

/// A redispatch to station A after a dissatisfied callback.
fn redispatched(approval_id: Option<ApprovalId>) -> TicketEvent {
    TicketEvent::Dispatched {
        station: UnitCode("st01".into()),
        station_path: station_a().path,
        by: user("agent1"),
        note: "请尽快处理".into(),
        redispatch: true,
        approval_id,
    }
}

fn accepted() -> TicketEvent {
    TicketEvent::Accepted { station: UnitCode("st01".into()), worker: Some(user("worker1")), by: user("lead1") }
}

fn rejected() -> TicketEvent {
    TicketEvent::Rejected {
        station: UnitCode("st01".into()), reason: "不在本站服务区".into(), by: user("lead1")
    }
}

fn checked_in() -> TicketEvent {
    TicketEvent::CheckedIn { worker: user("worker1"), location: gps() }
}

fn result_recorded() -> TicketEvent {
    TicketEvent::WorkResultRecorded {
        by: user("worker1"),
        result: "更换阀门".into(),
        parts: vec![part(1)],
        duration_minutes: 45,
    }
}

fn work_completed() -> TicketEvent {
    TicketEvent::WorkCompleted { by: user("worker1"), station: UnitCode("st01".into()) }
}

fn callback_recorded(satisfaction: Satisfaction) -> TicketEvent {
    TicketEvent::CallbackRecorded { by: user("agent1"), satisfaction, note: "已回访".into() }
}

fn closed() -> TicketEvent {
    TicketEvent::Closed { by: user("agent1"), note: "办结".into(), first_time_fix: true, overdue: false }
}

fn voided() -> TicketEvent {
    TicketEvent::Voided { by: user("agent1"), reason: "重复工单".into(), approval_id: None }
}

fn cancelled() -> TicketEvent {
    TicketEvent::Cancelled { by: user("agent1"), reason: "用户撤销".into(), approval_id: None }
}

fn part(quantity: u32) -> Part {
    Part { code: "v-20".into(), name: "阀门".into(), quantity }
}

fn extend(mut history: Vec<TicketEvent>, more: impl IntoIterator<Item = TicketEvent>) -> Vec<TicketEvent> {
    history.extend(more);
    history
}

fn up_to_dispatched() -> Vec<TicketEvent> {
    vec![created(), dispatched()]
}

fn up_to_returned() -> Vec<TicketEvent> {
    extend(up_to_dispatched(), [rejected()])
}

fn up_to_accepted() -> Vec<TicketEvent> {
    extend(up_to_dispatched(), [accepted()])
}

fn up_to_on_site() -> Vec<TicketEvent> {
    extend(up_to_accepted(), [checked_in()])
}

fn up_to_result() -> Vec<TicketEvent> {
    extend(up_to_on_site(), [result_recorded()])
}

fn up_to_completed() -> Vec<TicketEvent> {
    extend(up_to_result(), [work_completed()])
}

fn up_to_callback_done() -> Vec<TicketEvent> {
    extend(up_to_completed(), [callback_recorded(Satisfaction::Satisfied)])
}

fn up_to_rework_required() -> Vec<TicketEvent> {
    extend(up_to_completed(), [callback_recorded(Satisfaction::Dissatisfied)])
}

fn state_of(history: &[TicketEvent]) -> TicketState {
    Ticket::fold(history)
}

/// Decides `command` on `history` and folds the result: the state after the command.
fn state_after(history: Vec<TicketEvent>, command: TicketCommand) -> TicketState {
    let events = given::<Ticket>(history.clone()).when(command).events();
    state_of(&extend(history, events))
}

fn invalid(action: &'static str, status: &'static str) -> TicketError {
    TicketError::InvalidTransition { action, status }
}

fn dispatch(station: UnitRef, approval: Option<ApprovalEvidence>) -> TicketAction {
    TicketAction::Dispatch { station, note: "请尽快处理".into(), approval }
}

fn accept(station: &str, worker: Option<&str>) -> TicketAction {
    TicketAction::Accept { station: UnitCode(station.into()), worker: worker.map(user) }
}

fn reject(reason: &str) -> TicketAction {
    TicketAction::Reject { reason: reason.into() }
}

fn return_action(reason: &str, approval: Option<ApprovalEvidence>) -> TicketAction {
    TicketAction::Return { reason: reason.into(), approval }
}

fn reassign(station: Option<UnitRef>, worker: Option<&str>, reason: &str) -> TicketAction {
    TicketAction::Reassign { station, worker: worker.map(user), reason: reason.into() }
}

fn check_in_at(location: GeoPoint) -> TicketAction {
    TicketAction::CheckIn { location }
}

fn attach_evidence(uri: &str, sha256: &str, location: Option<GeoPoint>) -> TicketAction {
    TicketAction::AttachEvidence {
        kind: EvidenceKind::Photo,
        uri: uri.into(),
        sha256: sha256.into(),
        taken_at: at(),
        location,
    }
}

fn record_temperature(room: &str, celsius: f64) -> TicketAction {
    TicketAction::RecordTemperature { room: room.into(), celsius, taken_at: at() }
}

fn record_result(result: &str, parts: Vec<Part>) -> TicketAction {
    TicketAction::RecordResult { result: result.into(), parts, duration_minutes: 45 }
}

fn collect_signature(uri: &str, sha256: &str) -> TicketAction {
    TicketAction::CollectSignature {
        signature_uri: uri.into(),
        sha256: sha256.into(),
        satisfaction: Satisfaction::Satisfied,
    }
}

fn extend_deadline(new_deadline: DateTime<Utc>, reason: &str, approval: Option<ApprovalEvidence>) -> TicketAction {
    TicketAction::ExtendDeadline { new_deadline, reason: reason.into(), approval }
}

fn call_back(satisfaction: Satisfaction) -> TicketAction {
    TicketAction::RecordCallback { satisfaction, note: "已回访".into() }
}

fn exempt_callback(reason: &str, approval: Option<ApprovalEvidence>) -> TicketAction {
    TicketAction::ExemptCallback { reason: reason.into(), approval }
}

fn complete_node(code: &str) -> TicketAction {
    TicketAction::CompleteNode { node: code.into(), note: "合格".into() }
}

fn close() -> TicketAction {
    TicketAction::Close { note: "办结".into() }
}

fn void(reason: &str, approval: Option<ApprovalEvidence>) -> TicketAction {
    TicketAction::Void { reason: reason.into(), approval }
}

fn cancel(reason: &str, approval: Option<ApprovalEvidence>) -> TicketAction {
    TicketAction::Cancel { reason: reason.into(), approval }
}

/// One well-formed instance of every action but `Create`.
fn every_action() -> Vec<TicketAction> {
    vec![
        dispatch(station_a(), None),
        accept("st01", Some("worker1")),
        reject("不在本站服务区"),
        return_action("缺少配件", Some(granted(7, GatedOperation::Return))),
        reassign(Some(station_b()), None, "就近处理"),
        TicketAction::Urge { note: "用户再次来电".into() },
        TicketAction::Supervise { unit: UnitCode("tj01".into()), note: "限期处理".into() },
        TicketAction::Escalate { reason: "多次投诉未果".into() },
        check_in_at(gps()),
        attach_evidence("s3://evidence/1.jpg", &digest(), Some(gps())),
        record_temperature("卧室", 18.5),
        record_result("更换阀门", vec![part(1)]),
        collect_signature("s3://signatures/1.png", &digest()),
        TicketAction::CompleteWork,
        extend_deadline(at() + Duration::hours(72), "等待配件", Some(granted(8, GatedOperation::Delay))),
        call_back(Satisfaction::Satisfied),
        exempt_callback("用户拒接", Some(granted(9, GatedOperation::CallbackExemption))),
        complete_node("quality_check"),
        close(),
        void("重复工单", Some(granted(10, GatedOperation::Void))),
        cancel("用户撤销", Some(granted(11, GatedOperation::Cancel))),
    ]
}

// ---------------------------------------------------------------------------------------------
// Existence and terminal statuses
// ---------------------------------------------------------------------------------------------

#[test]
fn every_command_rejected_when_ticket_not_found() {
    for action in every_action() {
        given::<Ticket>(vec![]).when(cmd("agent1", action)).then_err(TicketError::TicketNotFound);
    }
}

#[test]
fn create_rejected_when_ticket_exists() {
    given::<Ticket>(vec![created()])
        .when(cmd("agent1", TicketAction::Create(new_ticket())))
        .then_err(TicketError::TicketAlreadyExists);
    given::<Ticket>(extend(up_to_callback_done(), [closed()]))
        .when(cmd("agent1", TicketAction::Create(new_ticket())))
        .then_err(TicketError::TicketAlreadyExists);
}

#[test]
fn every_command_rejected_when_closed() {
    for action in every_action() {
        given::<Ticket>(extend(up_to_callback_done(), [closed()]))
            .when(cmd("agent1", action))
            .then_err(TicketError::TicketAlreadyClosed);
    }
}

#[test]
fn every_command_rejected_when_voided() {
    for action in every_action() {
        given::<Ticket>(extend(up_to_on_site(), [voided()]))
            .when(cmd("agent1", action))
            .then_err(TicketError::TicketAlreadyVoided);
    }
}

#[test]
fn every_command_rejected_when_cancelled() {
    for action in every_action() {
        given::<Ticket>(vec![created(), cancelled()])
            .when(cmd("agent1", action))
            .then_err(TicketError::TicketAlreadyCancelled);
    }
}

// ---------------------------------------------------------------------------------------------
// Create
// ---------------------------------------------------------------------------------------------

#[test]
fn create_accepted_with_deadline_from_builtin_matrix() {
    given::<Ticket>(vec![]).when(cmd("agent1", TicketAction::Create(new_ticket()))).then(vec![created()]);
}

#[test]
fn create_accepted_with_builtin_hours_per_type_urgency_and_source() {
    let check = |ticket_type: &str, urgency: Urgency, source: Source, hours: u32| {
        let new = NewTicket { ticket_type: TicketType(ticket_type.into()), urgency, source, ..new_ticket() };
        given::<Ticket>(vec![]).when(cmd("agent1", TicketAction::Create(new))).then(vec![TicketEvent::Created(
            TicketCreated {
                ticket_type: TicketType(ticket_type.into()),
                urgency,
                source,
                deadline_at: at() + Duration::hours(i64::from(hours)),
                deadline_hours: Some(hours),
                ..created_payload()
            },
        )]);
    };
    check("repair", Urgency::Critical, Source::Phone, 2);
    check("complaint", Urgency::Normal, Source::Wechat, 48);
    check("complaint", Urgency::Normal, Source::Gov12345, 24);
    check("dunning", Urgency::Normal, Source::App, 72);
}

#[test]
fn create_accepted_with_deadline_from_policy_rule() {
    let rule = |source, hours| DeadlineRule {
        ticket_type: TicketType("repair".into()),
        urgency: Urgency::Urgent,
        source,
        hours,
    };
    let policy =
        TicketPolicy { deadline_rules: vec![rule(None, 10), rule(Some(Source::Wechat), 6)], ..TicketPolicy::default() };
    let check = |source: Source, hours: u32| {
        let new = NewTicket { urgency: Urgency::Urgent, source, ..new_ticket() };
        given::<Ticket>(vec![]).when(cmd_under(policy.clone(), "agent1", TicketAction::Create(new))).then(vec![
            TicketEvent::Created(TicketCreated {
                urgency: Urgency::Urgent,
                source,
                deadline_at: at() + Duration::hours(i64::from(hours)),
                deadline_hours: Some(hours),
                ..created_payload()
            }),
        ]);
    };
    check(Source::Wechat, 6);
    check(Source::App, 10);
}

#[test]
fn create_accepted_with_manual_deadline_override() {
    let deadline = at() + Duration::hours(3);
    let new = NewTicket { deadline_override: Some(deadline), ..new_ticket() };
    given::<Ticket>(vec![]).when(cmd("agent1", TicketAction::Create(new))).then(vec![TicketEvent::Created(
        TicketCreated { deadline_at: deadline, deadline_hours: None, ..created_payload() },
    )]);
}

#[test]
fn create_rejected_when_deadline_not_in_future() {
    for deadline in [at(), at() - Duration::seconds(1)] {
        let new = NewTicket { deadline_override: Some(deadline), ..new_ticket() };
        given::<Ticket>(vec![])
            .when(cmd("agent1", TicketAction::Create(new)))
            .then_err(TicketError::DeadlineNotInFuture);
    }
}

#[test]
fn create_accepted_with_extra_nodes_of_policy() {
    let nodes = vec![node("quality_check", CoreNode::Process)];
    let policy = TicketPolicy { extra_nodes: nodes.clone(), ..TicketPolicy::default() };
    given::<Ticket>(vec![])
        .when(cmd_under(policy, "agent1", TicketAction::Create(new_ticket())))
        .then(vec![created_with_nodes(nodes)]);
}

#[test]
fn create_rejected_for_unknown_ticket_type() {
    let new = NewTicket { ticket_type: TicketType("valve_check".into()), ..new_ticket() };
    given::<Ticket>(vec![])
        .when(cmd("agent1", TicketAction::Create(new)))
        .then_err(TicketError::UnknownTicketType("valve_check".into()));
}

#[test]
fn create_accepted_for_custom_type_of_policy() {
    let policy = TicketPolicy {
        custom_types: vec![(TicketType("valve_check".into()), "阀门检查".into())],
        ..TicketPolicy::default()
    };
    let new = NewTicket { ticket_type: TicketType("valve_check".into()), ..new_ticket() };
    given::<Ticket>(vec![]).when(cmd_under(policy, "agent1", TicketAction::Create(new))).then(vec![
        TicketEvent::Created(TicketCreated {
            ticket_type: TicketType("valve_check".into()),
            deadline_at: at() + Duration::hours(48),
            deadline_hours: Some(48),
            ..created_payload()
        }),
    ]);
}

#[test]
fn create_rejected_when_text_missing() {
    let check = |new: NewTicket, field: &'static str| {
        given::<Ticket>(vec![]).when(cmd("agent1", TicketAction::Create(new))).then_err(TicketError::Required(field));
    };
    check(NewTicket { ticket_no: " ".into(), ..new_ticket() }, "ticket_no");
    check(NewTicket { address: String::new(), ..new_ticket() }, "address");
    check(NewTicket { description: "\t\n".into(), ..new_ticket() }, "description");
}

// ---------------------------------------------------------------------------------------------
// Dispatch
// ---------------------------------------------------------------------------------------------

#[test]
fn dispatch_accepted_when_registered() {
    given::<Ticket>(vec![created()]).when(cmd("agent1", dispatch(station_a(), None))).then(vec![dispatched()]);
}

#[test]
fn dispatch_rejected_when_not_a_station() {
    for kind in [UnitKind::Subsidiary, UnitKind::Grid] {
        given::<Ticket>(vec![created()])
            .when(cmd("agent1", dispatch(unit("tj01", kind), None)))
            .then_err(TicketError::NotAStation("tj01".into()));
    }
}

#[test]
fn dispatch_rejected_when_already_dispatched_or_further() {
    let cases = [
        (up_to_dispatched(), "dispatched"),
        (up_to_accepted(), "accepted"),
        (up_to_on_site(), "on_site"),
        (up_to_completed(), "completed"),
        (up_to_callback_done(), "callback_done"),
    ];
    for (history, status) in cases {
        given::<Ticket>(history).when(cmd("agent1", dispatch(station_b(), None))).then_err(invalid("dispatch", status));
    }
}

#[test]
fn dispatch_accepted_without_approval_after_reject() {
    let state = state_after(up_to_returned(), cmd("agent1", dispatch(station_b(), None)));
    assert_eq!(state.status, Some(TicketStatus::Dispatched));
    assert_eq!(state.station, Some(UnitCode("st02".into())));
    given::<Ticket>(up_to_returned())
        .when(cmd("agent1", dispatch(station_b(), None)))
        .then(vec![dispatched_to(&station_b())]);
}

#[test]
fn dispatch_accepted_without_approval_after_return() {
    let history = extend(
        up_to_on_site(),
        [TicketEvent::Returned {
            station: UnitCode("st01".into()),
            reason: "缺少配件".into(),
            by: user("lead1"),
            approval_id: Some(approval_id(7)),
        }],
    );
    given::<Ticket>(history).when(cmd("agent1", dispatch(station_b(), None))).then(vec![dispatched_to(&station_b())]);
}

#[test]
fn dispatch_rejected_when_workflow_node_pending() {
    let history = vec![created_with_nodes(vec![node("site_survey", CoreNode::Accept)])];
    given::<Ticket>(history)
        .when(cmd("agent1", dispatch(station_a(), None)))
        .then_err(TicketError::WorkflowNodePending("site_survey".into()));
}

#[test]
fn dispatch_accepted_once_workflow_node_completed() {
    let history = vec![
        created_with_nodes(vec![node("site_survey", CoreNode::Accept)]),
        TicketEvent::WorkflowNodeCompleted { by: user("agent1"), node: "site_survey".into(), note: "合格".into() },
    ];
    given::<Ticket>(history).when(cmd("agent1", dispatch(station_a(), None))).then(vec![dispatched()]);
}

#[test]
fn dispatch_rejected_without_approval_when_redispatch() {
    given::<Ticket>(up_to_rework_required())
        .when(cmd("agent1", dispatch(station_a(), None)))
        .then_err(TicketError::ApprovalRequired(GatedOperation::Redispatch));
}

#[test]
fn dispatch_accepted_as_redispatch_with_granted_approval() {
    given::<Ticket>(up_to_rework_required())
        .when(cmd("agent1", dispatch(station_b(), Some(granted(7, GatedOperation::Redispatch)))))
        .then(vec![TicketEvent::Dispatched {
            station: UnitCode("st02".into()),
            station_path: station_b().path,
            by: user("agent1"),
            note: "请尽快处理".into(),
            redispatch: true,
            approval_id: Some(approval_id(7)),
        }]);
}

#[test]
fn dispatch_accepted_as_redispatch_without_approval_when_ungated() {
    let events = given::<Ticket>(up_to_rework_required())
        .when(cmd_under(ungated(GatedOperation::Redispatch), "agent1", dispatch(station_a(), None)))
        .events();
    assert_eq!(events, vec![redispatched(None)]);
}

#[test]
fn dispatch_rejected_when_redispatch_approval_not_granted() {
    for status in [ApprovalStatus::Pending, ApprovalStatus::Rejected] {
        given::<Ticket>(up_to_rework_required())
            .when(cmd("agent1", dispatch(station_a(), Some(evidence(7, GatedOperation::Redispatch, status)))))
            .then_err(TicketError::ApprovalNotGranted(approval_id(7)));
    }
}

#[test]
fn dispatch_rejected_when_redispatch_approval_is_for_another_operation() {
    given::<Ticket>(up_to_rework_required())
        .when(cmd("agent1", dispatch(station_a(), Some(granted(7, GatedOperation::Return)))))
        .then_err(TicketError::ApprovalMismatch(approval_id(7)));
}

// ---------------------------------------------------------------------------------------------
// Accept and reject
// ---------------------------------------------------------------------------------------------

#[test]
fn accept_accepted_by_dispatched_station() {
    given::<Ticket>(up_to_dispatched()).when(cmd("lead1", accept("st01", Some("worker1")))).then(vec![accepted()]);
}

#[test]
fn accept_accepted_without_worker() {
    let state = state_after(up_to_dispatched(), cmd("lead1", accept("st01", None)));
    assert_eq!(state.status, Some(TicketStatus::Accepted));
    assert_eq!(state.worker, None);
}

#[test]
fn accept_rejected_for_wrong_station() {
    given::<Ticket>(up_to_dispatched())
        .when(cmd("lead2", accept("st02", None)))
        .then_err(TicketError::WrongStation { expected: "st01".into(), actual: "st02".into() });
}

#[test]
fn accept_rejected_when_not_dispatched() {
    let cases = [(vec![created()], "registered"), (up_to_accepted(), "accepted"), (up_to_returned(), "returned")];
    for (history, status) in cases {
        given::<Ticket>(history).when(cmd("lead1", accept("st01", None))).then_err(invalid("accept", status));
    }
}

#[test]
fn reject_accepted_when_dispatched() {
    given::<Ticket>(up_to_dispatched()).when(cmd("lead1", reject("不在本站服务区"))).then(vec![rejected()]);
    let state = state_of(&up_to_returned());
    assert_eq!(state.status, Some(TicketStatus::Returned));
    assert!(!state.reworked, "a declined dispatch is no rework");
}

#[test]
fn reject_rejected_without_reason() {
    given::<Ticket>(up_to_dispatched()).when(cmd("lead1", reject(" "))).then_err(TicketError::Required("reason"));
}

#[test]
fn reject_rejected_when_not_dispatched() {
    for (history, status) in [(vec![created()], "registered"), (up_to_accepted(), "accepted")] {
        given::<Ticket>(history).when(cmd("lead1", reject("太远"))).then_err(invalid("reject", status));
    }
}

// ---------------------------------------------------------------------------------------------
// Return
// ---------------------------------------------------------------------------------------------

#[test]
fn return_rejected_without_approval_when_gated() {
    given::<Ticket>(up_to_accepted())
        .when(cmd("lead1", return_action("缺少配件", None)))
        .then_err(TicketError::ApprovalRequired(GatedOperation::Return));
}

#[test]
fn return_accepted_with_granted_approval() {
    let command = cmd("lead1", return_action("缺少配件", Some(granted(7, GatedOperation::Return))));
    given::<Ticket>(up_to_result()).when(command.clone()).then(vec![TicketEvent::Returned {
        station: UnitCode("st01".into()),
        reason: "缺少配件".into(),
        by: user("lead1"),
        approval_id: Some(approval_id(7)),
    }]);
    let state = state_after(up_to_result(), command);
    assert_eq!(state.status, Some(TicketStatus::Returned));
    assert!(state.reworked);
    assert!(!state.result_recorded);
    assert!(state.used_approvals.contains(&approval_id(7)));
}

#[test]
fn return_accepted_without_approval_when_ungated() {
    given::<Ticket>(up_to_accepted())
        .when(cmd_under(ungated(GatedOperation::Return), "lead1", return_action("缺少配件", None)))
        .then(vec![TicketEvent::Returned {
            station: UnitCode("st01".into()),
            reason: "缺少配件".into(),
            by: user("lead1"),
            approval_id: None,
        }]);
}

#[test]
fn return_rejected_without_reason() {
    given::<Ticket>(up_to_accepted())
        .when(cmd("lead1", return_action("", Some(granted(7, GatedOperation::Return)))))
        .then_err(TicketError::Required("reason"));
}

#[test]
fn return_rejected_when_not_accepted_or_on_site() {
    let cases = [(vec![created()], "registered"), (up_to_dispatched(), "dispatched"), (up_to_completed(), "completed")];
    for (history, status) in cases {
        given::<Ticket>(history)
            .when(cmd("lead1", return_action("缺少配件", Some(granted(7, GatedOperation::Return)))))
            .then_err(invalid("return", status));
    }
}

#[test]
fn return_rejected_when_approval_not_granted() {
    for status in [ApprovalStatus::Pending, ApprovalStatus::Rejected] {
        given::<Ticket>(up_to_accepted())
            .when(cmd("lead1", return_action("缺少配件", Some(evidence(7, GatedOperation::Return, status)))))
            .then_err(TicketError::ApprovalNotGranted(approval_id(7)));
    }
}

#[test]
fn return_rejected_when_approval_mismatch() {
    let other_ticket =
        ApprovalEvidence { ticket_id: TicketId(Uuid::from_u128(99)), ..granted(7, GatedOperation::Return) };
    given::<Ticket>(up_to_accepted())
        .when(cmd("lead1", return_action("缺少配件", Some(other_ticket))))
        .then_err(TicketError::ApprovalMismatch(approval_id(7)));
    given::<Ticket>(up_to_accepted())
        .when(cmd("lead1", return_action("缺少配件", Some(granted(7, GatedOperation::Delay)))))
        .then_err(TicketError::ApprovalMismatch(approval_id(7)));
}

#[test]
fn return_rejected_when_approval_already_used() {
    let history = extend(
        up_to_accepted(),
        [
            TicketEvent::Returned {
                station: UnitCode("st01".into()),
                reason: "缺少配件".into(),
                by: user("lead1"),
                approval_id: Some(approval_id(7)),
            },
            dispatched(),
            accepted(),
        ],
    );
    given::<Ticket>(history)
        .when(cmd("lead1", return_action("又缺配件", Some(granted(7, GatedOperation::Return)))))
        .then_err(TicketError::ApprovalAlreadyUsed(approval_id(7)));
}

// ---------------------------------------------------------------------------------------------
// Reassign
// ---------------------------------------------------------------------------------------------

#[test]
fn reassign_accepted_to_other_station_back_to_dispatched() {
    let command = cmd("agent1", reassign(Some(station_b()), None, "就近处理"));
    given::<Ticket>(up_to_accepted()).when(command.clone()).then(vec![TicketEvent::Reassigned {
        from_station: UnitCode("st01".into()),
        to_station: UnitCode("st02".into()),
        to_station_path: station_b().path,
        from_worker: Some(user("worker1")),
        to_worker: None,
        reason: "就近处理".into(),
        by: user("agent1"),
    }]);
    let state = state_after(up_to_accepted(), command.clone());
    assert_eq!(state.status, Some(TicketStatus::Dispatched));
    assert_eq!(state.station, Some(UnitCode("st02".into())));
    assert_eq!(state.station_path, Some(station_b().path));
    assert_eq!(state.worker, None);
    // The new station must accept it; the old one no longer can.
    let history = extend(up_to_accepted(), given::<Ticket>(up_to_accepted()).when(command).events());
    given::<Ticket>(history.clone())
        .when(cmd("lead1", accept("st01", None)))
        .then_err(TicketError::WrongStation { expected: "st02".into(), actual: "st01".into() });
    given::<Ticket>(history).when(cmd("lead2", accept("st02", Some("worker3")))).then(vec![TicketEvent::Accepted {
        station: UnitCode("st02".into()),
        worker: Some(user("worker3")),
        by: user("lead2"),
    }]);
}

#[test]
fn reassign_accepted_from_dispatched_to_other_station() {
    let state = state_after(up_to_dispatched(), cmd("agent1", reassign(Some(station_b()), None, "就近处理")));
    assert_eq!(state.status, Some(TicketStatus::Dispatched));
    assert_eq!(state.station, Some(UnitCode("st02".into())));
}

#[test]
fn reassign_accepted_for_worker_only() {
    let command = cmd("lead1", reassign(None, Some("worker2"), "原师傅请假"));
    given::<Ticket>(up_to_result()).when(command.clone()).then(vec![TicketEvent::Reassigned {
        from_station: UnitCode("st01".into()),
        to_station: UnitCode("st01".into()),
        to_station_path: station_a().path,
        from_worker: Some(user("worker1")),
        to_worker: Some(user("worker2")),
        reason: "原师傅请假".into(),
        by: user("lead1"),
    }]);
    let state = state_after(up_to_result(), command);
    assert_eq!(state.status, Some(TicketStatus::Accepted));
    assert_eq!(state.station, Some(UnitCode("st01".into())));
    assert_eq!(state.worker, Some(user("worker2")));
    assert!(!state.result_recorded, "the new worker records the result of their own visit");
}

#[test]
fn reassign_accepted_for_worker_naming_the_same_station() {
    let state = state_after(up_to_accepted(), cmd("lead1", reassign(Some(station_a()), Some("worker2"), "原师傅请假")));
    assert_eq!(state.status, Some(TicketStatus::Accepted));
    assert_eq!(state.worker, Some(user("worker2")));
}

#[test]
fn reassign_rejected_when_nothing_to_reassign() {
    given::<Ticket>(up_to_accepted())
        .when(cmd("lead1", reassign(None, None, "无")))
        .then_err(TicketError::NothingToReassign);
    given::<Ticket>(up_to_accepted())
        .when(cmd("lead1", reassign(Some(station_a()), None, "无")))
        .then_err(TicketError::NothingToReassign);
}

#[test]
fn reassign_rejected_for_worker_only_when_dispatched() {
    given::<Ticket>(up_to_dispatched())
        .when(cmd("lead1", reassign(None, Some("worker2"), "指定师傅")))
        .then_err(invalid("reassign the worker of", "dispatched"));
}

/// Regression: naming the ticket's own station with a worker let a dispatched ticket skip the
/// station's acceptance (the fold moved it to `accepted`), which the worker-only form forbids.
#[test]
fn reassign_rejected_for_same_station_worker_when_dispatched() {
    given::<Ticket>(up_to_dispatched())
        .when(cmd("agent1", reassign(Some(station_a()), Some("worker2"), "指定师傅")))
        .then_err(invalid("reassign the worker of", "dispatched"));
}

#[test]
fn reassign_rejected_when_target_not_a_station() {
    given::<Ticket>(up_to_accepted())
        .when(cmd("agent1", reassign(Some(unit("grid7", UnitKind::Grid)), Some("worker2"), "就近处理")))
        .then_err(TicketError::NotAStation("grid7".into()));
}

#[test]
fn reassign_rejected_without_reason() {
    given::<Ticket>(up_to_accepted())
        .when(cmd("agent1", reassign(Some(station_b()), None, " ")))
        .then_err(TicketError::Required("reason"));
}

#[test]
fn reassign_rejected_when_not_with_a_station() {
    let cases = [
        (vec![created()], "registered"),
        (up_to_returned(), "returned"),
        (up_to_completed(), "completed"),
        (up_to_callback_done(), "callback_done"),
        (up_to_rework_required(), "rework_required"),
    ];
    for (history, status) in cases {
        given::<Ticket>(history)
            .when(cmd("agent1", reassign(Some(station_b()), None, "就近处理")))
            .then_err(invalid("reassign", status));
    }
}

// ---------------------------------------------------------------------------------------------
// Urge, supervise, escalate
// ---------------------------------------------------------------------------------------------

#[test]
fn urge_accepted_and_counted() {
    let urge = || TicketAction::Urge { note: "用户再次来电".into() };
    given::<Ticket>(vec![created()]).when(cmd("agent1", urge())).then(vec![TicketEvent::Urged {
        by: user("agent1"),
        note: "用户再次来电".into(),
        count: 1,
    }]);
    let history = vec![
        created(),
        TicketEvent::Urged { by: user("agent1"), note: "催".into(), count: 1 },
        TicketEvent::Urged { by: user("agent1"), note: "催".into(), count: 2 },
    ];
    given::<Ticket>(history).when(cmd("agent2", urge())).then(vec![TicketEvent::Urged {
        by: user("agent2"),
        note: "用户再次来电".into(),
        count: 3,
    }]);
}

#[test]
fn supervise_accepted() {
    let action = TicketAction::Supervise { unit: UnitCode("tj01".into()), note: "限期处理".into() };
    given::<Ticket>(up_to_accepted()).when(cmd("manager1", action.clone())).then(vec![TicketEvent::Supervised {
        by: user("manager1"),
        unit: UnitCode("tj01".into()),
        note: "限期处理".into(),
    }]);
    assert!(state_after(up_to_accepted(), cmd("manager1", action)).supervised);
}

#[test]
fn supervise_rejected_without_note() {
    given::<Ticket>(up_to_accepted())
        .when(cmd("manager1", TicketAction::Supervise { unit: UnitCode("tj01".into()), note: String::new() }))
        .then_err(TicketError::Required("note"));
}

#[test]
fn escalate_accepted() {
    let action = TicketAction::Escalate { reason: "多次投诉未果".into() };
    given::<Ticket>(up_to_accepted())
        .when(cmd("agent1", action.clone()))
        .then(vec![TicketEvent::Escalated { by: user("agent1"), reason: "多次投诉未果".into() }]);
    assert!(state_after(up_to_accepted(), cmd("agent1", action)).escalated);
}

#[test]
fn escalate_rejected_when_already_escalated() {
    let history = extend(up_to_accepted(), [TicketEvent::Escalated { by: user("agent1"), reason: "投诉".into() }]);
    given::<Ticket>(history)
        .when(cmd("agent1", TicketAction::Escalate { reason: "再次投诉".into() }))
        .then_err(TicketError::AlreadyEscalated);
}

#[test]
fn escalate_rejected_without_reason() {
    given::<Ticket>(up_to_accepted())
        .when(cmd("agent1", TicketAction::Escalate { reason: " ".into() }))
        .then_err(TicketError::Required("reason"));
}

// ---------------------------------------------------------------------------------------------
// Field work
// ---------------------------------------------------------------------------------------------

#[test]
fn check_in_accepted_by_assigned_worker() {
    given::<Ticket>(up_to_accepted()).when(cmd("worker1", check_in_at(gps()))).then(vec![checked_in()]);
    given::<Ticket>(up_to_on_site()).when(cmd("worker1", check_in_at(gps()))).then(vec![checked_in()]);
}

#[test]
fn check_in_accepted_by_any_worker_when_none_assigned() {
    let history = extend(
        up_to_dispatched(),
        [TicketEvent::Accepted { station: UnitCode("st01".into()), worker: None, by: user("lead1") }],
    );
    let state = state_after(history, cmd("worker9", check_in_at(gps())));
    assert_eq!(state.status, Some(TicketStatus::OnSite));
    assert_eq!(state.worker, Some(user("worker9")));
}

#[test]
fn check_in_rejected_for_another_worker() {
    given::<Ticket>(up_to_accepted())
        .when(cmd("worker2", check_in_at(gps())))
        .then_err(TicketError::NotAssignedWorker { assigned: "worker1".into(), actor: "worker2".into() });
}

#[test]
fn check_in_rejected_for_invalid_location() {
    let bad = [
        GeoPoint { latitude: 90.5, ..gps() },
        GeoPoint { longitude: -180.5, ..gps() },
        GeoPoint { accuracy_m: -1.0, ..gps() },
        GeoPoint { accuracy_m: f64::INFINITY, ..gps() },
        GeoPoint { latitude: f64::NAN, ..gps() },
    ];
    for location in bad {
        given::<Ticket>(up_to_accepted())
            .when(cmd("worker1", check_in_at(location)))
            .then_err(TicketError::InvalidLocation);
    }
}

#[test]
fn check_in_rejected_when_not_accepted() {
    let cases = [(vec![created()], "registered"), (up_to_dispatched(), "dispatched"), (up_to_completed(), "completed")];
    for (history, status) in cases {
        given::<Ticket>(history).when(cmd("worker1", check_in_at(gps()))).then_err(invalid("check in on", status));
    }
}

#[test]
fn check_in_rejected_when_workflow_node_pending() {
    let history = vec![created_with_nodes(vec![node("material_pick", CoreNode::Dispatch)]), dispatched(), accepted()];
    given::<Ticket>(history)
        .when(cmd("worker1", check_in_at(gps())))
        .then_err(TicketError::WorkflowNodePending("material_pick".into()));
}

#[test]
fn attach_evidence_accepted_on_site() {
    given::<Ticket>(up_to_on_site())
        .when(cmd("worker1", attach_evidence("s3://evidence/1.jpg", &digest(), Some(gps()))))
        .then(vec![TicketEvent::EvidenceAttached {
            by: user("worker1"),
            kind: EvidenceKind::Photo,
            uri: "s3://evidence/1.jpg".into(),
            sha256: digest(),
            taken_at: at(),
            location: Some(gps()),
        }]);
}

#[test]
fn attach_evidence_rejected_for_invalid_digest() {
    for sha256 in [digest().to_uppercase(), digest()[1..].to_owned(), format!("{}g", &digest()[1..])] {
        given::<Ticket>(up_to_on_site())
            .when(cmd("worker1", attach_evidence("s3://evidence/1.jpg", &sha256, None)))
            .then_err(TicketError::InvalidDigest);
    }
}

#[test]
fn attach_evidence_rejected_for_invalid_location() {
    let location = GeoPoint { latitude: -91.0, ..gps() };
    given::<Ticket>(up_to_on_site())
        .when(cmd("worker1", attach_evidence("s3://evidence/1.jpg", &digest(), Some(location))))
        .then_err(TicketError::InvalidLocation);
}

#[test]
fn attach_evidence_rejected_without_uri() {
    given::<Ticket>(up_to_on_site())
        .when(cmd("worker1", attach_evidence(" ", &digest(), None)))
        .then_err(TicketError::Required("uri"));
}

#[test]
fn attach_evidence_rejected_when_not_on_site() {
    for (history, status) in [(up_to_accepted(), "accepted"), (up_to_completed(), "completed")] {
        given::<Ticket>(history)
            .when(cmd("worker1", attach_evidence("s3://evidence/1.jpg", &digest(), None)))
            .then_err(invalid("attach evidence to", status));
    }
}

#[test]
fn record_temperature_accepted_within_range() {
    for celsius in [-50.0, 18.5, 100.0] {
        given::<Ticket>(up_to_on_site()).when(cmd("worker1", record_temperature("卧室", celsius))).then(vec![
            TicketEvent::TemperatureRecorded { by: user("worker1"), room: "卧室".into(), celsius, taken_at: at() },
        ]);
    }
}

#[test]
fn record_temperature_rejected_out_of_range() {
    for celsius in [-50.5, 100.5, f64::INFINITY] {
        given::<Ticket>(up_to_on_site())
            .when(cmd("worker1", record_temperature("卧室", celsius)))
            .then_err(TicketError::TemperatureOutOfRange(celsius));
    }
    // NaN never equals itself, so the rejection is matched rather than compared.
    let nan = Ticket::decide(&state_of(&up_to_on_site()), &cmd("worker1", record_temperature("卧室", f64::NAN)));
    assert!(matches!(nan, Err(TicketError::TemperatureOutOfRange(c)) if c.is_nan()), "{nan:?}");
}

#[test]
fn record_temperature_rejected_without_room() {
    given::<Ticket>(up_to_on_site())
        .when(cmd("worker1", record_temperature("", 18.5)))
        .then_err(TicketError::Required("room"));
}

#[test]
fn record_temperature_rejected_when_not_on_site() {
    given::<Ticket>(up_to_accepted())
        .when(cmd("worker1", record_temperature("卧室", 18.5)))
        .then_err(invalid("record a temperature on", "accepted"));
}

#[test]
fn record_result_accepted_on_site() {
    given::<Ticket>(up_to_on_site())
        .when(cmd("worker1", record_result("更换阀门", vec![part(1)])))
        .then(vec![result_recorded()]);
    assert!(state_of(&up_to_result()).result_recorded);
}

#[test]
fn record_result_rejected_for_part_without_quantity() {
    let parts = vec![part(2), Part { code: "p-7".into(), name: "管件".into(), quantity: 0 }];
    given::<Ticket>(up_to_on_site())
        .when(cmd("worker1", record_result("更换阀门", parts)))
        .then_err(TicketError::InvalidPartQuantity("p-7".into()));
}

#[test]
fn record_result_rejected_without_result() {
    given::<Ticket>(up_to_on_site())
        .when(cmd("worker1", record_result(" ", vec![])))
        .then_err(TicketError::Required("result"));
}

#[test]
fn record_result_rejected_when_not_on_site() {
    given::<Ticket>(up_to_completed())
        .when(cmd("worker1", record_result("更换阀门", vec![])))
        .then_err(invalid("record a result on", "completed"));
}

#[test]
fn collect_signature_accepted_after_result() {
    given::<Ticket>(up_to_result()).when(cmd("worker1", collect_signature("s3://signatures/1.png", &digest()))).then(
        vec![TicketEvent::CustomerSigned {
            by: user("worker1"),
            signature_uri: "s3://signatures/1.png".into(),
            sha256: digest(),
            satisfaction: Satisfaction::Satisfied,
        }],
    );
}

#[test]
fn collect_signature_rejected_when_result_missing() {
    given::<Ticket>(up_to_on_site())
        .when(cmd("worker1", collect_signature("s3://signatures/1.png", &digest())))
        .then_err(TicketError::ResultMissing);
}

#[test]
fn collect_signature_rejected_for_invalid_digest() {
    given::<Ticket>(up_to_result())
        .when(cmd("worker1", collect_signature("s3://signatures/1.png", "abc")))
        .then_err(TicketError::InvalidDigest);
}

#[test]
fn collect_signature_rejected_without_uri() {
    given::<Ticket>(up_to_result())
        .when(cmd("worker1", collect_signature("", &digest())))
        .then_err(TicketError::Required("signature_uri"));
}

#[test]
fn collect_signature_rejected_when_not_on_site() {
    given::<Ticket>(up_to_accepted())
        .when(cmd("worker1", collect_signature("s3://signatures/1.png", &digest())))
        .then_err(invalid("collect a signature on", "accepted"));
}

#[test]
fn complete_work_accepted_after_result() {
    given::<Ticket>(up_to_result()).when(cmd("worker1", TicketAction::CompleteWork)).then(vec![work_completed()]);
    assert_eq!(state_of(&up_to_completed()).status, Some(TicketStatus::Completed));
}

#[test]
fn complete_work_rejected_when_result_missing() {
    given::<Ticket>(up_to_on_site())
        .when(cmd("worker1", TicketAction::CompleteWork))
        .then_err(TicketError::ResultMissing);
}

#[test]
fn complete_work_rejected_when_result_of_previous_worker() {
    // The result belongs to the visit of the worker who was reassigned away.
    let history = extend(
        up_to_result(),
        [
            TicketEvent::Reassigned {
                from_station: UnitCode("st01".into()),
                to_station: UnitCode("st01".into()),
                to_station_path: station_a().path,
                from_worker: Some(user("worker1")),
                to_worker: Some(user("worker2")),
                reason: "原师傅请假".into(),
                by: user("lead1"),
            },
            TicketEvent::CheckedIn { worker: user("worker2"), location: gps() },
        ],
    );
    given::<Ticket>(history).when(cmd("worker2", TicketAction::CompleteWork)).then_err(TicketError::ResultMissing);
}

#[test]
fn complete_work_rejected_when_not_on_site() {
    given::<Ticket>(up_to_accepted())
        .when(cmd("worker1", TicketAction::CompleteWork))
        .then_err(invalid("complete work on", "accepted"));
}

// ---------------------------------------------------------------------------------------------
// Deadline
// ---------------------------------------------------------------------------------------------

#[test]
fn extend_deadline_rejected_without_approval_when_gated() {
    given::<Ticket>(up_to_accepted())
        .when(cmd("lead1", extend_deadline(at() + Duration::hours(48), "等待配件", None)))
        .then_err(TicketError::ApprovalRequired(GatedOperation::Delay));
}

#[test]
fn extend_deadline_accepted_with_granted_approval() {
    let command =
        cmd("lead1", extend_deadline(at() + Duration::hours(48), "等待配件", Some(granted(7, GatedOperation::Delay))));
    given::<Ticket>(up_to_accepted()).when(command.clone()).then(vec![TicketEvent::DeadlineExtended {
        by: user("lead1"),
        from: at() + Duration::hours(24),
        to: at() + Duration::hours(48),
        reason: "等待配件".into(),
        approval_id: Some(approval_id(7)),
    }]);
    let state = state_after(up_to_accepted(), command);
    assert_eq!(state.deadline_at, Some(at() + Duration::hours(48)));
    assert!(state.used_approvals.contains(&approval_id(7)));
}

#[test]
fn extend_deadline_accepted_without_approval_when_ungated() {
    let events = given::<Ticket>(vec![created()])
        .when(cmd_under(
            ungated(GatedOperation::Delay),
            "agent1",
            extend_deadline(at() + Duration::hours(30), "节假日", None),
        ))
        .events();
    assert!(matches!(events.as_slice(), [TicketEvent::DeadlineExtended { approval_id: None, .. }]), "{events:?}");
}

#[test]
fn extend_deadline_rejected_when_not_later() {
    for new_deadline in [at() + Duration::hours(24), at() + Duration::hours(23)] {
        given::<Ticket>(up_to_accepted())
            .when(cmd("lead1", extend_deadline(new_deadline, "等待配件", Some(granted(7, GatedOperation::Delay)))))
            .then_err(TicketError::DeadlineNotLater);
    }
}

#[test]
fn extend_deadline_rejected_without_reason() {
    given::<Ticket>(up_to_accepted())
        .when(cmd("lead1", extend_deadline(at() + Duration::hours(48), "", Some(granted(7, GatedOperation::Delay)))))
        .then_err(TicketError::Required("reason"));
}

#[test]
fn extend_deadline_rejected_when_approval_already_used() {
    let history = extend(
        up_to_accepted(),
        [TicketEvent::DeadlineExtended {
            by: user("lead1"),
            from: at() + Duration::hours(24),
            to: at() + Duration::hours(48),
            reason: "等待配件".into(),
            approval_id: Some(approval_id(7)),
        }],
    );
    given::<Ticket>(history)
        .when(cmd(
            "lead1",
            extend_deadline(at() + Duration::hours(72), "仍缺配件", Some(granted(7, GatedOperation::Delay))),
        ))
        .then_err(TicketError::ApprovalAlreadyUsed(approval_id(7)));
}

// ---------------------------------------------------------------------------------------------
// Callback
// ---------------------------------------------------------------------------------------------

#[test]
fn record_callback_accepted_when_satisfied() {
    for satisfaction in [Satisfaction::Satisfied, Satisfaction::BasicallySatisfied] {
        let command = cmd("agent1", call_back(satisfaction));
        given::<Ticket>(up_to_completed()).when(command.clone()).then(vec![callback_recorded(satisfaction)]);
        assert_eq!(state_after(up_to_completed(), command).status, Some(TicketStatus::CallbackDone));
    }
}

#[test]
fn record_callback_requires_rework_when_dissatisfied() {
    let state = state_after(up_to_completed(), cmd("agent1", call_back(Satisfaction::Dissatisfied)));
    assert_eq!(state.status, Some(TicketStatus::ReworkRequired));
    assert!(state.reworked);
    assert!(!state.result_recorded);
    given::<Ticket>(up_to_rework_required()).when(cmd("agent1", close())).then_err(invalid("close", "rework_required"));
}

#[test]
fn record_callback_rejected_when_not_completed() {
    for (history, status) in [(up_to_result(), "on_site"), (up_to_callback_done(), "callback_done")] {
        given::<Ticket>(history)
            .when(cmd("agent1", call_back(Satisfaction::Satisfied)))
            .then_err(invalid("call back", status));
    }
}

#[test]
fn record_callback_rejected_when_workflow_node_pending() {
    let history = extend(
        vec![created_with_nodes(vec![node("quality_check", CoreNode::Process)])],
        up_to_completed().split_off(1),
    );
    given::<Ticket>(history)
        .when(cmd("agent1", call_back(Satisfaction::Satisfied)))
        .then_err(TicketError::WorkflowNodePending("quality_check".into()));
}

#[test]
fn exempt_callback_rejected_without_approval_when_gated() {
    given::<Ticket>(up_to_completed())
        .when(cmd("agent1", exempt_callback("用户拒接", None)))
        .then_err(TicketError::ApprovalRequired(GatedOperation::CallbackExemption));
}

#[test]
fn exempt_callback_accepted_with_granted_approval() {
    let command = cmd("agent1", exempt_callback("用户拒接", Some(granted(7, GatedOperation::CallbackExemption))));
    given::<Ticket>(up_to_completed()).when(command.clone()).then(vec![TicketEvent::CallbackExempted {
        by: user("agent1"),
        reason: "用户拒接".into(),
        approval_id: Some(approval_id(7)),
    }]);
    assert_eq!(state_after(up_to_completed(), command).status, Some(TicketStatus::CallbackDone));
}

#[test]
fn exempt_callback_accepted_without_approval_when_ungated() {
    given::<Ticket>(up_to_completed())
        .when(cmd_under(ungated(GatedOperation::CallbackExemption), "agent1", exempt_callback("用户拒接", None)))
        .then(vec![TicketEvent::CallbackExempted {
            by: user("agent1"), reason: "用户拒接".into(), approval_id: None
        }]);
}

#[test]
fn exempt_callback_rejected_without_reason() {
    given::<Ticket>(up_to_completed())
        .when(cmd("agent1", exempt_callback(" ", Some(granted(7, GatedOperation::CallbackExemption)))))
        .then_err(TicketError::Required("reason"));
}

#[test]
fn exempt_callback_rejected_when_not_completed() {
    given::<Ticket>(up_to_on_site())
        .when(cmd("agent1", exempt_callback("用户拒接", Some(granted(7, GatedOperation::CallbackExemption)))))
        .then_err(invalid("exempt the callback of", "on_site"));
}

#[test]
fn exempt_callback_rejected_when_workflow_node_pending() {
    let history = extend(
        vec![created_with_nodes(vec![node("quality_check", CoreNode::Process)])],
        up_to_completed().split_off(1),
    );
    given::<Ticket>(history)
        .when(cmd("agent1", exempt_callback("用户拒接", Some(granted(7, GatedOperation::CallbackExemption)))))
        .then_err(TicketError::WorkflowNodePending("quality_check".into()));
}

// ---------------------------------------------------------------------------------------------
// Added workflow nodes
// ---------------------------------------------------------------------------------------------

fn node_completed(code: &str) -> TicketEvent {
    TicketEvent::WorkflowNodeCompleted { by: user("inspector1"), node: code.into(), note: "合格".into() }
}

#[test]
fn complete_node_accepted_once_reached() {
    let history = extend(
        vec![created_with_nodes(vec![node("quality_check", CoreNode::Process)])],
        up_to_completed().split_off(1),
    );
    given::<Ticket>(history.clone())
        .when(cmd("inspector1", complete_node("quality_check")))
        .then(vec![node_completed("quality_check")]);
    // With the node done, the callback may proceed.
    given::<Ticket>(extend(history, [node_completed("quality_check")]))
        .when(cmd("agent1", call_back(Satisfaction::Satisfied)))
        .then(vec![callback_recorded(Satisfaction::Satisfied)]);
}

#[test]
fn complete_node_rejected_for_unknown_node() {
    let history = vec![created_with_nodes(vec![node("quality_check", CoreNode::Process)])];
    given::<Ticket>(history)
        .when(cmd("inspector1", complete_node("site_survey")))
        .then_err(TicketError::UnknownWorkflowNode("site_survey".into()));
}

#[test]
fn complete_node_rejected_when_already_completed() {
    let history = vec![created_with_nodes(vec![node("site_survey", CoreNode::Accept)]), node_completed("site_survey")];
    given::<Ticket>(history)
        .when(cmd("inspector1", complete_node("site_survey")))
        .then_err(TicketError::WorkflowNodeAlreadyCompleted("site_survey".into()));
}

#[test]
fn complete_node_rejected_when_not_reached() {
    let history =
        extend(vec![created_with_nodes(vec![node("quality_check", CoreNode::Process)])], up_to_on_site().split_off(1));
    given::<Ticket>(history)
        .when(cmd("inspector1", complete_node("quality_check")))
        .then_err(TicketError::WorkflowNodeNotReached("quality_check".into()));
}

// ---------------------------------------------------------------------------------------------
// Close
// ---------------------------------------------------------------------------------------------

#[test]
fn close_accepted_as_first_time_fix_on_time() {
    given::<Ticket>(up_to_callback_done()).when(cmd("agent1", close())).then(vec![closed()]);
    // At the deadline exactly it is still on time.
    given::<Ticket>(up_to_callback_done())
        .when(cmd_at("agent1", at() + Duration::hours(24), close()))
        .then(vec![closed()]);
}

#[test]
fn close_accepted_as_overdue_when_late() {
    given::<Ticket>(up_to_callback_done())
        .when(cmd_at("agent1", at() + Duration::hours(24) + Duration::seconds(1), close()))
        .then(vec![TicketEvent::Closed {
            by: user("agent1"),
            note: "办结".into(),
            first_time_fix: true,
            overdue: true,
        }]);
}

#[test]
fn close_accepted_on_time_against_extended_deadline() {
    let history = extend(
        up_to_callback_done(),
        [TicketEvent::DeadlineExtended {
            by: user("lead1"),
            from: at() + Duration::hours(24),
            to: at() + Duration::hours(48),
            reason: "等待配件".into(),
            approval_id: Some(approval_id(7)),
        }],
    );
    given::<Ticket>(history).when(cmd_at("agent1", at() + Duration::hours(30), close())).then(vec![closed()]);
}

#[test]
fn close_accepted_without_first_time_fix_after_redispatch() {
    // Dissatisfied callback → rework_required → redispatch (gated) → field work again → close.
    let redispatch = cmd("agent1", dispatch(station_a(), Some(granted(7, GatedOperation::Redispatch))));
    let mut history = up_to_rework_required();
    let events = given::<Ticket>(history.clone()).when(redispatch).events();
    assert_eq!(events, vec![redispatched(Some(approval_id(7)))]);
    history.extend(events);
    for (actor, action) in [
        ("lead1", accept("st01", Some("worker1"))),
        ("worker1", check_in_at(gps())),
        ("worker1", record_result("再次更换阀门", vec![part(1)])),
        ("worker1", TicketAction::CompleteWork),
        ("agent1", call_back(Satisfaction::Satisfied)),
    ] {
        let events = given::<Ticket>(history.clone()).when(cmd(actor, action)).events();
        history.extend(events);
    }
    given::<Ticket>(history).when(cmd("agent1", close())).then(vec![TicketEvent::Closed {
        by: user("agent1"),
        note: "办结".into(),
        first_time_fix: false,
        overdue: false,
    }]);
}

#[test]
fn close_accepted_without_first_time_fix_after_return() {
    let history = extend(
        up_to_accepted(),
        [
            TicketEvent::Returned {
                station: UnitCode("st01".into()),
                reason: "缺少配件".into(),
                by: user("lead1"),
                approval_id: None,
            },
            dispatched(),
            accepted(),
            checked_in(),
            result_recorded(),
            work_completed(),
            callback_recorded(Satisfaction::Satisfied),
        ],
    );
    let events = given::<Ticket>(history).when(cmd("agent1", close())).events();
    assert!(matches!(events.as_slice(), [TicketEvent::Closed { first_time_fix: false, .. }]), "{events:?}");
}

#[test]
fn close_rejected_when_callback_not_done() {
    let cases = [
        (vec![created()], "registered"),
        (up_to_on_site(), "on_site"),
        (up_to_completed(), "completed"),
        (up_to_rework_required(), "rework_required"),
    ];
    for (history, status) in cases {
        given::<Ticket>(history).when(cmd("agent1", close())).then_err(invalid("close", status));
    }
}

#[test]
fn close_rejected_when_workflow_node_pending() {
    let history =
        extend(vec![created_with_nodes(vec![node("archive", CoreNode::Callback)])], up_to_callback_done().split_off(1));
    given::<Ticket>(history.clone())
        .when(cmd("agent1", close()))
        .then_err(TicketError::WorkflowNodePending("archive".into()));
    given::<Ticket>(extend(history, [node_completed("archive")])).when(cmd("agent1", close())).then(vec![closed()]);
}

// ---------------------------------------------------------------------------------------------
// Void and cancel
// ---------------------------------------------------------------------------------------------

#[test]
fn void_rejected_without_approval_when_gated() {
    given::<Ticket>(vec![created()])
        .when(cmd("agent1", void("重复工单", None)))
        .then_err(TicketError::ApprovalRequired(GatedOperation::Void));
}

#[test]
fn void_accepted_with_granted_approval() {
    let command = cmd("agent1", void("重复工单", Some(granted(7, GatedOperation::Void))));
    given::<Ticket>(up_to_on_site()).when(command.clone()).then(vec![TicketEvent::Voided {
        by: user("agent1"),
        reason: "重复工单".into(),
        approval_id: Some(approval_id(7)),
    }]);
    assert_eq!(state_after(up_to_on_site(), command).status, Some(TicketStatus::Voided));
}

#[test]
fn void_accepted_without_approval_when_ungated() {
    given::<Ticket>(vec![created()])
        .when(cmd_under(ungated(GatedOperation::Void), "agent1", void("重复工单", None)))
        .then(vec![voided()]);
}

#[test]
fn void_rejected_when_approval_mismatch() {
    given::<Ticket>(vec![created()])
        .when(cmd("agent1", void("重复工单", Some(granted(7, GatedOperation::Cancel)))))
        .then_err(TicketError::ApprovalMismatch(approval_id(7)));
}

#[test]
fn void_rejected_without_reason() {
    given::<Ticket>(vec![created()])
        .when(cmd("agent1", void("", Some(granted(7, GatedOperation::Void)))))
        .then_err(TicketError::Required("reason"));
}

#[test]
fn cancel_rejected_without_approval_when_gated() {
    given::<Ticket>(vec![created()])
        .when(cmd("agent1", cancel("用户撤销", None)))
        .then_err(TicketError::ApprovalRequired(GatedOperation::Cancel));
}

#[test]
fn cancel_accepted_with_granted_approval() {
    let command = cmd("agent1", cancel("用户撤销", Some(granted(7, GatedOperation::Cancel))));
    given::<Ticket>(up_to_dispatched()).when(command.clone()).then(vec![TicketEvent::Cancelled {
        by: user("agent1"),
        reason: "用户撤销".into(),
        approval_id: Some(approval_id(7)),
    }]);
    assert_eq!(state_after(up_to_dispatched(), command).status, Some(TicketStatus::Cancelled));
}

#[test]
fn cancel_accepted_without_approval_when_ungated() {
    given::<Ticket>(vec![created()])
        .when(cmd_under(ungated(GatedOperation::Cancel), "agent1", cancel("用户撤销", None)))
        .then(vec![cancelled()]);
}

#[test]
fn cancel_rejected_when_approval_not_granted() {
    given::<Ticket>(vec![created()])
        .when(cmd("agent1", cancel("用户撤销", Some(evidence(7, GatedOperation::Cancel, ApprovalStatus::Pending)))))
        .then_err(TicketError::ApprovalNotGranted(approval_id(7)));
}

#[test]
fn cancel_rejected_without_reason() {
    given::<Ticket>(vec![created()])
        .when(cmd("agent1", cancel(" ", Some(granted(7, GatedOperation::Cancel)))))
        .then_err(TicketError::Required("reason"));
}

// ---------------------------------------------------------------------------------------------
// Rule names
// ---------------------------------------------------------------------------------------------

#[test]
fn rule_returns_the_variant_name() {
    let cases = [
        (TicketError::TicketNotFound, "TicketNotFound"),
        (TicketError::TicketAlreadyExists, "TicketAlreadyExists"),
        (TicketError::TicketAlreadyClosed, "TicketAlreadyClosed"),
        (TicketError::TicketAlreadyVoided, "TicketAlreadyVoided"),
        (TicketError::TicketAlreadyCancelled, "TicketAlreadyCancelled"),
        (invalid("close", "completed"), "InvalidTransition"),
        (TicketError::UnknownTicketType("x".into()), "UnknownTicketType"),
        (TicketError::Required("reason"), "Required"),
        (TicketError::DeadlineNotInFuture, "DeadlineNotInFuture"),
        (TicketError::DeadlineNotLater, "DeadlineNotLater"),
        (TicketError::NotAStation("tj01".into()), "NotAStation"),
        (TicketError::WrongStation { expected: "st01".into(), actual: "st02".into() }, "WrongStation"),
        (TicketError::NotAssignedWorker { assigned: "w1".into(), actor: "w2".into() }, "NotAssignedWorker"),
        (TicketError::InvalidLocation, "InvalidLocation"),
        (TicketError::InvalidDigest, "InvalidDigest"),
        (TicketError::TemperatureOutOfRange(120.5), "TemperatureOutOfRange"),
        (TicketError::InvalidPartQuantity("p".into()), "InvalidPartQuantity"),
        (TicketError::ResultMissing, "ResultMissing"),
        (TicketError::NothingToReassign, "NothingToReassign"),
        (TicketError::AlreadyEscalated, "AlreadyEscalated"),
        (TicketError::ApprovalRequired(GatedOperation::Delay), "ApprovalRequired"),
        (TicketError::ApprovalNotGranted(approval_id(7)), "ApprovalNotGranted"),
        (TicketError::ApprovalMismatch(approval_id(7)), "ApprovalMismatch"),
        (TicketError::ApprovalAlreadyUsed(approval_id(7)), "ApprovalAlreadyUsed"),
        (TicketError::WorkflowNodePending("n".into()), "WorkflowNodePending"),
        (TicketError::UnknownWorkflowNode("n".into()), "UnknownWorkflowNode"),
        (TicketError::WorkflowNodeAlreadyCompleted("n".into()), "WorkflowNodeAlreadyCompleted"),
        (TicketError::WorkflowNodeNotReached("n".into()), "WorkflowNodeNotReached"),
        (TicketError::DeadlineNotPassed, "DeadlineNotPassed"),
        (TicketError::BreachAlreadyRecorded, "BreachAlreadyRecorded"),
        (TicketError::CallbackReminderAlreadyIssued, "CallbackReminderAlreadyIssued"),
    ];
    for (error, rule) in cases {
        assert_eq!(error.rule(), rule, "{error:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Codec
// ---------------------------------------------------------------------------------------------

/// The wire name of each variant; the exhaustive match makes a new variant fail to compile here
/// until it is added to [`one_of_each_event`].
fn wire_name(event: &TicketEvent) -> &'static str {
    match event {
        TicketEvent::Created(_) => "TicketCreated",
        TicketEvent::Dispatched { .. } => "TicketDispatched",
        TicketEvent::Accepted { .. } => "TicketAccepted",
        TicketEvent::Rejected { .. } => "TicketRejected",
        TicketEvent::Returned { .. } => "TicketReturned",
        TicketEvent::Reassigned { .. } => "TicketReassigned",
        TicketEvent::Urged { .. } => "TicketUrged",
        TicketEvent::Supervised { .. } => "TicketSupervised",
        TicketEvent::Escalated { .. } => "TicketEscalated",
        TicketEvent::CheckedIn { .. } => "WorkerCheckedIn",
        TicketEvent::EvidenceAttached { .. } => "EvidenceAttached",
        TicketEvent::TemperatureRecorded { .. } => "TemperatureRecorded",
        TicketEvent::WorkResultRecorded { .. } => "WorkResultRecorded",
        TicketEvent::CustomerSigned { .. } => "CustomerSigned",
        TicketEvent::WorkCompleted { .. } => "WorkCompleted",
        TicketEvent::DeadlineExtended { .. } => "TicketDeadlineExtended",
        TicketEvent::CallbackRecorded { .. } => "CallbackRecorded",
        TicketEvent::CallbackExempted { .. } => "CallbackExempted",
        TicketEvent::WorkflowNodeCompleted { .. } => "WorkflowNodeCompleted",
        TicketEvent::Closed { .. } => "TicketClosed",
        TicketEvent::Voided { .. } => "TicketVoided",
        TicketEvent::Cancelled { .. } => "TicketCancelled",
        TicketEvent::DeadlineBreached { .. } => "TicketDeadlineBreached",
        TicketEvent::UrgencyRaised { .. } => "TicketUrgencyRaised",
        TicketEvent::CallbackReminderIssued { .. } => "CallbackReminderIssued",
    }
}

const EVENT_VARIANTS: usize = 25;

fn one_of_each_event() -> Vec<TicketEvent> {
    vec![
        TicketEvent::DeadlineBreached { deadline_at: at(), by: user("system:deadline-watcher") },
        TicketEvent::UrgencyRaised { from: Urgency::Normal, to: Urgency::Urgent, reason: "超时未办结".into() },
        TicketEvent::CallbackReminderIssued { by: user("system:callback-timer") },
        created_with_nodes(vec![node("quality_check", CoreNode::Process)]),
        TicketEvent::Created(TicketCreated {
            customer_id: None,
            caller_phone: None,
            deadline_hours: None,
            ..created_payload()
        }),
        redispatched(Some(approval_id(7))),
        accepted(),
        rejected(),
        TicketEvent::Returned {
            station: UnitCode("st01".into()),
            reason: "缺少配件".into(),
            by: user("lead1"),
            approval_id: Some(approval_id(8)),
        },
        TicketEvent::Reassigned {
            from_station: UnitCode("st01".into()),
            to_station: UnitCode("st02".into()),
            to_station_path: station_b().path,
            from_worker: Some(user("worker1")),
            to_worker: None,
            reason: "就近处理".into(),
            by: user("agent1"),
        },
        TicketEvent::Urged { by: user("agent1"), note: "催".into(), count: 3 },
        TicketEvent::Supervised { by: user("manager1"), unit: UnitCode("tj01".into()), note: "限期处理".into() },
        TicketEvent::Escalated { by: user("agent1"), reason: "越级投诉".into() },
        checked_in(),
        TicketEvent::EvidenceAttached {
            by: user("worker1"),
            kind: EvidenceKind::Video,
            uri: "s3://evidence/2.mp4".into(),
            sha256: digest(),
            taken_at: at(),
            location: Some(gps()),
        },
        TicketEvent::TemperatureRecorded { by: user("worker1"), room: "客厅".into(), celsius: 17.3, taken_at: at() },
        result_recorded(),
        TicketEvent::CustomerSigned {
            by: user("worker1"),
            signature_uri: "s3://signatures/1.png".into(),
            sha256: digest(),
            satisfaction: Satisfaction::BasicallySatisfied,
        },
        work_completed(),
        TicketEvent::DeadlineExtended {
            by: user("lead1"),
            from: at(),
            to: at() + Duration::hours(24),
            reason: "等待配件".into(),
            approval_id: None,
        },
        callback_recorded(Satisfaction::Dissatisfied),
        TicketEvent::CallbackExempted {
            by: user("agent1"),
            reason: "用户拒接".into(),
            approval_id: Some(approval_id(9)),
        },
        node_completed("quality_check"),
        closed(),
        voided(),
        cancelled(),
    ]
}

#[test]
fn codec_round_trips_every_event() {
    let events = one_of_each_event();
    let names: BTreeSet<&str> = events.iter().map(wire_name).collect();
    assert_eq!(names.len(), EVENT_VARIANTS, "one_of_each_event misses a variant");
    for event in events {
        let encoded = event.encode();
        assert_eq!(encoded.event_type, wire_name(&event));
        let decoded = TicketEvent::decode(&encoded.event_type, encoded.schema_version, encoded.payload.clone());
        let text = encoded.payload.to_string();
        let from_text = TicketEvent::decode_text(&encoded.event_type, encoded.schema_version, &text);
        assert_eq!(from_text, decoded, "from the text as from the value: {encoded:?}");
        assert_eq!(decoded, Ok(event), "{encoded:?}");
    }
}

#[test]
fn codec_encodes_ticket_created_at_version_2_and_the_rest_at_1() {
    for event in one_of_each_event() {
        let expected = if matches!(event, TicketEvent::Created(_)) { 2 } else { 1 };
        assert_eq!(event.encode().schema_version, expected, "{event:?}");
    }
}

fn v1_created_payload(urgent: bool) -> serde_json::Value {
    json!({
        "ticket_id": ticket_id(),
        "ticket_no": "tj01-2026-000001",
        "tenant": "tj01",
        "ticket_type": "repair",
        "urgent": urgent,
        "customer_id": Uuid::from_u128(2),
        "caller_phone": "13812345678",
        "address": "天津市南开区复康路 10 号 3-2-501",
        "description": "暖气不热",
        "created_by": "agent1",
        "deadline_at": at() + Duration::hours(24),
        "deadline_hours": 24,
        "extra_nodes": [],
    })
}

#[test]
fn decode_upcasts_v1_ticket_created() {
    assert_eq!(
        TicketEvent::decode("TicketCreated", 1, v1_created_payload(true)),
        Ok(TicketEvent::Created(TicketCreated {
            urgency: Urgency::Urgent,
            source: Source::Phone,
            ..created_payload()
        }))
    );
    assert_eq!(TicketEvent::decode("TicketCreated", 1, v1_created_payload(false)), Ok(created()));
    let text = v1_created_payload(false).to_string();
    assert_eq!(TicketEvent::decode_text("TicketCreated", 1, &text), Ok(created()), "upcast from the text too");
}

/// The text path refuses what the value path refuses, with the same kind of error.
#[test]
fn decode_text_refuses_alike() {
    assert_eq!(
        TicketEvent::decode_text("TicketReopened", 1, "{}"),
        Err(DecodeError::UnknownEventType { event_type: "TicketReopened".into(), schema_version: 1 })
    );
    assert_eq!(
        TicketEvent::decode_text("TicketDispatched", 2, "{}"),
        Err(DecodeError::UnsupportedVersion { event_type: "TicketDispatched".into(), schema_version: 2 })
    );
    for text in [r#"{"station": 5}"#, "{not json", r#"{"station": "s1"} trailing"#] {
        let decoded = TicketEvent::decode_text("TicketDispatched", 1, text);
        assert!(matches!(&decoded, Err(DecodeError::MalformedPayload { .. })), "{text}: {decoded:?}");
    }
}

#[test]
fn upcast_ticket_keeps_a_source_and_ignores_other_events() {
    let upcast = upcast_ticket("TicketCreated", 1, json!({ "urgent": true, "source": "wechat" }));
    assert_eq!(upcast, Some(json!({ "urgency": "urgent", "source": "wechat" })));
    assert_eq!(upcast_ticket("TicketCreated", 2, json!({})), None);
    assert_eq!(upcast_ticket("TicketDispatched", 1, json!({})), None);
}

#[test]
fn decode_rejected_for_unknown_event_type() {
    assert_eq!(
        TicketEvent::decode("TicketReopened", 1, json!({})),
        Err(DecodeError::UnknownEventType { event_type: "TicketReopened".into(), schema_version: 1 })
    );
}

#[test]
fn decode_rejected_for_unsupported_version() {
    let payload = created().encode().payload;
    for (event_type, version) in [("TicketCreated", 3), ("TicketCreated", 0), ("TicketDispatched", 2)] {
        assert_eq!(
            TicketEvent::decode(event_type, version, payload.clone()),
            Err(DecodeError::UnsupportedVersion { event_type: event_type.into(), schema_version: version })
        );
    }
}

#[test]
fn decode_rejected_for_malformed_payload() {
    let decoded = TicketEvent::decode("TicketDispatched", 1, json!({ "station": 5 }));
    assert!(
        matches!(&decoded, Err(DecodeError::MalformedPayload { event_type, .. }) if event_type == "TicketDispatched"),
        "{decoded:?}"
    );
    let mut payload = created().encode().payload;
    payload.as_object_mut().expect("an object").remove("deadline_at");
    let decoded = TicketEvent::decode("TicketCreated", 2, payload);
    assert!(
        matches!(&decoded, Err(DecodeError::MalformedPayload { event_type, .. }) if event_type == "TicketCreated"),
        "{decoded:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Property: any sequence of commands
// ---------------------------------------------------------------------------------------------

/// Number of step kinds the property draws from; kinds 21 and up take the happy path.
const STEP_KINDS: u8 = 30;

/// The command of step `i`: a fixed action by `kind`, or for kinds 21 and up the next
/// happy-path action for `state`, so that tickets also reach `closed`. Approvals carry an id
/// unique to the step.
fn step_command(state: &TicketState, kind: u8, i: usize, with_approval: bool, policy: &TicketPolicy) -> TicketCommand {
    let n = 1000 + i as u128;
    let approval = |operation| with_approval.then(|| granted(n, operation));
    let (actor, action) = match kind {
        0 => ("agent1", dispatch(station_a(), approval(GatedOperation::Redispatch))),
        1 => ("agent1", dispatch(station_b(), approval(GatedOperation::Redispatch))),
        2 => ("lead1", accept("st01", Some("worker1"))),
        3 => ("lead2", accept("st02", None)),
        4 => ("lead1", reject("太远")),
        5 => ("lead1", return_action("缺少配件", approval(GatedOperation::Return))),
        6 => ("agent1", reassign(Some(station_b()), None, "就近处理")),
        7 => ("lead1", reassign(None, Some("worker2"), "原师傅请假")),
        8 => ("agent1", TicketAction::Urge { note: "催".into() }),
        9 => ("agent1", TicketAction::Escalate { reason: "越级投诉".into() }),
        10 => ("worker1", check_in_at(gps())),
        11 => ("worker2", check_in_at(gps())),
        12 => ("worker1", record_result("更换阀门", vec![part(1)])),
        13 => ("worker1", TicketAction::CompleteWork),
        14 => ("agent1", call_back(Satisfaction::Satisfied)),
        15 => ("agent1", call_back(Satisfaction::Dissatisfied)),
        16 => ("agent1", exempt_callback("用户拒接", approval(GatedOperation::CallbackExemption))),
        17 => (
            "lead1",
            extend_deadline(at() + Duration::hours(25 + i as i64), "等待配件", approval(GatedOperation::Delay)),
        ),
        18 => ("agent1", close()),
        19 => ("agent1", void("重复工单", approval(GatedOperation::Void))),
        20 => ("agent1", cancel("用户撤销", approval(GatedOperation::Cancel))),
        _ => match state.status {
            Some(TicketStatus::Dispatched) => {
                let station = state.station.clone().map(|s| s.0).unwrap_or_default();
                ("lead1", accept(&station, Some("worker1")))
            }
            Some(TicketStatus::Accepted | TicketStatus::OnSite) if !state.result_recorded => {
                let worker = state.worker.clone().unwrap_or_else(|| user("worker1"));
                let action = if state.status == Some(TicketStatus::Accepted) {
                    check_in_at(gps())
                } else {
                    record_result("更换阀门", vec![part(1)])
                };
                return TicketCommand {
                    actor: worker,
                    at: at() + Duration::minutes(i as i64),
                    policy: policy.clone(),
                    action,
                };
            }
            Some(TicketStatus::OnSite) => ("worker1", TicketAction::CompleteWork),
            Some(TicketStatus::Completed) => ("agent1", call_back(Satisfaction::Satisfied)),
            Some(TicketStatus::CallbackDone) => ("agent1", close()),
            _ => ("agent1", dispatch(station_a(), approval(GatedOperation::Redispatch))),
        },
    };
    TicketCommand { actor: user(actor), at: at() + Duration::minutes(i as i64), policy: policy.clone(), action }
}

fn terminal_error(status: TicketStatus) -> TicketError {
    match status {
        TicketStatus::Closed => TicketError::TicketAlreadyClosed,
        TicketStatus::Voided => TicketError::TicketAlreadyVoided,
        _ => TicketError::TicketAlreadyCancelled,
    }
}

proptest! {
    #[test]
    fn any_command_sequence_folds_and_terminal_rejects_all(
        ungated_all in any::<bool>(),
        steps in prop::collection::vec((0..STEP_KINDS, any::<bool>()), 0..60),
    ) {
        let policy = if ungated_all {
            TicketPolicy {
                approval_chains: GatedOperation::ALL.iter().map(|op| (*op, vec![])).collect(),
                ..TicketPolicy::default()
            }
        } else {
            TicketPolicy::default()
        };
        let mut history = vec![created()];
        let mut state = state_of(&history);
        for (i, (kind, with_approval)) in steps.into_iter().enumerate() {
            let command = step_command(&state, kind, i, with_approval, &policy);
            let terminal = state.status.filter(|s| s.is_terminal());
            match Ticket::decide(&state, &command) {
                Ok(events) => {
                    prop_assert!(terminal.is_none(), "{:?} accepted {:?}", terminal, command.action);
                    prop_assert!(!events.is_empty());
                    for event in &events {
                        if let TicketEvent::Closed { first_time_fix, .. } = event {
                            let reworked = history.iter().any(|e| {
                                matches!(
                                    e,
                                    TicketEvent::Returned { .. }
                                        | TicketEvent::Dispatched { redispatch: true, .. }
                                        | TicketEvent::CallbackRecorded { satisfaction: Satisfaction::Dissatisfied, .. }
                                )
                            });
                            prop_assert_eq!(*first_time_fix, !reworked);
                        }
                        let encoded = event.encode();
                        let decoded = TicketEvent::decode(&encoded.event_type, encoded.schema_version, encoded.payload);
                        prop_assert_eq!(decoded.as_ref(), Ok(event));
                        state = Ticket::evolve(state, event);
                    }
                    history.extend(events);
                    prop_assert!(state.status.is_some());
                    prop_assert_eq!(&state_of(&history), &state);
                }
                Err(error) => {
                    if let Some(status) = terminal {
                        prop_assert_eq!(error, terminal_error(status));
                    }
                }
            }
            if let Some(status) = state.status.filter(|s| s.is_terminal()) {
                for action in every_action() {
                    prop_assert_eq!(
                        Ticket::decide(&state, &cmd_under(policy.clone(), "agent1", action)),
                        Err(terminal_error(status))
                    );
                }
                prop_assert_eq!(
                    Ticket::decide(&state, &cmd("agent1", TicketAction::Create(new_ticket()))),
                    Err(TicketError::TicketAlreadyExists)
                );
            }
        }
    }
}

// Regression: a reassignment to another station that names a worker kept the event and the
// state apart (the state dropped the worker).
#[test]
fn reassign_to_other_station_keeps_the_named_worker() {
    let events = given::<Ticket>(up_to_accepted())
        .when(cmd(
            "lead",
            TicketAction::Reassign { station: Some(station_b()), worker: Some(user("w9")), reason: "就近".into() },
        ))
        .events();
    let state = Ticket::fold(extend(up_to_accepted(), events).iter());
    assert_eq!(state.status, Some(TicketStatus::Dispatched));
    assert_eq!(state.worker, Some(user("w9")));
}

// Regression: only check-in checked the assigned worker; every on-site action must.
#[test]
fn record_result_rejected_for_another_worker() {
    let assigned = up_to_on_site();
    let worker = Ticket::fold(assigned.iter()).worker.expect("on site has a worker");
    given::<Ticket>(assigned)
        .when(cmd(
            "intruder",
            TicketAction::RecordResult { result: "修好了".into(), parts: vec![], duration_minutes: 30 },
        ))
        .then_err(TicketError::NotAssignedWorker { assigned: worker.0, actor: "intruder".into() });
}

// Regression: an extension could move the deadline to a time already past.
#[test]
fn extend_deadline_rejected_when_new_deadline_is_past() {
    let history = up_to_accepted();
    let deadline = Ticket::fold(history.iter()).deadline_at.expect("deadline");
    let late = deadline + chrono::Duration::hours(10);
    given::<Ticket>(history)
        .when(cmd_at(
            "lead",
            late,
            TicketAction::ExtendDeadline {
                new_deadline: deadline + chrono::Duration::hours(1),
                reason: "缺配件".into(),
                approval: Some(granted(1, GatedOperation::Delay)),
            },
        ))
        .then_err(TicketError::DeadlineNotInFuture);
}

// Regression: an unknown enum value inside a known event was reported as an unknown event type.
#[test]
fn decode_reports_bad_enum_value_as_malformed_payload() {
    let mut payload = created().encode().payload;
    payload["urgency"] = serde_json::json!("whenever");
    let error = TicketEvent::decode("TicketCreated", 2, payload).expect_err("bad urgency");
    assert!(matches!(error, DecodeError::MalformedPayload { .. }), "{error:?}");
}

// Regression: after a dissatisfied callback the second visit's quality check was refused as
// completed already; nodes from dispatch on are redone when work starts over.
#[test]
fn complete_node_accepted_again_after_dissatisfied_callback() {
    let quality = node("quality_check", CoreNode::Process);
    let history = vec![
        created_with_nodes(vec![quality]),
        dispatched(),
        accepted(),
        checked_in(),
        result_recorded(),
        work_completed(),
        TicketEvent::WorkflowNodeCompleted { by: user("lead1"), node: "quality_check".into(), note: String::new() },
        callback_recorded(Satisfaction::Dissatisfied),
        redispatched(Some(approval_id(5))),
        accepted(),
        checked_in(),
        result_recorded(),
        work_completed(),
    ];
    given::<Ticket>(history.clone())
        .when(cmd(
            "agent1",
            TicketAction::RecordCallback { satisfaction: Satisfaction::Satisfied, note: String::new() },
        ))
        .then_err(TicketError::WorkflowNodePending("quality_check".into()));
    let events = given::<Ticket>(history)
        .when(cmd("lead1", TicketAction::CompleteNode { node: "quality_check".into(), note: "复检合格".into() }))
        .events();
    assert_eq!(events.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Deadline breach (the deadline watcher's command)
// ---------------------------------------------------------------------------------------------

fn breach_at(history: &[TicketEvent], late_by: chrono::Duration) -> TicketCommand {
    let deadline = Ticket::fold(history.iter()).deadline_at.expect("deadline");
    cmd_at("system:deadline-watcher", deadline + late_by, TicketAction::RecordDeadlineBreach { deadline_at: deadline })
}

#[test]
fn record_deadline_breach_raises_urgency_and_supervises() {
    let history = up_to_accepted();
    let state = Ticket::fold(history.iter());
    let deadline = state.deadline_at.unwrap();
    let urgency = state.urgency.unwrap();
    let events = given::<Ticket>(history.clone()).when(breach_at(&history, chrono::Duration::minutes(1))).events();
    assert_eq!(events[0], TicketEvent::DeadlineBreached { deadline_at: deadline, by: user("system:deadline-watcher") });
    assert!(matches!(&events[1], TicketEvent::UrgencyRaised { from, .. } if *from == urgency));
    assert!(matches!(&events[2], TicketEvent::Supervised { unit, .. } if unit.0 == "tj01"));
    let after = Ticket::fold(extend(history, events).iter());
    assert!(after.supervised && after.breached_deadline == Some(deadline));
}

#[test]
fn record_deadline_breach_rejected_before_the_deadline_or_twice() {
    let history = up_to_accepted();
    given::<Ticket>(history.clone())
        .when(breach_at(&history, -chrono::Duration::minutes(1)))
        .then_err(TicketError::DeadlineNotPassed);
    let events = given::<Ticket>(history.clone()).when(breach_at(&history, chrono::Duration::minutes(1))).events();
    let breached = extend(history.clone(), events);
    given::<Ticket>(breached)
        .when(breach_at(&history, chrono::Duration::hours(1)))
        .then_err(TicketError::BreachAlreadyRecorded);
}

#[test]
fn record_deadline_breach_rejected_for_a_deadline_extended_since() {
    let history = up_to_accepted();
    let stale = breach_at(&history, chrono::Duration::minutes(5));
    let deadline = Ticket::fold(history.iter()).deadline_at.unwrap();
    let extended = extend(
        history,
        [TicketEvent::DeadlineExtended {
            by: user("lead1"),
            from: deadline,
            to: deadline + chrono::Duration::days(1),
            reason: "缺件".into(),
            approval_id: Some(approval_id(3)),
        }],
    );
    given::<Ticket>(extended).when(stale).then_err(TicketError::DeadlineNotPassed);
}

#[test]
fn record_deadline_breach_rejected_when_closed() {
    let history = extend(up_to_accepted(), [closed()]);
    let command = breach_at(&history, chrono::Duration::minutes(1));
    given::<Ticket>(history).when(command).then_err(TicketError::TicketAlreadyClosed);
}

#[test]
fn remind_callback_accepted_once_per_completion() {
    let completed = extend(up_to_result(), [work_completed()]);
    let events =
        given::<Ticket>(completed.clone()).when(cmd("system:callback-timer", TicketAction::RemindCallback)).events();
    assert_eq!(events, vec![TicketEvent::CallbackReminderIssued { by: user("system:callback-timer") }]);
    given::<Ticket>(extend(completed, events))
        .when(cmd("system:callback-timer", TicketAction::RemindCallback))
        .then_err(TicketError::CallbackReminderAlreadyIssued);
}

#[test]
fn remind_callback_rejected_before_completion() {
    given::<Ticket>(up_to_accepted())
        .when(cmd("system:callback-timer", TicketAction::RemindCallback))
        .then_err(TicketError::InvalidTransition { action: "remind the callback of", status: "accepted" });
}

/// Issue 12: a NUL byte or an over-long text never reaches a ticket event; every text an action
/// carries is listed with its rule.
#[test]
fn texts_refuse_control_characters_and_overlong_fields() {
    use crate::text::check_all;
    let check = |action: TicketAction, expect: Result<(), &str>| {
        let name = action.name();
        assert_eq!(check_all(Ticket::texts(&cmd("agent1", action))).map_err(|e| e.rule()), expect, "{name}");
    };
    check(TicketAction::Create(new_ticket()), Ok(()));
    check(TicketAction::Create(NewTicket { description: "暖气不热\n\t三楼".into(), ..new_ticket() }), Ok(()));
    check(
        TicketAction::Create(NewTicket { description: "暖气\0不热".into(), ..new_ticket() }),
        Err("ControlCharacter"),
    );
    check(TicketAction::Create(NewTicket { description: "热".repeat(2_001), ..new_ticket() }), Err("TextTooLong"));
    check(TicketAction::Create(NewTicket { address: "幸福里\n1号楼".into(), ..new_ticket() }), Err("ControlCharacter"));
    check(TicketAction::Create(NewTicket { address: "a".repeat(201), ..new_ticket() }), Err("TextTooLong"));
    check(TicketAction::Urge { note: "\u{1b}[2J".into() }, Err("ControlCharacter"));
    check(TicketAction::Void { reason: "r".repeat(2_001), approval: None }, Err("TextTooLong"));
    let part = Part { code: "valve".into(), name: "阀\0门".into(), quantity: 1 };
    check(
        TicketAction::RecordResult { result: "换阀门".into(), parts: vec![part], duration_minutes: 5 },
        Err("ControlCharacter"),
    );
    check(
        TicketAction::RecordTemperature { room: "卧室\t".into(), celsius: 18.0, taken_at: at() },
        Err("ControlCharacter"),
    );
}
