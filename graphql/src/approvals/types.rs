//! The approvals' GraphQL types: an approval of a gated operation with each level of its chain
//! (who may decide it, who did), what approval mutations return, and which approvals a caller
//! sees ([`approval_scope`]).

use crate::auth::{Caller, Scope};
use crate::context::{enum_code, label};
use async_graphql::{SimpleObject, ID};
use chrono::{DateTime, Utc};
use hotline_projections::approvals::{ApprovalLevelView, ApprovalReach, ApprovalView};

/// An approval of a gated operation.
#[derive(SimpleObject, Clone, Debug)]
pub struct Approval {
    /// The approval's id.
    id: ID,
    /// The ticket.
    ticket_id: ID,
    /// Its number.
    ticket_number: String,
    /// The ticket's subsidiary (tenant code).
    tenant: String,
    /// `delay`, `return`, `void`, `redispatch`, `cancel`, `callback_exemption`.
    operation: String,
    /// zh-CN label of the operation.
    operation_label: String,
    /// `pending`, `granted`, `rejected` or `failed`.
    status: String,
    /// The level whose decision is awaited.
    next_level: Option<String>,
    /// Every level of the chain, lowest first: who may decide it (a role at a unit) and who did.
    levels: Vec<ApprovalLevelInfo>,
    /// Why it was requested.
    reason: String,
    /// Who requested it.
    requested_by: String,
    /// When it was requested.
    requested_at: DateTime<Utc>,
    /// Overdue after.
    due_at: DateTime<Utc>,
    /// Pending past its due time (超期未审批标红).
    overdue: bool,
    /// Why it was rejected, or the rule that kept it from taking effect.
    rejection_reason: Option<String>,
}

impl From<ApprovalView> for Approval {
    fn from(view: ApprovalView) -> Approval {
        Approval {
            id: ID(view.approval_id.to_string()),
            ticket_id: ID(view.ticket_id.to_string()),
            ticket_number: view.ticket_no,
            tenant: view.tenant.0,
            operation_label: label("gated_operation", view.operation.code()),
            operation: view.operation.code().to_owned(),
            status: view.status.code().to_owned(),
            next_level: view.next_level.as_ref().map(enum_code),
            levels: view.levels.into_iter().map(ApprovalLevelInfo::from).collect(),
            reason: view.reason,
            requested_by: view.requested_by,
            requested_at: view.requested_at,
            due_at: view.due_at,
            overdue: view.overdue,
            rejection_reason: view.rejection_reason,
        }
    }
}

/// One level of an approval's chain. Its approver must hold `role` and work at `unit` or below
/// it, in the approval's subsidiary; the requester never decides a level, and nobody decides two
/// levels of one approval.
#[derive(SimpleObject, Clone, Debug)]
pub struct ApprovalLevelInfo {
    /// `station`, `subsidiary` or `group`.
    level: String,
    /// zh-CN label of the level.
    level_label: String,
    /// The role that decides it (`station_lead`, `supervisor` for a ticket without a station,
    /// `subsidiary_admin`, `group_admin`); null for approvals requested before levels named it.
    role: Option<String>,
    /// zh-CN label of the role.
    role_label: Option<String>,
    /// The unit it is decided at: the ticket's station, its subsidiary, or the group.
    unit: Option<String>,
    /// `approved` or `rejected` once decided.
    decision: Option<String>,
    /// Who decided it.
    decided_by: Option<String>,
    /// When it was decided (the approver's time).
    decided_at: Option<DateTime<Utc>>,
}

impl From<ApprovalLevelView> for ApprovalLevelInfo {
    fn from(view: ApprovalLevelView) -> ApprovalLevelInfo {
        let role = view.role.as_ref().map(enum_code);
        ApprovalLevelInfo {
            level_label: label("approval_level", &enum_code(&view.level)),
            level: enum_code(&view.level),
            role_label: role.as_deref().map(|role| label("role", role)),
            role,
            unit: view.unit,
            decision: view.decision.as_ref().map(enum_code),
            decided_by: view.decided_by,
            decided_at: view.decided_at,
        }
    }
}

/// What an approval mutation returns. A payload means the change is committed, whatever the
/// read side does; an error means nothing was.
#[derive(SimpleObject, Debug)]
pub struct ApprovalPayload {
    /// The approval id.
    pub(crate) approval_id: ID,
    /// The log position of the change.
    pub(crate) position: Option<u64>,
    /// `true` when the client command id was seen before.
    pub(crate) duplicate: bool,
    /// Whether the read models showed the change within 5 s; `false`: committed, but queries may
    /// not show it yet (query with `afterPosition`, do not send it again).
    pub(crate) read_models_current: bool,
}

/// Which approvals the caller sees: the tenants (all for group roles, none without a tenant
/// role), and for station roles (station leads, field workers) only those of tickets they may
/// read or waiting for them; a subsidiary never sees another's.
pub(crate) fn approval_scope(caller: &Caller) -> (Option<Vec<String>>, Option<ApprovalReach>) {
    match caller.scope() {
        Scope::Group => (None, None),
        Scope::Tenant(t) => (Some(vec![t]), None),
        Scope::Subtree { tenant, path } => {
            (Some(vec![tenant]), Some(ApprovalReach { path, roles: caller.roles.clone() }))
        }
        Scope::Nothing => (Some(vec![]), None),
    }
}
