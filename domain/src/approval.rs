//! Approvals of gated ticket operations (工单审批): delay, return, void, redispatch, cancel and
//! callback exemption. Stream `approval-<uuid>`.
//!
//! A chain has one to three levels (station → subsidiary → group) taken from the tenant's
//! [`crate::settings::TicketPolicy`] when the request is made, so a later configuration change
//! never alters an approval under way. The last level's approval records [`ApprovalEvent::Granted`];
//! the gated ticket command then carries the approval as [`ApprovalEvidence`], which the ticket
//! decider checks.
//!
//! Approvals follow their chain. When the approval is requested, each level is given the one
//! [`LevelApprover`] who may decide it — a role at a unit ([`ApprovalLevel::approver`]): the
//! ticket's station lead at its station (the subsidiary's supervisor, 班长, while the ticket has no
//! station), the subsidiary admin at the ticket's subsidiary, the group admin at the group. A
//! decision ([`Approver`]) must come from that role, inside that unit, inside the approval's
//! tenant; the requester never decides, and nobody decides two levels of one approval.
//!
//! Approvals requested before levels named their approvers (events without `approvers`) are
//! decided under the same rules, except the unit: any holder of the level's role in the
//! approval's tenant may decide them.

use crate::codec::{decode_tagged, encode_tagged, no_upcasters, EncodedEvent};
use crate::organisation::Role;
use crate::values::{ApprovalId, OrgPath, TenantId, TicketId, UnitCode, UserId};
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

impl ApprovalLevel {
    /// Who decides this level of an approval for a ticket at these units: the one place the
    /// approver of a level is chosen.
    pub fn approver(self, units: &ApprovalUnits) -> LevelApprover {
        let (role, unit) = match self {
            ApprovalLevel::Station => match &units.station {
                Some(station) => (Role::StationLead, station),
                // A ticket not yet dispatched is the call centre's: its supervisor (班长) stands
                // in for the station.
                None => (Role::Supervisor, &units.subsidiary),
            },
            ApprovalLevel::Subsidiary => (Role::SubsidiaryAdmin, &units.subsidiary),
            ApprovalLevel::Group => (Role::GroupAdmin, &units.group),
        };
        LevelApprover { level: self, role, unit: unit.code.clone(), path: unit.path.clone() }
    }

    /// The roles that may decide this level of an approval whose [`LevelApprover`]s were not
    /// recorded (requested before they were).
    fn legacy_roles(self) -> &'static [Role] {
        match self {
            ApprovalLevel::Station => &[Role::StationLead, Role::Supervisor],
            ApprovalLevel::Subsidiary => &[Role::SubsidiaryAdmin],
            ApprovalLevel::Group => &[Role::GroupAdmin],
        }
    }
}

/// A unit an approval level may be decided at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalUnit {
    /// The unit's code.
    pub code: UnitCode,
    /// Its path from the group; the approver must work at it or below it.
    pub path: OrgPath,
}

/// The units around a ticket that its approvals' levels are decided at, as the command layer
/// finds them in the log when the approval is requested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalUnits {
    /// The ticket's station; `None` while it has none (not yet dispatched, or returned).
    pub station: Option<ApprovalUnit>,
    /// The ticket's subsidiary (its tenant).
    pub subsidiary: ApprovalUnit,
    /// The group.
    pub group: ApprovalUnit,
}

/// Who may decide one level of an approval: a role, at a unit (or below it). Fixed when the
/// approval is requested, so a later move of the ticket or change of the chain never changes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelApprover {
    /// The level.
    pub level: ApprovalLevel,
    /// The role its approver must hold.
    pub role: Role,
    /// The unit its approver must work at (or below).
    pub unit: UnitCode,
    /// That unit's path.
    pub path: OrgPath,
}

/// Who decides, as the API authenticated them (their token's roles, tenant and unit path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approver {
    /// Their roles.
    pub roles: Vec<Role>,
    /// Their subsidiary; `None` for group-level users.
    pub tenant: Option<TenantId>,
    /// Their unit's path.
    pub path: OrgPath,
}

impl Approver {
    /// The approver's own unit: the last code of their path.
    pub fn unit(&self) -> UnitCode {
        UnitCode(self.path.0.trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_owned())
    }
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
    /// The units the chain's levels are decided at (the ticket's station, subsidiary, group).
    pub units: ApprovalUnits,
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
// A command lives for one request; boxing the request would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum ApprovalAction {
    /// Opens the approval.
    Request(RequestApproval),
    /// The current level approves.
    Approve {
        /// The level the approver acts for; it must be the current one.
        level: ApprovalLevel,
        /// Who approves: checked against the level's [`LevelApprover`].
        approver: Approver,
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
        /// The level; it must be the current one.
        level: ApprovalLevel,
        /// Who rejects: checked against the level's [`LevelApprover`].
        approver: Approver,
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
        /// Who may decide each level of the chain, in its order. Empty in approvals requested
        /// before levels named their approvers (absent from those events).
        #[serde(default)]
        approvers: Vec<LevelApprover>,
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

    fn decode_text(event_type: &str, schema_version: u32, payload: &str) -> Result<Self, DecodeError> {
        crate::codec::decode_tagged_text(event_type, schema_version, payload, APPROVAL_VERSIONS, no_upcasters)
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
    /// Who may decide each level (empty for approvals requested before levels named them).
    pub approvers: Vec<LevelApprover>,
    /// The approval's tenant.
    pub tenant: Option<TenantId>,
    /// Who requested it.
    pub requested_by: Option<UserId>,
    /// Who approved each level so far, in order.
    pub deciders: Vec<UserId>,
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
    /// The approver works for another subsidiary than the approval's: to them it does not exist
    /// (the API answers it as it answers an unknown approval).
    #[error("approval not found")]
    ApproverOutsideTenant,
    /// The approver lacks the role the level names.
    #[error("the {level:?} level is decided by a {role:?}")]
    NotLevelApprover {
        /// The level.
        level: ApprovalLevel,
        /// The role it needs.
        role: Role,
    },
    /// The approver works outside the unit the level names (e.g. another station's lead).
    #[error("the {level:?} level is decided at unit {unit}")]
    ApproverOutsideLevelUnit {
        /// The level.
        level: ApprovalLevel,
        /// The unit it is decided at.
        unit: String,
    },
    /// The requester never decides their own approval.
    #[error("the requester may not decide their own approval")]
    RequesterMayNotDecide,
    /// Nobody decides two levels of one approval.
    #[error("{0} decided another level of this approval already")]
    ApproverDecidedAnotherLevel(String),
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
            // The approver's unit comes from their token, not from what they typed.
            ApprovalAction::Approve { comment, .. } => texts.push(Text::new("comment", NOTE, comment)),
            ApprovalAction::RecordApplicationFailure { rule } => texts.push(Text::new("rule", CODE, rule)),
            ApprovalAction::Reject { reason, .. } => texts.push(Text::new("reason", NOTE, reason)),
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
                approvers: request.chain.iter().map(|level| level.approver(&request.units)).collect(),
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
            ApprovalAction::Approve { level, approver, comment } => {
                check_approver(state, &command.actor, expected, *level, approver)?;
                let mut events = vec![ApprovalEvent::LevelApproved {
                    level: *level,
                    approver: command.actor.clone(),
                    unit: approver.unit(),
                    comment: comment.clone(),
                }];
                if state.approved_levels + 1 == state.chain.len() {
                    events.push(ApprovalEvent::Granted { ticket_id, operation });
                }
                Ok(events)
            }
            ApprovalAction::Reject { level, approver, reason } => {
                check_approver(state, &command.actor, expected, *level, approver)?;
                if reason.trim().is_empty() {
                    return Err(ApprovalError::ReasonRequired);
                }
                Ok(vec![ApprovalEvent::Rejected {
                    ticket_id,
                    operation,
                    level: *level,
                    approver: command.actor.clone(),
                    unit: approver.unit(),
                    reason: reason.clone(),
                }])
            }
        }
    }

    fn evolve(mut state: ApprovalState, event: &ApprovalEvent) -> ApprovalState {
        match event {
            ApprovalEvent::Requested {
                tenant,
                ticket_id,
                operation,
                chain,
                approvers,
                reason,
                details,
                requested_by,
                ..
            } => {
                state.status = Some(ApprovalStatus::Pending);
                state.tenant = Some(tenant.clone());
                state.requested_by = Some(requested_by.clone());
                state.approvers = approvers.clone();
                state.reason = reason.clone();
                state.details = details.clone();
                state.ticket_id = Some(*ticket_id);
                state.operation = Some(*operation);
                state.chain = chain.clone();
            }
            ApprovalEvent::LevelApproved { approver, .. } => {
                state.approved_levels += 1;
                state.deciders.push(approver.clone());
            }
            ApprovalEvent::Granted { .. } => state.status = Some(ApprovalStatus::Granted),
            ApprovalEvent::Rejected { .. } => state.status = Some(ApprovalStatus::Rejected),
            ApprovalEvent::ApplicationFailed { .. } => state.application_failed = true,
        }
        state
    }
}

/// Whether `actor` may decide the current level (`expected`) of this pending approval: they work
/// in the approval's tenant, the level they name is the current one, hold the level's role at (or
/// below) its unit, did not request it and decided no other level of it.
fn check_approver(
    state: &ApprovalState,
    actor: &UserId,
    expected: ApprovalLevel,
    level: ApprovalLevel,
    approver: &Approver,
) -> Result<(), ApprovalError> {
    // First, so that an outsider learns nothing about the approval, not even its current level.
    if approver.tenant.as_ref().is_some_and(|tenant| Some(tenant) != state.tenant.as_ref()) {
        return Err(ApprovalError::ApproverOutsideTenant);
    }
    if level != expected {
        return Err(ApprovalError::NotCurrentLevel { expected, actual: level });
    }
    match state.approvers.get(state.approved_levels) {
        Some(named) => {
            if !approver.roles.contains(&named.role) {
                return Err(ApprovalError::NotLevelApprover { level, role: named.role });
            }
            if !named.path.contains(&approver.path) {
                return Err(ApprovalError::ApproverOutsideLevelUnit { level, unit: named.unit.0.clone() });
            }
        }
        None => {
            let roles = level.legacy_roles();
            if !approver.roles.iter().any(|role| roles.contains(role)) {
                return Err(ApprovalError::NotLevelApprover { level, role: roles[0] });
            }
            // Without a recorded unit, a tenant-level approver must at least be in the tenant.
            if level != ApprovalLevel::Group && approver.tenant.is_none() {
                return Err(ApprovalError::ApproverOutsideTenant);
            }
        }
    }
    if state.requested_by.as_ref() == Some(actor) {
        return Err(ApprovalError::RequesterMayNotDecide);
    }
    if state.deciders.contains(actor) {
        return Err(ApprovalError::ApproverDecidedAnotherLevel(actor.0.clone()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::given;
    use chrono::TimeZone;
    use serde_json::json;
    use uuid::Uuid;
    use ApprovalLevel::*;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
    }

    fn ticket() -> TicketId {
        TicketId(Uuid::from_u128(1))
    }

    fn command(actor: &str, action: ApprovalAction) -> ApprovalCommand {
        ApprovalCommand { actor: UserId(actor.into()), at: at(), action }
    }

    fn unit(code: &str, path: &str) -> ApprovalUnit {
        ApprovalUnit { code: UnitCode(code.into()), path: OrgPath(path.into()) }
    }

    /// A tj01 ticket at station tj01-st01.
    fn units() -> ApprovalUnits {
        ApprovalUnits {
            station: Some(unit("tj01-st01", "/hq/north/tj01/tj01-st01")),
            subsidiary: unit("tj01", "/hq/north/tj01"),
            group: unit("hq", "/hq"),
        }
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
            units: units(),
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
            approvers: r.chain.iter().map(|level| level.approver(&r.units)).collect(),
            chain: r.chain,
            requested_by: UserId("agent1".into()),
            due_at: r.due_at,
        }
    }

    /// An approval requested before levels named their approvers.
    fn requested_without_approvers(chain: Vec<ApprovalLevel>) -> ApprovalEvent {
        let mut event = serde_json::to_value(requested(chain)).unwrap();
        event["payload"].as_object_mut().unwrap().remove("approvers");
        serde_json::from_value(event).unwrap()
    }

    /// The user, roles and path of each approver of a tj01 ticket at tj01-st01.
    fn who(level: ApprovalLevel) -> (&'static str, Approver) {
        match level {
            Station => ("lead", approver(&[Role::StationLead], Some("tj01"), "/hq/north/tj01/tj01-st01")),
            Subsidiary => ("tj01-admin", approver(&[Role::SubsidiaryAdmin], Some("tj01"), "/hq/north/tj01")),
            Group => ("boss", approver(&[Role::GroupAdmin], None, "/hq")),
        }
    }

    fn approver(roles: &[Role], tenant: Option<&str>, path: &str) -> Approver {
        Approver { roles: roles.to_vec(), tenant: tenant.map(|t| TenantId(t.into())), path: OrgPath(path.into()) }
    }

    fn approve(level: ApprovalLevel) -> ApprovalCommand {
        let (actor, approver) = who(level);
        command(actor, ApprovalAction::Approve { level, approver, comment: String::new() })
    }

    fn approved(level: ApprovalLevel) -> ApprovalEvent {
        let (actor, approver) = who(level);
        ApprovalEvent::LevelApproved {
            level,
            approver: UserId(actor.into()),
            unit: approver.unit(),
            comment: String::new(),
        }
    }

    #[test]
    fn request_approval_accepted_naming_each_levels_approver() {
        let events = given::<Approval>(vec![])
            .when(command("agent1", ApprovalAction::Request(request(vec![Station, Subsidiary]))))
            .events();
        assert_eq!(events, vec![requested(vec![Station, Subsidiary])]);
        let ApprovalEvent::Requested { approvers, .. } = &events[0] else { panic!("{events:?}") };
        let named: Vec<(ApprovalLevel, Role, &str)> =
            approvers.iter().map(|a| (a.level, a.role, a.unit.0.as_str())).collect();
        assert_eq!(named, [(Station, Role::StationLead, "tj01-st01"), (Subsidiary, Role::SubsidiaryAdmin, "tj01")]);
    }

    #[test]
    fn request_approval_accepted_with_the_supervisor_for_a_ticket_without_station() {
        let request =
            RequestApproval { units: ApprovalUnits { station: None, ..units() }, ..request(vec![Station, Group]) };
        let events = given::<Approval>(vec![]).when(command("agent1", ApprovalAction::Request(request))).events();
        let ApprovalEvent::Requested { approvers, .. } = &events[0] else { panic!("{events:?}") };
        let named: Vec<(Role, &str)> = approvers.iter().map(|a| (a.role, a.unit.0.as_str())).collect();
        assert_eq!(named, [(Role::Supervisor, "tj01"), (Role::GroupAdmin, "hq")]);
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
            .when(approve(Subsidiary))
            .then(vec![
                approved(Subsidiary),
                ApprovalEvent::Granted { ticket_id: ticket(), operation: GatedOperation::Void },
            ]);
    }

    #[test]
    fn approve_waits_for_next_level_before_granting() {
        given::<Approval>(vec![requested(vec![Station, Subsidiary, Group])])
            .when(approve(Station))
            .then(vec![approved(Station)]);
    }

    #[test]
    fn approve_rejected_out_of_turn() {
        given::<Approval>(vec![requested(vec![Station, Group])])
            .when(approve(Group))
            .then_err(ApprovalError::NotCurrentLevel { expected: Station, actual: Group });
    }

    #[test]
    fn approve_rejected_when_not_requested_or_decided() {
        given::<Approval>(vec![]).when(approve(Station)).then_err(ApprovalError::ApprovalNotFound);
        given::<Approval>(vec![
            requested(vec![Station]),
            approved(Station),
            ApprovalEvent::Granted { ticket_id: ticket(), operation: GatedOperation::Void },
        ])
        .when(approve(Station))
        .then_err(ApprovalError::ApprovalAlreadyDecided(ApprovalStatus::Granted));
    }

    /// Issue 12: a tj02 station lead approved both levels of a tj01 void.
    #[test]
    fn approve_rejected_from_another_tenant() {
        let tj02_lead = approver(&[Role::StationLead], Some("tj02"), "/hq/north/tj02/tj02-st01");
        let as_tj02 = |level| {
            command(
                "tj02-st01-lead",
                ApprovalAction::Approve { level, approver: tj02_lead.clone(), comment: "".into() },
            )
        };
        given::<Approval>(vec![requested(vec![Station, Subsidiary])])
            .when(as_tj02(Station))
            .then_err(ApprovalError::ApproverOutsideTenant);
        given::<Approval>(vec![requested(vec![Station, Subsidiary]), approved(Station)])
            .when(as_tj02(Subsidiary))
            .then_err(ApprovalError::ApproverOutsideTenant);
        // Not even the level whose turn it is gives the approval away.
        given::<Approval>(vec![requested(vec![Station, Subsidiary])])
            .when(as_tj02(Group))
            .then_err(ApprovalError::ApproverOutsideTenant);
    }

    /// Issue 12: a station lead who cannot read a ticket approved its cancellation.
    #[test]
    fn approve_rejected_from_another_station_or_without_the_levels_role() {
        let other_station = approver(&[Role::StationLead], Some("tj01"), "/hq/north/tj01/tj01-st02");
        given::<Approval>(vec![requested(vec![Station, Subsidiary])])
            .when(command(
                "tj01-st02-lead",
                ApprovalAction::Approve { level: Station, approver: other_station, comment: "".into() },
            ))
            .then_err(ApprovalError::ApproverOutsideLevelUnit { level: Station, unit: "tj01-st01".into() });
        // A subsidiary admin is above the station, but the station level is its lead's.
        let (_, admin) = who(Subsidiary);
        given::<Approval>(vec![requested(vec![Station, Subsidiary])])
            .when(command(
                "tj01-admin",
                ApprovalAction::Approve { level: Station, approver: admin, comment: "".into() },
            ))
            .then_err(ApprovalError::NotLevelApprover { level: Station, role: Role::StationLead });
        // A station lead under the subsidiary is inside its unit, but not its admin.
        let (_, lead) = who(Station);
        given::<Approval>(vec![requested(vec![Station, Subsidiary]), approved(Station)])
            .when(command("lead2", ApprovalAction::Approve { level: Subsidiary, approver: lead, comment: "".into() }))
            .then_err(ApprovalError::NotLevelApprover { level: Subsidiary, role: Role::SubsidiaryAdmin });
    }

    #[test]
    fn approve_rejected_from_the_requester() {
        let (_, lead) = who(Station);
        given::<Approval>(vec![requested(vec![Station])])
            .when(command("agent1", ApprovalAction::Approve { level: Station, approver: lead, comment: "".into() }))
            .then_err(ApprovalError::RequesterMayNotDecide);
    }

    #[test]
    fn approve_rejected_from_the_approver_of_another_level() {
        // One person holding both roles still decides one level only.
        let both = approver(&[Role::StationLead, Role::SubsidiaryAdmin], Some("tj01"), "/hq/north/tj01/tj01-st01");
        given::<Approval>(vec![requested(vec![Station, Subsidiary]), approved(Station)])
            .when(command("lead", ApprovalAction::Approve { level: Subsidiary, approver: both, comment: "".into() }))
            .then_err(ApprovalError::ApproverDecidedAnotherLevel("lead".into()));
    }

    #[test]
    fn reject_rejected_from_another_station_or_the_requester() {
        let other_station = approver(&[Role::StationLead], Some("tj01"), "/hq/north/tj01/tj01-st02");
        let reject = |approver| ApprovalAction::Reject { level: Station, approver, reason: "不同意".into() };
        given::<Approval>(vec![requested(vec![Station])])
            .when(command("tj01-st02-lead", reject(other_station)))
            .then_err(ApprovalError::ApproverOutsideLevelUnit { level: Station, unit: "tj01-st01".into() });
        given::<Approval>(vec![requested(vec![Station])])
            .when(command("agent1", reject(who(Station).1)))
            .then_err(ApprovalError::RequesterMayNotDecide);
    }

    #[test]
    fn approve_of_an_approval_without_named_approvers_checks_role_tenant_and_people() {
        let history = vec![requested_without_approvers(vec![Station])];
        given::<Approval>(history.clone()).when(approve(Station)).then(vec![
            approved(Station),
            ApprovalEvent::Granted { ticket_id: ticket(), operation: GatedOperation::Void },
        ]);
        let tj02_lead = approver(&[Role::StationLead], Some("tj02"), "/hq/north/tj02/tj02-st01");
        given::<Approval>(history.clone())
            .when(command("x", ApprovalAction::Approve { level: Station, approver: tj02_lead, comment: "".into() }))
            .then_err(ApprovalError::ApproverOutsideTenant);
        let agent = approver(&[Role::Agent], Some("tj01"), "/hq/north/tj01");
        given::<Approval>(history.clone())
            .when(command("x", ApprovalAction::Approve { level: Station, approver: agent, comment: "".into() }))
            .then_err(ApprovalError::NotLevelApprover { level: Station, role: Role::StationLead });
        given::<Approval>(history)
            .when(command(
                "agent1",
                ApprovalAction::Approve { level: Station, approver: who(Station).1, comment: "".into() },
            ))
            .then_err(ApprovalError::RequesterMayNotDecide);
    }

    #[test]
    fn requested_without_approvers_still_decodes() {
        let event = requested_without_approvers(vec![Station]);
        let ApprovalEvent::Requested { approvers, .. } = &event else { panic!("{event:?}") };
        assert!(approvers.is_empty());
    }

    #[test]
    fn reject_at_group_level_ends_the_chain() {
        let history = vec![requested(vec![Station, Subsidiary, Group]), approved(Station), approved(Subsidiary)];
        let reject = ApprovalAction::Reject { level: Group, approver: who(Group).1, reason: "理由不充分".into() };
        let events = given::<Approval>(history.clone()).when(command("boss", reject.clone())).events();
        assert!(matches!(&events[..], [ApprovalEvent::Rejected { level: Group, .. }]));
        let mut all = history;
        all.extend(events);
        given::<Approval>(all)
            .when(approve(Group))
            .then_err(ApprovalError::ApprovalAlreadyDecided(ApprovalStatus::Rejected));
    }

    #[test]
    fn reject_rejected_without_reason() {
        given::<Approval>(vec![requested(vec![Station])])
            .when(command(
                "lead",
                ApprovalAction::Reject { level: Station, approver: who(Station).1, reason: "".into() },
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
            approvers: Vec::new(),
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
