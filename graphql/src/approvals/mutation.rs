//! Approval commands: asking for an approval of a gated operation, and deciding one at the
//! caller's level. A granted approval takes effect by itself (the service's approval applier).
//!
//! Who may decide is the domain's rule (each level names its role and unit, never the requester,
//! never one person for two levels); here the caller becomes the domain's `Approver` and its
//! refusals become codes: an approval of another subsidiary answers NOT_FOUND, in the words an
//! unknown one gets, and a refused approver FORBIDDEN with `extensions.rule`.

use crate::approvals::types::ApprovalPayload;
use crate::auth::{Action, Permission};
use crate::context::{api, caller, code_enum, command_context, settle, uuid_of, Result};
use crate::error::ApiError;
use crate::tickets::query::visible_ticket;
use async_graphql::{Context, Object, ID};
use hotline_commands::service::ServiceError;
use hotline_domain::approval::{ApprovalAction, ApprovalError, ApprovalLevel, Approver, GatedOperation};
use hotline_domain::values::{ApprovalId, OrgPath, TenantId, TicketId};
use uuid::Uuid;

/// Approval commands. Each takes an optional `clientCommandId` (a UUID): sending the same one
/// again returns the first result and appends nothing.
#[derive(Default)]
pub struct ApprovalMutation;

#[Object]
impl ApprovalMutation {
    /// Asks for an approval of a gated operation (`delay`, `return`, `void`, `redispatch`,
    /// `cancel`, `callback_exemption`) on a ticket the caller sees (NOT_FOUND otherwise, like an
    /// unknown ticket); auditors and integrations may not ask. Each level of the tenant's chain
    /// then names who decides it. Once granted, the operation takes effect by itself.
    /// `details` carries what it needs: `{"new_deadline": …}` for a delay, `{"station": …}` for
    /// a redispatch.
    async fn request_approval(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        operation: String,
        reason: String,
        details: Option<async_graphql::Json<serde_json::Value>>,
        client_command_id: Option<ID>,
    ) -> Result<ApprovalPayload> {
        if !caller(ctx)?.may(Permission::for_action(Action::RequestApproval)) {
            return Err(ApiError::Forbidden("your role may not request approvals".into()).into());
        }
        visible_ticket(ctx, &ticket_id.0).await?;
        let operation = code_enum::<GatedOperation>("operation", &operation)?;
        let approval_id = ApprovalId(Uuid::now_v7());
        let context = command_context(ctx, client_command_id.as_ref(), "graphql", None)?;
        let details = details.map_or_else(|| serde_json::json!({}), |d| d.0);
        let executed = api(ctx)
            .hotline
            .request_approval(
                &context,
                approval_id,
                TicketId(uuid_of("ticketId", &ticket_id)?),
                operation,
                &reason,
                details,
            )
            .await
            .map_err(ApiError::from)?;
        Ok(ApprovalPayload {
            approval_id: ID(approval_id.to_string()),
            position: executed.outcome.last_position,
            duplicate: executed.outcome.duplicate,
            read_models_current: settle(ctx, executed.outcome.last_position).await,
        })
    }

    /// Approves (`approve: true`) or rejects at the caller's level (`station`, `subsidiary`,
    /// `group`); a rejection needs a reason. The caller must hold the role the level names, work
    /// at its unit or below, in the approval's subsidiary (an approval of another subsidiary
    /// answers NOT_FOUND, like an unknown one), and be neither its requester nor the approver of
    /// another of its levels (FORBIDDEN, with `extensions.rule`).
    async fn decide_approval(
        &self,
        ctx: &Context<'_>,
        approval_id: ID,
        level: String,
        approve: bool,
        #[graphql(default)] reason: String,
        client_command_id: Option<ID>,
    ) -> Result<ApprovalPayload> {
        let caller = caller(ctx)?;
        if !caller.may(Permission::for_action(Action::DecideApproval)) {
            return Err(ApiError::Forbidden("your role may not decide approvals".into()).into());
        }
        let level = code_enum::<ApprovalLevel>("level", &level)?;
        let approver = Approver {
            roles: caller.roles.clone(),
            tenant: caller.tenant.clone().map(TenantId),
            path: OrgPath(caller.org_path.clone()),
        };
        let action = if approve {
            ApprovalAction::Approve { level, approver, comment: reason }
        } else {
            ApprovalAction::Reject { level, approver, reason }
        };
        let context = command_context(ctx, client_command_id.as_ref(), "graphql", None)?;
        let id = ApprovalId(uuid_of("approvalId", &approval_id)?);
        let executed = api(ctx)
            .hotline
            .decide_approval(&context, id, action)
            .await
            .map_err(|e| decision_refused(e, &approval_id))?;
        Ok(ApprovalPayload {
            approval_id,
            position: executed.outcome.last_position,
            duplicate: executed.outcome.duplicate,
            read_models_current: settle(ctx, executed.outcome.last_position).await,
        })
    }
}

/// A refused decision as the caller hears it: an approval outside the caller's subsidiary as an
/// unknown one (the same words), a refused approver as FORBIDDEN naming the rule.
fn decision_refused(error: ServiceError, approval_id: &ID) -> ApiError {
    match &error {
        ServiceError::Approval(ApprovalError::ApprovalNotFound | ApprovalError::ApproverOutsideTenant) => {
            ApiError::NotFound(format!("approval {} not found", approval_id.0))
        }
        ServiceError::Approval(
            refusal @ (ApprovalError::NotLevelApprover { .. }
            | ApprovalError::ApproverOutsideLevelUnit { .. }
            | ApprovalError::RequesterMayNotDecide
            | ApprovalError::ApproverDecidedAnotherLevel(_)),
        ) => ApiError::ForbiddenByRule { rule: refusal.rule().to_owned(), message: refusal.to_string() },
        _ => ApiError::from(error),
    }
}
