//! Scripted histories, run through the real command path on a throwaway SQLite log with a fixed
//! clock and deterministic ids, then written as fixtures (`record-fixtures`). Each covers one
//! ticket path; together they cover every path of DESIGN.md.

use chrono::{DateTime, Duration, TimeZone, Utc};
use hotline_commands::clock::ManualClock;
use hotline_commands::handler::CommandContext;
use hotline_commands::process::{Follower, TicketTimers};
use hotline_commands::service::ServiceError;
use hotline_commands::store::sqlite::SqliteEventStore;
use hotline_commands::store::{EventStore, RecordedEvent};
use hotline_commands::Hotline;
use hotline_domain::approval::{ApprovalAction, ApprovalEvent, ApprovalLevel, GatedOperation};
use hotline_domain::customer::CustomerCommand;
use hotline_domain::organisation::{OrganisationCommand, Role, UnitKind};
use hotline_domain::settings::SettingsCommand;
use hotline_domain::ticket::{
    CoreNode, EvidenceKind, NewTicket, Part, Satisfaction, Source, TicketAction, TicketRequest, TicketType, Urgency,
    WorkflowNode,
};
use hotline_domain::values::{ApprovalId, CustomerId, GeoPoint, PhoneNumber, TenantId, TicketId, UnitCode, UserId};
use serde_json::json;
use std::sync::Arc;
use uuid::Uuid;

/// Every scenario's name, in recording order.
pub const SCENARIOS: [&str; 14] = [
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
];

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
        }
    }

    /// Moves time forward, on the server clock too.
    fn later(&mut self, minutes: i64) {
        self.now += Duration::minutes(minutes);
        self.clock.set(self.now);
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
        let chain = match requested.events.first() {
            Some(ApprovalEvent::Requested { chain, .. }) => chain.clone(),
            _ => Vec::new(),
        };
        for (i, level) in chain.iter().enumerate() {
            self.later(30);
            let (approver, unit) = match level {
                ApprovalLevel::Station => ("tj01-st01-lead", "tj01-st01"),
                ApprovalLevel::Subsidiary => ("tj01-admin", "tj01"),
                ApprovalLevel::Group => ("hq-admin", "hq"),
            };
            let unit = UnitCode(unit.into());
            let action = if reject_last && i + 1 == chain.len() {
                ApprovalAction::Reject { level: *level, unit, reason: "理由不充分".into() }
            } else {
                ApprovalAction::Approve { level: *level, unit, comment: "同意".into() }
            };
            let context = self.context(approver, "graphql");
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
