//! Approvals of gated ticket operations (工单审批): delay, return, void, redispatch, cancel and
//! callback exemption. Stream `approval-<uuid>`.
//!
//! A chain has one to three levels (station → subsidiary → group) taken from the tenant's
//! [`crate::settings::TicketPolicy`] when the request is made, so a later configuration change
//! never alters an approval under way. The last level's approval records [`ApprovalEvent::Granted`];
//! the gated ticket command then carries the approval as [`ApprovalEvidence`], which the ticket
//! decider checks.

use crate::codec::{decode_tagged, encode_tagged, no_upcasters, EncodedEvent};
use crate::values::{ApprovalId, TenantId, TicketId, UnitCode, UserId};
use crate::{Decider, DecodeError, EventCodec};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Marker type of the approval decider.
pub struct Approval;

/// Ticket operations that may be configured to need an approval first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GatedOperation {
    /// 延时: move the deadline later.
    Delay,
    /// 退回: a station sends an accepted ticket back.
    Return,
    /// 作废: the ticket was invalid.
    Void,
    /// 二次派单: dispatch again after a dissatisfied callback.
    Redispatch,
    /// 取消: the customer withdrew.
    Cancel,
    /// 免回访处结: close without a callback.
    CallbackExemption,
}

impl GatedOperation {
    /// Every gated operation.
    pub const ALL: [GatedOperation; 6] = [
        GatedOperation::Delay,
        GatedOperation::Return,
        GatedOperation::Void,
        GatedOperation::Redispatch,
        GatedOperation::Cancel,
        GatedOperation::CallbackExemption,
    ];

    /// The chain used where a tenant configured none.
    pub fn default_chain(self) -> Vec<ApprovalLevel> {
        use ApprovalLevel::*;
        match self {
            GatedOperation::Delay | GatedOperation::Return | GatedOperation::Redispatch => vec![Station],
            GatedOperation::Void | GatedOperation::Cancel => vec![Station, Subsidiary],
            GatedOperation::CallbackExemption => vec![Subsidiary],
        }
    }

    /// Wire code, as in the dictionary.
    pub fn code(self) -> &'static str {
        match self {
            GatedOperation::Delay => "delay",
            GatedOperation::Return => "return",
            GatedOperation::Void => "void",
            GatedOperation::Redispatch => "redispatch",
            GatedOperation::Cancel => "cancel",
            GatedOperation::CallbackExemption => "callback_exemption",
        }
    }
}

/// Who approves, lowest first; the order is the order of a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalLevel {
    /// 维修站.
    Station,
    /// 子公司.
    Subsidiary,
    /// 集团.
    Group,
}

/// Where an approval stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// Waiting for the level at `next_level`.
    Pending,
    /// Every level approved.
    Granted,
    /// A level rejected it.
    Rejected,
}

/// What a gated ticket command carries to prove its approval; built by the command layer from the
/// approval stream, never from a read model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalEvidence {
    /// The approval.
    pub approval_id: ApprovalId,
    /// The ticket it was requested for.
    pub ticket_id: TicketId,
    /// The operation it was requested for.
    pub operation: GatedOperation,
    /// Its status when the command was decided.
    pub status: ApprovalStatus,
}

/// A request to approve an operation.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestApproval {
    /// New approval id (made by the caller).
    pub approval_id: ApprovalId,
    /// The tenant of the ticket.
    pub tenant: TenantId,
    /// The ticket.
    pub ticket_id: TicketId,
    /// The ticket's human number, for approvers' lists.
    pub ticket_no: String,
    /// The operation.
    pub operation: GatedOperation,
    /// Why it is needed.
    pub reason: String,
    /// Operation details approvers must see (e.g. the requested new deadline).
    pub details: serde_json::Value,
    /// The chain from the tenant's policy.
    pub chain: Vec<ApprovalLevel>,
    /// When the approval counts as overdue.
    pub due_at: DateTime<Utc>,
}

/// Commands of the approval decider.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalCommand {
    /// Who acts.
    pub actor: UserId,
    /// When (from the caller).
    pub at: DateTime<Utc>,
    /// What they do.
    pub action: ApprovalAction,
}

/// What an approval command does.
#[derive(Debug, Clone, PartialEq)]
pub enum ApprovalAction {
    /// Opens the approval.
    Request(RequestApproval),
    /// The current level approves.
    Approve {
        /// The level the approver acts for (checked against the caller's roles at the API).
        level: ApprovalLevel,
        /// The approver's unit.
        unit: UnitCode,
        /// Optional comment.
        comment: String,
    },
    /// The approval applier records that a granted operation could not take effect (the ticket
    /// moved on), naming the rule that refused it.
    RecordApplicationFailure {
        /// The ticket rule that refused the operation.
        rule: String,
    },
    /// The current level rejects; a reason is mandatory (驳回需填写原因).
    Reject {
        /// The level.
        level: ApprovalLevel,
        /// The approver's unit.
        unit: UnitCode,
        /// Why the requester or approver wants this, in their own words (mandatory).
        reason: String,
    },
}

/// Facts of an approval stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "payload")]
pub enum ApprovalEvent {
    /// Approval requested.
    #[serde(rename = "ApprovalRequested")]
    Requested {
        /// The approval's id (its stream is `approval-<id>`).
        approval_id: ApprovalId,
        /// The subsidiary of the ticket: approvals never cross tenants.
        tenant: TenantId,
        /// The ticket whose operation the approval is for.
        ticket_id: TicketId,
        /// Ticket number.
        ticket_no: String,
        /// The gated operation (delay, return, void, …) the approval is for.
        operation: GatedOperation,
        /// Why the requester or approver wants this, in their own words (mandatory).
        reason: String,
        /// The operation's own arguments (e.g. the new deadline), applied once granted.
        details: serde_json::Value,
        /// Chain, lowest level first.
        chain: Vec<ApprovalLevel>,
        /// The user who asked for the operation; never an approver of it.
        requested_by: UserId,
        /// Overdue after.
        due_at: DateTime<Utc>,
    },
    /// One level approved.
    #[serde(rename = "ApprovalLevelApproved")]
    LevelApproved {
        /// The chain level that decided.
        level: ApprovalLevel,
        /// The user who decided at that level.
        approver: UserId,
        /// Approver's unit.
        unit: UnitCode,
        /// The approver's remark; may be empty.
        comment: String,
    },
    /// The last level approved: the operation may now take effect.
    #[serde(rename = "ApprovalGranted")]
    Granted {
        /// The ticket whose operation the approval is for.
        ticket_id: TicketId,
        /// The gated operation (delay, return, void, …) the approval is for.
        operation: GatedOperation,
    },
    /// The granted operation could not take effect.
    #[serde(rename = "ApprovalApplicationFailed")]
    ApplicationFailed {
        /// The ticket whose operation the approval is for.
        ticket_id: TicketId,
        /// The gated operation (delay, return, void, …) the approval is for.
        operation: GatedOperation,
        /// The ticket rule that refused it.
        rule: String,
    },
    /// A level rejected: the operation will not take effect.
    #[serde(rename = "ApprovalRejected")]
    Rejected {
        /// The ticket whose operation the approval is for.
        ticket_id: TicketId,
        /// The gated operation (delay, return, void, …) the approval is for.
        operation: GatedOperation,
        /// The chain level that decided.
        level: ApprovalLevel,
        /// The user who decided at that level.
        approver: UserId,
        /// Approver's unit.
        unit: UnitCode,
        /// Why the requester or approver wants this, in their own words (mandatory).
        reason: String,
    },
}

const APPROVAL_VERSIONS: &[(&str, u32)] = &[];

impl EventCodec for ApprovalEvent {
    fn encode(&self) -> EncodedEvent {
        encode_tagged(self, APPROVAL_VERSIONS)
    }

    fn decode(event_type: &str, schema_version: u32, payload: serde_json::Value) -> Result<Self, DecodeError> {
        decode_tagged(event_type, schema_version, payload, APPROVAL_VERSIONS, no_upcasters)
    }
}

/// State of one approval.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApprovalState {
    /// `None` until requested.
    pub status: Option<ApprovalStatus>,
    /// The ticket whose operation the approval is for.
    pub ticket_id: Option<TicketId>,
    /// The gated operation (delay, return, void, …) the approval is for.
    pub operation: Option<GatedOperation>,
    /// The levels that must approve, lowest first.
    pub chain: Vec<ApprovalLevel>,
    /// How many levels approved so far.
    pub approved_levels: usize,
    /// Why it was requested.
    pub reason: String,
    /// What the operation needs (e.g. the requested deadline).
    pub details: serde_json::Value,
    /// A failure to apply the granted operation was recorded.
    pub application_failed: bool,
}

impl ApprovalState {
    /// The level whose decision is awaited.
    pub fn next_level(&self) -> Option<ApprovalLevel> {
        self.chain.get(self.approved_levels).copied()
    }

    /// What a ticket command carries as proof; `None` before the request.
    pub fn evidence(&self, approval_id: ApprovalId) -> Option<ApprovalEvidence> {
        Some(ApprovalEvidence {
            approval_id,
            ticket_id: self.ticket_id?,
            operation: self.operation?,
            status: self.status?,
        })
    }
}

/// Why an approval command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, strum::IntoStaticStr)]
pub enum ApprovalError {
    /// No approval with this id was requested.
    #[error("approval not found")]
    ApprovalNotFound,
    /// The id is taken.
    #[error("approval exists already")]
    ApprovalAlreadyRequested,
    /// The operation needs no approval under the tenant's policy.
    #[error("the operation needs no approval")]
    EmptyApprovalChain,
    /// A reason is mandatory.
    #[error("a reason is required")]
    ReasonRequired,
    /// Granted or rejected already.
    #[error("the approval was decided already ({0:?})")]
    ApprovalAlreadyDecided(ApprovalStatus),
    /// Only a granted approval can fail to apply, and that is recorded once.
    #[error("only a granted approval's failure to apply can be recorded, once")]
    NotAwaitingApplication,
    /// Another level must decide first.
    #[error("waiting for the {expected:?} level, not {actual:?}")]
    NotCurrentLevel {
        /// The level whose turn it is.
        expected: ApprovalLevel,
        /// The level that tried.
        actual: ApprovalLevel,
    },
}

impl ApprovalError {
    /// The rule's stable name (the variant name), for `extensions.rule` and sync results.
    pub fn rule(&self) -> &'static str {
        self.into()
    }
}

impl Decider for Approval {
    type State = ApprovalState;
    type Command = ApprovalCommand;
    type Event = ApprovalEvent;
    type Error = ApprovalError;
    const CATEGORY: &'static str = "approval";

    fn texts(command: &ApprovalCommand) -> Vec<crate::text::Text<'_>> {
        use crate::text::{json_texts, Text, CODE, LABEL, NOTE};
        let mut texts = Vec::new();
        match &command.action {
            ApprovalAction::Request(request) => {
                texts.push(Text::new("ticketNo", CODE, &request.ticket_no));
                texts.push(Text::new("reason", NOTE, &request.reason));
                json_texts("details", LABEL, &request.details, &mut texts);
            }
            ApprovalAction::Approve { unit, comment, .. } => {
                texts.extend([Text::new("unit", CODE, &unit.0), Text::new("comment", NOTE, comment)]);
            }
            ApprovalAction::RecordApplicationFailure { rule } => texts.push(Text::new("rule", CODE, rule)),
            ApprovalAction::Reject { unit, reason, .. } => {
                texts.extend([Text::new("unit", CODE, &unit.0), Text::new("reason", NOTE, reason)]);
            }
        }
        texts
    }

    fn decide(state: &ApprovalState, command: &ApprovalCommand) -> Result<Vec<ApprovalEvent>, ApprovalError> {
        if let ApprovalAction::Request(request) = &command.action {
            if state.status.is_some() {
                return Err(ApprovalError::ApprovalAlreadyRequested);
            }
            if request.chain.is_empty() {
                return Err(ApprovalError::EmptyApprovalChain);
            }
            if request.reason.trim().is_empty() {
                return Err(ApprovalError::ReasonRequired);
            }
            return Ok(vec![ApprovalEvent::Requested {
                approval_id: request.approval_id,
                tenant: request.tenant.clone(),
                ticket_id: request.ticket_id,
                ticket_no: request.ticket_no.clone(),
                operation: request.operation,
                reason: request.reason.clone(),
                details: request.details.clone(),
                chain: request.chain.clone(),
                requested_by: command.actor.clone(),
                due_at: request.due_at,
            }]);
        }
        let status = state.status.ok_or(ApprovalError::ApprovalNotFound)?;
        if let ApprovalAction::RecordApplicationFailure { rule } = &command.action {
            if status != ApprovalStatus::Granted || state.application_failed {
                return Err(ApprovalError::NotAwaitingApplication);
            }
            let ticket_id = state.ticket_id.expect("a requested approval names its ticket");
            let operation = state.operation.expect("a requested approval names its operation");
            return Ok(vec![ApprovalEvent::ApplicationFailed { ticket_id, operation, rule: rule.clone() }]);
        }
        if status != ApprovalStatus::Pending {
            return Err(ApprovalError::ApprovalAlreadyDecided(status));
        }
        let expected = state.next_level().expect("a pending approval has a next level");
        let ticket_id = state.ticket_id.expect("a requested approval names its ticket");
        let operation = state.operation.expect("a requested approval names its operation");
        match &command.action {
            ApprovalAction::Request(_) | ApprovalAction::RecordApplicationFailure { .. } => {
                unreachable!("handled above")
            }
            ApprovalAction::Approve { level, unit, comment } => {
                if *level != expected {
                    return Err(ApprovalError::NotCurrentLevel { expected, actual: *level });
                }
                let mut events = vec![ApprovalEvent::LevelApproved {
                    level: *level,
                    approver: command.actor.clone(),
                    unit: unit.clone(),
                    comment: comment.clone(),
                }];
                if state.approved_levels + 1 == state.chain.len() {
                    events.push(ApprovalEvent::Granted { ticket_id, operation });
                }
                Ok(events)
            }
            ApprovalAction::Reject { level, unit, reason } => {
                if *level != expected {
                    return Err(ApprovalError::NotCurrentLevel { expected, actual: *level });
                }
                if reason.trim().is_empty() {
                    return Err(ApprovalError::ReasonRequired);
                }
                Ok(vec![ApprovalEvent::Rejected {
                    ticket_id,
                    operation,
                    level: *level,
                    approver: command.actor.clone(),
                    unit: unit.clone(),
                    reason: reason.clone(),
                }])
            }
        }
    }

    fn evolve(mut state: ApprovalState, event: &ApprovalEvent) -> ApprovalState {
        match event {
            ApprovalEvent::Requested { ticket_id, operation, chain, reason, details, .. } => {
                state.status = Some(ApprovalStatus::Pending);
                state.reason = reason.clone();
                state.details = details.clone();
                state.ticket_id = Some(*ticket_id);
                state.operation = Some(*operation);
                state.chain = chain.clone();
            }
            ApprovalEvent::LevelApproved { .. } => state.approved_levels += 1,
            ApprovalEvent::Granted { .. } => state.status = Some(ApprovalStatus::Granted),
            ApprovalEvent::Rejected { .. } => state.status = Some(ApprovalStatus::Rejected),
            ApprovalEvent::ApplicationFailed { .. } => state.application_failed = true,
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::given;
    use chrono::TimeZone;
    use serde_json::json;
    use uuid::Uuid;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
    }

    fn ticket() -> TicketId {
        TicketId(Uuid::from_u128(1))
    }

    fn command(actor: &str, action: ApprovalAction) -> ApprovalCommand {
        ApprovalCommand { actor: UserId(actor.into()), at: at(), action }
    }

    fn request(chain: Vec<ApprovalLevel>) -> RequestApproval {
        RequestApproval {
            approval_id: ApprovalId(Uuid::from_u128(9)),
            tenant: TenantId("tj01".into()),
            ticket_id: ticket(),
            ticket_no: "tj01-2026-000001".into(),
            operation: GatedOperation::Void,
            reason: "重复工单".into(),
            details: json!({}),
            chain,
            due_at: at() + chrono::Duration::hours(24),
        }
    }

    fn requested(chain: Vec<ApprovalLevel>) -> ApprovalEvent {
        let r = request(chain);
        ApprovalEvent::Requested {
            approval_id: r.approval_id,
            tenant: r.tenant,
            ticket_id: r.ticket_id,
            ticket_no: r.ticket_no,
            operation: r.operation,
            reason: r.reason,
            details: r.details,
            chain: r.chain,
            requested_by: UserId("agent1".into()),
            due_at: r.due_at,
        }
    }

    fn approve(level: ApprovalLevel) -> ApprovalAction {
        ApprovalAction::Approve { level, unit: UnitCode("st01".into()), comment: String::new() }
    }

    fn approved(level: ApprovalLevel) -> ApprovalEvent {
        ApprovalEvent::LevelApproved {
            level,
            approver: UserId("lead".into()),
            unit: UnitCode("st01".into()),
            comment: String::new(),
        }
    }

    use ApprovalLevel::*;

    #[test]
    fn request_approval_accepted() {
        given::<Approval>(vec![])
            .when(command("agent1", ApprovalAction::Request(request(vec![Station, Subsidiary]))))
            .then(vec![requested(vec![Station, Subsidiary])]);
    }

    #[test]
    fn request_approval_rejected_twice_or_empty_chain_or_no_reason() {
        given::<Approval>(vec![requested(vec![Station])])
            .when(command("agent1", ApprovalAction::Request(request(vec![Station]))))
            .then_err(ApprovalError::ApprovalAlreadyRequested);
        given::<Approval>(vec![])
            .when(command("agent1", ApprovalAction::Request(request(vec![]))))
            .then_err(ApprovalError::EmptyApprovalChain);
        given::<Approval>(vec![])
            .when(command(
                "agent1",
                ApprovalAction::Request(RequestApproval { reason: " ".into(), ..request(vec![Station]) }),
            ))
            .then_err(ApprovalError::ReasonRequired);
    }

    #[test]
    fn approve_granted_at_last_level() {
        given::<Approval>(vec![requested(vec![Station, Subsidiary]), approved(Station)])
            .when(command("lead", approve(Subsidiary)))
            .then(vec![
                approved(Subsidiary),
                ApprovalEvent::Granted { ticket_id: ticket(), operation: GatedOperation::Void },
            ]);
    }

    #[test]
    fn approve_waits_for_next_level_before_granting() {
        given::<Approval>(vec![requested(vec![Station, Subsidiary, Group])])
            .when(command("lead", approve(Station)))
            .then(vec![approved(Station)]);
    }

    #[test]
    fn approve_rejected_out_of_turn() {
        given::<Approval>(vec![requested(vec![Station, Group])])
            .when(command("boss", approve(Group)))
            .then_err(ApprovalError::NotCurrentLevel { expected: Station, actual: Group });
    }

    #[test]
    fn approve_rejected_when_not_requested_or_decided() {
        given::<Approval>(vec![]).when(command("lead", approve(Station))).then_err(ApprovalError::ApprovalNotFound);
        given::<Approval>(vec![
            requested(vec![Station]),
            approved(Station),
            ApprovalEvent::Granted { ticket_id: ticket(), operation: GatedOperation::Void },
        ])
        .when(command("lead", approve(Station)))
        .then_err(ApprovalError::ApprovalAlreadyDecided(ApprovalStatus::Granted));
    }

    #[test]
    fn reject_at_group_level_ends_the_chain() {
        let history = vec![requested(vec![Station, Subsidiary, Group]), approved(Station), approved(Subsidiary)];
        let reject =
            ApprovalAction::Reject { level: Group, unit: UnitCode("hq".into()), reason: "理由不充分".into() };
        let events = given::<Approval>(history.clone()).when(command("boss", reject.clone())).events();
        assert!(matches!(&events[..], [ApprovalEvent::Rejected { level: Group, .. }]));
        let mut all = history;
        all.extend(events);
        given::<Approval>(all)
            .when(command("boss", approve(Group)))
            .then_err(ApprovalError::ApprovalAlreadyDecided(ApprovalStatus::Rejected));
    }

    #[test]
    fn reject_rejected_without_reason() {
        given::<Approval>(vec![requested(vec![Station])])
            .when(command(
                "lead",
                ApprovalAction::Reject { level: Station, unit: UnitCode("st01".into()), reason: "".into() },
            ))
            .then_err(ApprovalError::ReasonRequired);
    }
}

#[cfg(test)]
mod application_tests {
    use super::*;
    use crate::spec::given;
    use uuid::Uuid;

    fn requested() -> ApprovalEvent {
        ApprovalEvent::Requested {
            approval_id: ApprovalId(Uuid::from_u128(9)),
            tenant: TenantId("tj01".into()),
            ticket_id: TicketId(Uuid::from_u128(1)),
            ticket_no: "tj01-2026-000001".into(),
            operation: GatedOperation::Void,
            reason: "重复".into(),
            details: serde_json::json!({}),
            chain: vec![ApprovalLevel::Station],
            requested_by: UserId("agent1".into()),
            due_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    fn failure() -> ApprovalCommand {
        ApprovalCommand {
            actor: UserId("system:approval-applier".into()),
            at: chrono::DateTime::UNIX_EPOCH,
            action: ApprovalAction::RecordApplicationFailure { rule: "TicketAlreadyClosed".into() },
        }
    }

    #[test]
    fn record_application_failure_accepted_once_for_a_granted_approval() {
        let granted = vec![
            requested(),
            ApprovalEvent::LevelApproved {
                level: ApprovalLevel::Station,
                approver: UserId("lead".into()),
                unit: UnitCode("st01".into()),
                comment: String::new(),
            },
            ApprovalEvent::Granted { ticket_id: TicketId(Uuid::from_u128(1)), operation: GatedOperation::Void },
        ];
        let events = given::<Approval>(granted.clone()).when(failure()).events();
        assert!(
            matches!(&events[..], [ApprovalEvent::ApplicationFailed { rule, .. }] if rule == "TicketAlreadyClosed")
        );
        let mut failed = granted;
        failed.extend(events);
        given::<Approval>(failed).when(failure()).then_err(ApprovalError::NotAwaitingApplication);
    }

    #[test]
    fn record_application_failure_rejected_while_pending() {
        given::<Approval>(vec![requested()]).when(failure()).then_err(ApprovalError::NotAwaitingApplication);
    }
}
