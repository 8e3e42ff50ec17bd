//! How a ticket ends: the callback (回访) or its exemption (免回访, gated), close (办结), and the
//! gated ends that skip the work: void (作废) and cancel (取消).

use crate::approval::{ApprovalEvidence, GatedOperation};
use crate::ticket::decide::gated::check_approval;
use crate::ticket::decide::guard::{require_text, OpenTicket};
use crate::ticket::error::TicketError;
use crate::ticket::event::TicketEvent;
use crate::ticket::vocabulary::{CoreNode, Satisfaction, TicketStatus};

/// Records the callback of completed work; a dissatisfied customer sends it back to rework.
pub(super) fn record_callback(
    ticket: &OpenTicket,
    satisfaction: Satisfaction,
    note: &str,
) -> Result<Vec<TicketEvent>, TicketError> {
    if ticket.status != TicketStatus::Completed {
        return Err(ticket.invalid("call back"));
    }
    ticket.require_nodes_before(CoreNode::Callback)?;
    Ok(vec![TicketEvent::CallbackRecorded { by: ticket.by(), satisfaction, note: note.to_owned() }])
}

/// Skips the callback of completed work, saying why; the policy may gate it.
pub(super) fn exempt_callback(
    ticket: &OpenTicket,
    reason: &str,
    approval: &Option<ApprovalEvidence>,
) -> Result<Vec<TicketEvent>, TicketError> {
    if ticket.status != TicketStatus::Completed {
        return Err(ticket.invalid("exempt the callback of"));
    }
    require_text("reason", reason)?;
    ticket.require_nodes_before(CoreNode::Callback)?;
    let approval_id = check_approval(ticket, GatedOperation::CallbackExemption, approval)?;
    Ok(vec![TicketEvent::CallbackExempted { by: ticket.by(), reason: reason.to_owned(), approval_id }])
}

/// Closes after the callback, recording the facts KPIs need: first-time fix and overdue.
pub(super) fn close(ticket: &OpenTicket, note: &str) -> Result<Vec<TicketEvent>, TicketError> {
    if ticket.status != TicketStatus::CallbackDone {
        return Err(ticket.invalid("close"));
    }
    ticket.require_nodes_before(CoreNode::Close)?;
    let deadline = ticket.state.deadline_at.expect("a created ticket has a deadline");
    Ok(vec![TicketEvent::Closed {
        by: ticket.by(),
        note: note.to_owned(),
        first_time_fix: !ticket.state.reworked,
        overdue: ticket.command.at > deadline,
    }])
}

/// Voids an open ticket (作废), saying why; the policy may gate it.
pub(super) fn void(
    ticket: &OpenTicket,
    reason: &str,
    approval: &Option<ApprovalEvidence>,
) -> Result<Vec<TicketEvent>, TicketError> {
    require_text("reason", reason)?;
    let approval_id = check_approval(ticket, GatedOperation::Void, approval)?;
    Ok(vec![TicketEvent::Voided { by: ticket.by(), reason: reason.to_owned(), approval_id }])
}

/// Cancels an open ticket (取消), saying why; the policy may gate it.
pub(super) fn cancel(
    ticket: &OpenTicket,
    reason: &str,
    approval: &Option<ApprovalEvidence>,
) -> Result<Vec<TicketEvent>, TicketError> {
    require_text("reason", reason)?;
    let approval_id = check_approval(ticket, GatedOperation::Cancel, approval)?;
    Ok(vec![TicketEvent::Cancelled { by: ticket.by(), reason: reason.to_owned(), approval_id }])
}
