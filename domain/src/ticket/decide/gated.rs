//! Gated operations (delay, return, void, redispatch, cancel, callback exemption): the approval
//! evidence the command layer loaded must be granted, for this ticket and operation, and unused.

use crate::approval::{ApprovalEvidence, ApprovalStatus, GatedOperation};
use crate::ticket::decide::guard::OpenTicket;
use crate::ticket::error::TicketError;
use crate::values::ApprovalId;

/// Checks the approval of a gated operation; returns the approval id the event records (`None`
/// when the tenant's policy does not gate the operation and no approval was given).
pub(super) fn check_approval(
    ticket: &OpenTicket,
    operation: GatedOperation,
    approval: &Option<ApprovalEvidence>,
) -> Result<Option<ApprovalId>, TicketError> {
    let Some(evidence) = approval else {
        return if ticket.command.policy.is_gated(operation) {
            Err(TicketError::ApprovalRequired(operation))
        } else {
            Ok(None)
        };
    };
    if Some(evidence.ticket_id) != ticket.state.ticket_id || evidence.operation != operation {
        return Err(TicketError::ApprovalMismatch(evidence.approval_id));
    }
    if evidence.status != ApprovalStatus::Granted {
        return Err(TicketError::ApprovalNotGranted(evidence.approval_id));
    }
    if ticket.state.used_approvals.contains(&evidence.approval_id) {
        return Err(TicketError::ApprovalAlreadyUsed(evidence.approval_id));
    }
    Ok(Some(evidence.approval_id))
}
