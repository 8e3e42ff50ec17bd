//! The approvals' GraphQL types: an approval of a gated operation, and what approval mutations
//! return.

use crate::auth::{Caller, Scope};
use crate::context::{enum_code, label};
use async_graphql::{SimpleObject, ID};
use chrono::{DateTime, Utc};
use hotline_projections::approvals::ApprovalView;

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
            reason: view.reason,
            requested_by: view.requested_by,
            requested_at: view.requested_at,
            due_at: view.due_at,
            overdue: view.overdue,
            rejection_reason: view.rejection_reason,
        }
    }
}

/// What an approval mutation returns.
#[derive(SimpleObject, Debug)]
pub struct ApprovalPayload {
    /// The approval id.
    pub(crate) approval_id: ID,
    /// The log position of the change.
    pub(crate) position: Option<u64>,
    /// `true` when the client command id was seen before.
    pub(crate) duplicate: bool,
}

/// The tenants whose approvals the caller sees: their own (all for group roles, none without a
/// tenant role).
pub(crate) fn approval_tenants(caller: &Caller) -> Option<Vec<String>> {
    match caller.scope() {
        Scope::Group => None,
        Scope::Tenant(t) | Scope::Subtree { tenant: t, .. } => Some(vec![t]),
        Scope::Nothing => Some(vec![]),
    }
}
