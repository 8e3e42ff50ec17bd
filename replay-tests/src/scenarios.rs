//! Scripted histories, run through the real command path on a throwaway SQLite log with a fixed
//! clock and deterministic ids, then written as fixtures (`record-fixtures`). Each of
//! [`SCENARIOS`] covers one ticket path; together they cover every path of DESIGN.md. Each of
//! [`TELEPHONY_SCENARIOS`] covers calls, agents or phones: the commands the SIP adapter and the
//! agents send, on a tenant whose switchboard is configured first.

use chrono::{DateTime, Duration, TimeZone, Utc};
use hotline_commands::clock::ManualClock;
use hotline_commands::handler::CommandContext;
use hotline_commands::process::{Follower, PhoneTimers, TicketTimers};
use hotline_commands::service::ServiceError;
use hotline_commands::store::sqlite::SqliteEventStore;
use hotline_commands::store::{EventStore, RecordedEvent};
use hotline_commands::Hotline;
use hotline_domain::agent::AgentStatus;
use hotline_domain::approval::{ApprovalAction, ApprovalEvent, ApprovalLevel, Approver, GatedOperation};
use hotline_domain::call::{CallAction, CallCommand, CallKey, OfferCall, Party};
use hotline_domain::customer::CustomerCommand;
use hotline_domain::organisation::{OrganisationCommand, Role, UnitKind};
use hotline_domain::phone::{PhoneCommand, PhoneKey};
use hotline_domain::settings::SettingsCommand;
use hotline_domain::telephony::{Extension, QueueConfig, QueueId, SeatId, TelephonyCommand};
use hotline_domain::ticket::{
    CoreNode, EvidenceKind, NewTicket, Part, Satisfaction, Source, TicketAction, TicketRequest, TicketType, Urgency,
    WorkflowNode,
};
use hotline_domain::values::{ApprovalId, CustomerId, GeoPoint, PhoneNumber, TenantId, TicketId, UnitCode, UserId};
use serde_json::json;
use std::sync::Arc;
use uuid::Uuid;

/// Every scenario's name, in recording order.
pub const SCENARIOS: [&str; 15] = [
    "plain_repair_closed",
    "rejected_then_dispatched_elsewhere",
    "returned_with_approval_and_redispatched",
    "dissatisfied_callback_redispatch",
    "supervised_and_urged",
    "escalated_complaint",
    "deadline_extended_with_approval",
    "voided_after_two_level_approval",
    "cancel_rejected_at_group_level",
    "deadline_breached",
    "offline_batch_arriving_late",
    "custom_type_and_quality_check_node",
    "reassigned_to_another_station",
    "callback_exempted_with_approval",
    "void_approved_along_its_chain",
];

/// Every telephony scenario's name, in recording order.
pub const TELEPHONY_SCENARIOS: [&str; 7] = [
    "call_answered_held_and_transferred",
    "call_abandoned_while_ringing_short",
    "call_abandoned_after_long_wait",
    "calls_rejected_blacklisted_and_busy",
    "call_timed_out_to_voicemail",
    "agent_shift_with_wrap_up",
    "phones_registered_unregistered_and_expired",
];

/// The tenant of the telephony scenarios.
const TENANT: &str = "tj01";
/// The hotline number its callers dial.
const HOTLINE: &str = "96069";

fn tenant() -> TenantId {
    TenantId(TENANT.into())
}

/// 09:00 China Standard Time, 2026-11-23.
pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).single().expect("valid time")
}

struct Script {
    hotline: Hotline,
    clock: Arc<ManualClock>,
    next_id: u128,
    now: DateTime<Utc>,
}

impl Script {
    fn id(&mut self) -> Uuid {
        self.next_id += 1;
        Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + self.next_id)
    }

    fn context(&mut self, actor: &str, source: &str) -> CommandContext {
        let command_id = self.id();
        CommandContext {
            command_id,
            actor: actor.to_owned(),
            tenant: None,
            correlation_id: command_id,
            causation_id: None,
            source: source.to_owned(),
            occurred_at: self.now,
            fingerprint: None,
        }
    }

    /// Moves time forward, on the server clock too.
    fn later(&mut self, minutes: i64) {
        self.seconds_later(minutes * 60);
    }

    /// Moves time forward by seconds, on the server clock too.
    fn seconds_later(&mut self, seconds: i64) {
        self.now += Duration::seconds(seconds);
        self.clock.set(self.now);
    }

    async fn configure(&mut self, command: TelephonyCommand) -> Result<(), ServiceError> {
        let context = self.context("tj01-admin", "graphql");
        self.hotline.configure_telephony(&context, &tenant(), &command).await.map(|_| ())
    }

    /// The tenant's switchboard: queue `repair` (default thresholds: service level 20 s, short
    /// abandon 5 s) for the hotline number, seats `s1` and `s2` with phones 8001 and 8002.
    async fn switchboard(&mut self) -> Result<(), ServiceError> {
        let queue = QueueId("repair".into());
        self.configure(TelephonyCommand::ConfigureQueue(QueueConfig::new(queue.clone(), "报修专线"))).await?;
        self.configure(TelephonyCommand::RouteNumber { dialled: PhoneNumber(HOTLINE.into()), queue }).await?;
        for (seat, name, extension) in [("s1", "一号坐席", "8001"), ("s2", "二号坐席", "8002")] {
            let seat = SeatId(seat.into());
            self.configure(TelephonyCommand::DefineSeat { seat: seat.clone(), name_zh: name.into() }).await?;
            self.configure(TelephonyCommand::BindPhone { seat, extension: Extension(extension.into()) }).await?;
        }
        Ok(())
    }

    async fn sign_in(&mut self, agent: &str, seat: &str) -> Result<(), ServiceError> {
        let context = self.context(agent, "graphql");
        self.hotline.sign_in(&context, &UserId(agent.into()), &tenant(), &SeatId(seat.into())).await.map(|_| ())
    }

    async fn sign_out(&mut self, agent: &str) -> Result<(), ServiceError> {
        let context = self.context(agent, "graphql");
        self.hotline.sign_out(&context, &UserId(agent.into()), &tenant()).await.map(|_| ())
    }

    async fn agent_status(&mut self, agent: &str, status: AgentStatus) -> Result<(), ServiceError> {
        let context = self.context(agent, "graphql");
        self.hotline.set_agent_status(&context, &UserId(agent.into()), &tenant(), status).await.map(|_| ())
    }

    fn phone_key(extension: &str) -> PhoneKey {
        PhoneKey { tenant: tenant(), extension: Extension(extension.into()) }
    }

    /// A REGISTER of `extension` accepted for `expires_seconds`, as the SIP adapter sends it.
    async fn register(&mut self, extension: &str, expires_seconds: u32) -> Result<(), ServiceError> {
        let command = PhoneCommand::Register {
            tenant: tenant(),
            extension: Extension(extension.into()),
            contact: format!("sip:{extension}@10.0.8.21:5060"),
            expires_seconds,
            at: self.now,
        };
        let context = self.context("system:sip", "sip");
        self.hotline.phone(&context, &Script::phone_key(extension), &command).await.map(|_| ())
    }

    async fn unregister(&mut self, extension: &str) -> Result<(), ServiceError> {
        let context = self.context("system:sip", "sip");
        let command = PhoneCommand::Unregister { at: self.now };
        self.hotline.phone(&context, &Script::phone_key(extension), &command).await.map(|_| ())
    }

    /// A call observed by the SIP adapter: `action` on the call's stream, now.
    async fn call(&mut self, key: CallKey, action: CallAction) -> Result<(), ServiceError> {
        let context = self.context("system:sip", "sip");
        let command = CallCommand { at: self.now, action };
        self.hotline.call(&context, &tenant(), key, &command).await.map(|_| ())
    }

    /// An INVITE from `caller` to the hotline, routed by the tenant's configuration.
    async fn offer(&mut self, call_id: &str, caller: &str) -> Result<CallKey, ServiceError> {
        let (caller, dialled) = (PhoneNumber(caller.into()), PhoneNumber(HOTLINE.into()));
        let routing = self.hotline.telephony_config(&tenant()).await?.route(&caller, &dialled);
        let key = CallKey::of(&tenant(), call_id, None);
        let offer =
            OfferCall { call_id: call_id.into(), tenant: tenant(), caller, dialled, correlation: None, routing };
        self.call(key, CallAction::Offer(offer)).await?;
        Ok(key)
    }

    /// A 180 (`answer` false) or 200 (`answer` true) from `extension`, with the seat and agent
    /// the service resolves.
    async fn phone_picks_up(&mut self, key: CallKey, extension: &str, answer: bool) -> Result<(), ServiceError> {
        let extension = Extension(extension.into());
        let (seat, agent) = self.hotline.seat_of_extension(&tenant(), &extension).await?;
        let action = if answer {
            CallAction::Answer { extension, seat, agent }
        } else {
            CallAction::Ring { extension, seat, agent }
        };
        self.call(key, action).await
    }

    async fn org(&mut self) -> Result<(), ServiceError> {
        let units = [
            ("hq", UnitKind::Group, None),
            ("north", UnitKind::Division, Some("hq")),
            ("tj01", UnitKind::Subsidiary, Some("north")),
            ("tj01-st01", UnitKind::Station, Some("tj01")),
            ("tj01-st02", UnitKind::Station, Some("tj01")),
        ];
        for (code, kind, parent) in units {
            let command = OrganisationCommand::CreateUnit {
                code: UnitCode(code.into()),
                kind,
                name: format!("{code} 单位"),
                parent: parent.map(|p| UnitCode(p.into())),
            };
            let context = self.context("hq-admin", "cli");
            self.hotline.organisation(&context, &command).await?;
        }
        for (user, unit, role) in
            [("tj01-st01-w1", "tj01-st01", Role::FieldWorker), ("tj01-st02-w1", "tj01-st02", Role::FieldWorker)]
        {
            let command = OrganisationCommand::RegisterUser {
                user_id: UserId(user.into()),
                name: "王师傅".into(),
                unit: UnitCode(unit.into()),
                roles: vec![role],
                phone: PhoneNumber::parse("13900001111"),
            };
            let context = self.context("hq-admin", "cli");
            self.hotline.organisation(&context, &command).await?;
        }
        let customer_id = CustomerId(self.id());
        let register = CustomerCommand::Register {
            customer_id,
            tenant: TenantId("tj01".into()),
            name: "李四".into(),
            address: "幸福里3号楼2单元501室".into(),
            site_path: "tj01/hs1/hst2/幸福里/3/2".into(),
            phones: vec![PhoneNumber("13812345678".into())],
        };
        let context = self.context("integration-billing", "integration");
        self.hotline.customer(&context, customer_id, &register).await?;
        Ok(())
    }

    async fn settings(&mut self, command: SettingsCommand) -> Result<(), ServiceError> {
        let context = self.context("tj01-admin", "graphql");
        self.hotline.settings(&context, &TenantId("tj01".into()), &command).await.map(|_| ())
    }

    async fn ticket(&mut self, ticket_type: &str, urgency: Urgency) -> Result<TicketId, ServiceError> {
        let ticket_id = TicketId(self.id());
        let new = NewTicket {
            ticket_id,
            ticket_no: String::new(),
            tenant: TenantId("tj01".into()),
            ticket_type: TicketType(ticket_type.into()),
            urgency,
            source: Source::Phone,
            customer_id: None,
            caller_phone: PhoneNumber::parse("13812345678"),
            address: "幸福里3号楼2单元501室".into(),
            description: "暖气片不热".into(),
            deadline_override: None,
        };
        let context = self.context("tj01-agent1", "graphql");
        self.hotline.create_ticket(&context, new).await?;
        Ok(ticket_id)
    }

    async fn act(&mut self, actor: &str, ticket_id: TicketId, request: TicketRequest) -> Result<(), ServiceError> {
        self.later(10);
        let source = if actor.contains("-w") { "mobile" } else { "graphql" };
        let context = self.context(actor, source);
        self.hotline.ticket(&context, ticket_id, request).await.map(|_| ())
    }

    async fn dispatch(
        &mut self,
        ticket_id: TicketId,
        station: &str,
        approval: Option<ApprovalId>,
    ) -> Result<(), ServiceError> {
        let action =
            TicketAction::Dispatch { station: UnitCode(station.into()), note: "请尽快上门".into(), approval };
        self.act("tj01-agent1", ticket_id, action).await
    }

    async fn accept(&mut self, ticket_id: TicketId, station: &str) -> Result<(), ServiceError> {
        let worker = Some(UserId(format!("{station}-w1")));
        self.act(
            &format!("{station}-lead"),
            ticket_id,
            TicketAction::Accept { station: UnitCode(station.into()), worker },
        )
        .await
    }

    async fn field_work(&mut self, ticket_id: TicketId, station: &str) -> Result<(), ServiceError> {
        let worker = format!("{station}-w1");
        let location = GeoPoint { latitude: 39.1234, longitude: 117.2001, accuracy_m: 8.5 };
        self.act(&worker, ticket_id, TicketAction::CheckIn { location }).await?;
        let photo = TicketAction::AttachEvidence {
            kind: EvidenceKind::Photo,
            uri: "blob://evidence/valve.jpg".into(),
            sha256: "ab".repeat(32),
            taken_at: self.now,
            location: Some(location),
        };
        self.act(&worker, ticket_id, photo).await?;
        let reading = TicketAction::RecordTemperature { room: "客厅".into(), celsius: 16.5, taken_at: self.now };
        self.act(&worker, ticket_id, reading).await?;
        let parts = vec![Part { code: "VALVE-DN20".into(), name: "DN20暖气阀门".into(), quantity: 1 }];
        self.act(
            &worker,
            ticket_id,
            TicketAction::RecordResult { result: "更换阀门".into(), parts, duration_minutes: 40 },
        )
        .await?;
        let signature = TicketAction::CollectSignature {
            signature_uri: "blob://signatures/1.png".into(),
            sha256: "cd".repeat(32),
            satisfaction: Satisfaction::Satisfied,
        };
        self.act(&worker, ticket_id, signature).await?;
        self.act(&worker, ticket_id, TicketAction::CompleteWork).await
    }

    async fn finish(&mut self, ticket_id: TicketId, satisfaction: Satisfaction) -> Result<(), ServiceError> {
        self.act("tj01-agent2", ticket_id, TicketAction::RecordCallback { satisfaction, note: "电话回访".into() })
            .await?;
        if satisfaction != Satisfaction::Dissatisfied {
            self.act("tj01-agent2", ticket_id, TicketAction::Close { note: "办结".into() }).await?;
        }
        Ok(())
    }

    async fn work_to_close(&mut self, ticket_id: TicketId, station: &str) -> Result<(), ServiceError> {
        self.dispatch(ticket_id, station, None).await?;
        self.accept(ticket_id, station).await?;
        self.field_work(ticket_id, station).await?;
        self.finish(ticket_id, Satisfaction::Satisfied).await
    }

    /// Requests an approval; each level in turn approves, except the last when `reject_last`.
    async fn approval(
        &mut self,
        ticket_id: TicketId,
        operation: GatedOperation,
        reject_last: bool,
    ) -> Result<ApprovalId, ServiceError> {
        let approval_id = ApprovalId(self.id());
        self.later(5);
        let context = self.context("tj01-agent1", "graphql");
        let requested =
            self.hotline.request_approval(&context, approval_id, ticket_id, operation, "申请审批", json!({})).await?;
        let approvers = match requested.events.first() {
            Some(ApprovalEvent::Requested { approvers, .. }) => approvers.clone(),
            _ => Vec::new(),
        };
        for (i, named) in approvers.iter().enumerate() {
            self.later(30);
            // tj01's user holding the role the level names at its unit.
            let (actor, tenant) = match named.role {
                Role::StationLead => (format!("{}-lead", named.unit.0), Some("tj01")),
                Role::Supervisor => ("tj01-supervisor".to_owned(), Some("tj01")),
                Role::SubsidiaryAdmin => ("tj01-admin".to_owned(), Some("tj01")),
                _ => ("hq-admin".to_owned(), None),
            };
            let approver = Approver {
                roles: vec![named.role],
                tenant: tenant.map(|t| TenantId(t.into())),
                path: named.path.clone(),
            };
            let action = if reject_last && i + 1 == approvers.len() {
                ApprovalAction::Reject { level: named.level, approver, reason: "理由不充分".into() }
            } else {
                ApprovalAction::Approve { level: named.level, approver, comment: "同意".into() }
            };
            let context = self.context(&actor, "graphql");
            self.hotline.decide_approval(&context, approval_id, action).await?;
        }
        Ok(approval_id)
    }
}

/// Runs one scenario on a fresh log and returns every event it recorded.
pub async fn record(name: &str) -> Result<Vec<RecordedEvent>, ServiceError> {
    let dir = tempfile::tempdir().map_err(|e| ServiceError::NotFound { what: "temp dir", id: e.to_string() })?;
    let clock = Arc::new(ManualClock::new(start()));
    let store: Arc<dyn EventStore> = Arc::new(SqliteEventStore::open(&dir.path().join("log.db"), clock.clone()).await?);
    let hotline = Hotline::new(Arc::clone(&store), clock.clone(), "hq");
    let mut s = Script { hotline, clock, next_id: 0, now: start() };
    if TELEPHONY_SCENARIOS.contains(&name) {
        telephony(&mut s, name).await?;
        return Ok(store.read_all(0, u32::MAX).await?);
    }
    s.org().await?;
    match name {
        "plain_repair_closed" => {
            let t = s.ticket("repair", Urgency::Urgent).await?;
            s.work_to_close(t, "tj01-st01").await?;
        }
        "rejected_then_dispatched_elsewhere" => {
            let t = s.ticket("repair", Urgency::Normal).await?;
            s.dispatch(t, "tj01-st01", None).await?;
            s.act("tj01-st01-lead", t, TicketAction::Reject { reason: "不在本站片区".into() }).await?;
            s.work_to_close(t, "tj01-st02").await?;
        }
        "returned_with_approval_and_redispatched" => {
            let t = s.ticket("repair", Urgency::Normal).await?;
            s.dispatch(t, "tj01-st01", None).await?;
            s.accept(t, "tj01-st01").await?;
            let a = s.approval(t, GatedOperation::Return, false).await?;
            s.act("tj01-st01-lead", t, TicketAction::Return { reason: "需管网部门处理".into(), approval: Some(a) })
                .await?;
            s.work_to_close(t, "tj01-st02").await?;
        }
        "dissatisfied_callback_redispatch" => {
            let t = s.ticket("temperature_check", Urgency::Normal).await?;
            s.dispatch(t, "tj01-st01", None).await?;
            s.accept(t, "tj01-st01").await?;
            s.field_work(t, "tj01-st01").await?;
            s.finish(t, Satisfaction::Dissatisfied).await?;
            let a = s.approval(t, GatedOperation::Redispatch, false).await?;
            s.dispatch(t, "tj01-st01", Some(a)).await?;
            s.accept(t, "tj01-st01").await?;
            s.field_work(t, "tj01-st01").await?;
            s.finish(t, Satisfaction::Satisfied).await?;
        }
        "supervised_and_urged" => {
            let t = s.ticket("complaint", Urgency::Normal).await?;
            s.dispatch(t, "tj01-st01", None).await?;
            s.act("tj01-agent1", t, TicketAction::Urge { note: "用户再次来电".into() }).await?;
            s.act("hq-supervisor", t, TicketAction::Supervise { unit: UnitCode("hq".into()), note: "集团督办".into() })
                .await?;
            s.accept(t, "tj01-st01").await?;
            s.field_work(t, "tj01-st01").await?;
            s.finish(t, Satisfaction::BasicallySatisfied).await?;
        }
        "escalated_complaint" => {
            let t = s.ticket("escalated_complaint", Urgency::Urgent).await?;
            s.act("tj01-agent1", t, TicketAction::Escalate { reason: "用户越级投诉至集团".into() }).await?;
            s.work_to_close(t, "tj01-st01").await?;
        }
        "deadline_extended_with_approval" => {
            let t = s.ticket("repair", Urgency::Normal).await?;
            s.dispatch(t, "tj01-st01", None).await?;
            s.accept(t, "tj01-st01").await?;
            let a = s.approval(t, GatedOperation::Delay, false).await?;
            let new_deadline = start() + Duration::days(3);
            s.act(
                "tj01-st01-lead",
                t,
                TicketAction::ExtendDeadline { new_deadline, reason: "等待配件".into(), approval: Some(a) },
            )
            .await?;
            s.field_work(t, "tj01-st01").await?;
            s.finish(t, Satisfaction::Satisfied).await?;
        }
        "voided_after_two_level_approval" => {
            let t = s.ticket("consultation", Urgency::Normal).await?;
            let a = s.approval(t, GatedOperation::Void, false).await?;
            s.act("tj01-agent1", t, TicketAction::Void { reason: "重复工单".into(), approval: Some(a) }).await?;
        }
        "void_approved_along_its_chain" => {
            // Recorded after levels named their approvers: the station's lead, then tj01's admin.
            let t = s.ticket("repair", Urgency::Normal).await?;
            s.dispatch(t, "tj01-st01", None).await?;
            let a = s.approval(t, GatedOperation::Void, false).await?;
            s.act("tj01-agent1", t, TicketAction::Void { reason: "重复工单".into(), approval: Some(a) }).await?;
        }
        "cancel_rejected_at_group_level" => {
            let levels = vec![ApprovalLevel::Station, ApprovalLevel::Subsidiary, ApprovalLevel::Group];
            s.settings(SettingsCommand::ConfigureApprovalChain { operation: GatedOperation::Cancel, levels }).await?;
            let t = s.ticket("repair", Urgency::Normal).await?;
            s.approval(t, GatedOperation::Cancel, true).await?;
            s.work_to_close(t, "tj01-st01").await?;
        }
        "deadline_breached" => {
            let t = s.ticket("repair", Urgency::Critical).await?;
            s.dispatch(t, "tj01-st01", None).await?;
            s.accept(t, "tj01-st01").await?;
            s.later(150);
            Follower::new(s.hotline.clone(), TicketTimers::default()).step().await?;
            s.field_work(t, "tj01-st01").await?;
            s.finish(t, Satisfaction::Satisfied).await?;
        }
        "offline_batch_arriving_late" => {
            let t = s.ticket("repair", Urgency::Normal).await?;
            s.dispatch(t, "tj01-st01", None).await?;
            s.accept(t, "tj01-st01").await?;
            // The worker's phone was offline on site: the field commands carry device times from
            // the visit and reach the log an hour later, after an urge recorded meanwhile.
            let visit = s.now + Duration::minutes(20);
            s.later(80);
            s.act("tj01-agent1", t, TicketAction::Urge { note: "用户询问进度".into() }).await?;
            let arrived = s.now;
            s.now = visit;
            s.field_work(t, "tj01-st01").await?;
            s.now = arrived;
            s.later(5);
            s.finish(t, Satisfaction::Satisfied).await?;
        }
        "custom_type_and_quality_check_node" => {
            s.settings(SettingsCommand::DefineTicketType {
                code: TicketType("valve_check".into()),
                label_zh: "阀门检查".into(),
            })
            .await?;
            let node =
                WorkflowNode {
                    code: "quality_check".into(), label_zh: "质量检查".into(), after: CoreNode::Process
                };
            s.settings(SettingsCommand::AddWorkflowNode(node)).await?;
            let t = s.ticket("valve_check", Urgency::Normal).await?;
            s.dispatch(t, "tj01-st01", None).await?;
            s.accept(t, "tj01-st01").await?;
            s.field_work(t, "tj01-st01").await?;
            s.act(
                "tj01-st01-lead",
                t,
                TicketAction::CompleteNode { node: "quality_check".into(), note: "质检合格".into() },
            )
            .await?;
            s.finish(t, Satisfaction::Satisfied).await?;
        }
        "reassigned_to_another_station" => {
            let t = s.ticket("repair", Urgency::Normal).await?;
            s.dispatch(t, "tj01-st01", None).await?;
            s.accept(t, "tj01-st01").await?;
            let reassign = TicketAction::Reassign {
                station: Some(UnitCode("tj01-st02".into())),
                worker: None,
                reason: "就近处理".into(),
            };
            s.act("tj01-supervisor", t, reassign).await?;
            s.accept(t, "tj01-st02").await?;
            s.field_work(t, "tj01-st02").await?;
            s.finish(t, Satisfaction::Satisfied).await?;
        }
        "callback_exempted_with_approval" => {
            let t = s.ticket("dunning", Urgency::Normal).await?;
            s.dispatch(t, "tj01-st01", None).await?;
            s.accept(t, "tj01-st01").await?;
            s.field_work(t, "tj01-st01").await?;
            let a = s.approval(t, GatedOperation::CallbackExemption, false).await?;
            s.act("tj01-agent2", t, TicketAction::ExemptCallback { reason: "用户无法联系".into(), approval: Some(a) })
                .await?;
            s.act("tj01-agent2", t, TicketAction::Close { note: "免回访办结".into() }).await?;
        }
        other => return Err(ServiceError::NotFound { what: "scenario", id: other.to_owned() }),
    }
    Ok(store.read_all(0, u32::MAX).await?)
}

/// Runs one of [`TELEPHONY_SCENARIOS`] on the script's log.
async fn telephony(s: &mut Script, name: &str) -> Result<(), ServiceError> {
    s.switchboard().await?;
    match name {
        "call_answered_held_and_transferred" => {
            s.sign_in("tj01-agent1", "s1").await?;
            s.sign_in("tj01-agent2", "s2").await?;
            s.later(1);
            let call = s.offer("c1@10.0.8.1", "13812345678").await?;
            s.seconds_later(2);
            s.phone_picks_up(call, "8001", false).await?;
            s.seconds_later(6);
            s.phone_picks_up(call, "8001", true).await?;
            s.seconds_later(45);
            s.call(call, CallAction::Hold { by: Party::Callee }).await?;
            s.seconds_later(20);
            s.call(call, CallAction::Resume { by: Party::Callee }).await?;
            s.seconds_later(30);
            s.call(call, CallAction::Transfer { target: "8002".into() }).await?;
            s.seconds_later(3);
            s.phone_picks_up(call, "8002", false).await?;
            s.seconds_later(4);
            s.phone_picks_up(call, "8002", true).await?;
            s.seconds_later(90);
            s.call(call, CallAction::End { by: Party::Caller }).await?;
            s.seconds_later(5);
            s.call(call, CallAction::RecordingAvailable { uri: "blob://recordings/c1.wav".into() }).await?;
            s.seconds_later(25);
            s.call(call, CallAction::AnswerSurvey { satisfied: true, score: Some(5) }).await?;
        }
        "call_abandoned_while_ringing_short" => {
            s.sign_in("tj01-agent1", "s1").await?;
            let call = s.offer("c2@10.0.8.1", "13812345678").await?;
            s.seconds_later(1);
            s.phone_picks_up(call, "8001", false).await?;
            s.seconds_later(2);
            s.call(call, CallAction::Abandon).await?;
        }
        "call_abandoned_after_long_wait" => {
            let call = s.offer("c3@10.0.8.1", "13812345678").await?;
            s.call(call, CallAction::Queue).await?;
            s.seconds_later(40);
            s.sign_in("tj01-agent1", "s1").await?;
            s.phone_picks_up(call, "8001", false).await?;
            s.seconds_later(12);
            s.call(call, CallAction::End { by: Party::Caller }).await?;
        }
        "calls_rejected_blacklisted_and_busy" => {
            let number = PhoneNumber("13900009999".into());
            s.configure(TelephonyCommand::BlacklistNumber { number, reason: "骚扰电话".into() }).await?;
            s.later(1);
            s.offer("c4@10.0.8.1", "13900009999").await?;
            s.later(1);
            s.sign_in("tj01-agent1", "s1").await?;
            let busy = s.offer("c5@10.0.8.1", "13812345678").await?;
            s.seconds_later(1);
            s.call(busy, CallAction::Reject { status: 486 }).await?;
        }
        "call_timed_out_to_voicemail" => {
            let call = s.offer("c6@10.0.8.1", "13812345678").await?;
            s.call(call, CallAction::Queue).await?;
            s.seconds_later(120);
            s.call(call, CallAction::TimeOut).await?;
            s.seconds_later(30);
            s.call(call, CallAction::LeaveVoicemail { recording: "blob://voicemail/c6.wav".into() }).await?;
        }
        "agent_shift_with_wrap_up" => {
            s.register("8001", 3600).await?;
            s.sign_in("tj01-agent1", "s1").await?;
            s.later(5);
            let call = s.offer("c7@10.0.8.1", "13812345678").await?;
            s.seconds_later(3);
            s.phone_picks_up(call, "8001", false).await?;
            s.seconds_later(5);
            s.phone_picks_up(call, "8001", true).await?;
            s.agent_status("tj01-agent1", AgentStatus::Busy).await?;
            s.seconds_later(150);
            s.call(call, CallAction::End { by: Party::Callee }).await?;
            s.agent_status("tj01-agent1", AgentStatus::WrapUp).await?;
            s.later(2);
            s.agent_status("tj01-agent1", AgentStatus::Idle).await?;
            s.later(30);
            s.agent_status("tj01-agent1", AgentStatus::Away).await?;
            s.later(10);
            s.sign_out("tj01-agent1").await?;
        }
        "phones_registered_unregistered_and_expired" => {
            s.sign_in("tj01-agent1", "s1").await?;
            s.sign_in("tj01-agent2", "s2").await?;
            s.register("8001", 3600).await?;
            s.register("8002", 60).await?;
            s.later(1);
            s.unregister("8001").await?;
            s.later(1);
            // Phone 8002 did not refresh its registration: the phone timers expire it.
            Follower::new(s.hotline.clone(), PhoneTimers::default()).step().await?;
        }
        other => return Err(ServiceError::NotFound { what: "scenario", id: other.to_owned() }),
    }
    Ok(())
}

/// One fixture line: the stored event without its hash.
pub fn fixture_line(event: &RecordedEvent) -> serde_json::Value {
    json!({
        "stream_id": event.stream_id.as_str(),
        "stream_version": event.stream_version,
        "event_type": event.event_type,
        "schema_version": event.schema_version,
        "payload": event.payload,
        "metadata": event.metadata,
    })
}
