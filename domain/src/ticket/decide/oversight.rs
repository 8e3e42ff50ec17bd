//! Keeping a ticket moving: urging (催办), supervision (督办), escalation to the group (越级投诉),
//! deadline extension (延时, gated), and what the timers record: a deadline breach (with a raised
//! urgency and automatic supervision) and the callback reminder.

use crate::approval::{ApprovalEvidence, GatedOperation};
use crate::ticket::decide::gated::check_approval;
use crate::ticket::decide::guard::{require_text, OpenTicket};
use crate::ticket::error::TicketError;
use crate::ticket::event::TicketEvent;
use crate::ticket::vocabulary::{TicketStatus, Urgency};
use crate::values::UnitCode;
use chrono::{DateTime, Utc};

/// Urges the handler; any open ticket may be urged any number of times.
pub(super) fn urge(ticket: &OpenTicket, note: &str) -> Result<Vec<TicketEvent>, TicketError> {
    Ok(vec![TicketEvent::Urged { by: ticket.by(), note: note.to_owned(), count: ticket.state.urge_count + 1 }])
}

/// Puts the ticket under a unit's supervision, with instructions.
pub(super) fn supervise(ticket: &OpenTicket, unit: &UnitCode, note: &str) -> Result<Vec<TicketEvent>, TicketError> {
    require_text("note", note)?;
    Ok(vec![TicketEvent::Supervised { by: ticket.by(), unit: unit.clone(), note: note.to_owned() }])
}

/// Escalates to the group, once per ticket.
pub(super) fn escalate(ticket: &OpenTicket, reason: &str) -> Result<Vec<TicketEvent>, TicketError> {
    if ticket.state.escalated {
        return Err(TicketError::AlreadyEscalated);
    }
    require_text("reason", reason)?;
    Ok(vec![TicketEvent::Escalated { by: ticket.by(), reason: reason.to_owned() }])
}

/// Moves the deadline later and into the future; the policy may gate it.
pub(super) fn extend_deadline(
    ticket: &OpenTicket,
    new_deadline: DateTime<Utc>,
    reason: &str,
    approval: &Option<ApprovalEvidence>,
) -> Result<Vec<TicketEvent>, TicketError> {
    require_text("reason", reason)?;
    let from = ticket.state.deadline_at.expect("a created ticket has a deadline");
    if new_deadline <= from {
        return Err(TicketError::DeadlineNotLater);
    }
    if new_deadline <= ticket.command.at {
        return Err(TicketError::DeadlineNotInFuture);
    }
    let approval_id = check_approval(ticket, GatedOperation::Delay, approval)?;
    Ok(vec![TicketEvent::DeadlineExtended {
        by: ticket.by(),
        from,
        to: new_deadline,
        reason: reason.to_owned(),
        approval_id,
    }])
}

/// The deadline watcher saw `deadline_at` pass: records the breach once per deadline, raises the
/// urgency one step (critical stays critical) and puts the ticket under the subsidiary's
/// supervision unless it already is (超时自动督办).
pub(super) fn record_deadline_breach(
    ticket: &OpenTicket,
    deadline_at: DateTime<Utc>,
) -> Result<Vec<TicketEvent>, TicketError> {
    let state = ticket.state;
    let deadline = state.deadline_at.expect("a created ticket has a deadline");
    if deadline_at != deadline || ticket.command.at < deadline {
        return Err(TicketError::DeadlineNotPassed);
    }
    if state.breached_deadline == Some(deadline) {
        return Err(TicketError::BreachAlreadyRecorded);
    }
    let mut events = vec![TicketEvent::DeadlineBreached { deadline_at: deadline, by: ticket.by() }];
    let urgency = state.urgency.expect("a created ticket has an urgency");
    let raised = match urgency {
        Urgency::Normal => Some(Urgency::Urgent),
        Urgency::Urgent => Some(Urgency::Critical),
        Urgency::Critical => None,
    };
    if let Some(to) = raised {
        events.push(TicketEvent::UrgencyRaised { from: urgency, to, reason: "超时未办结".into() });
    }
    if !state.supervised {
        let tenant = state.tenant.clone().expect("a created ticket has a tenant");
        events.push(TicketEvent::Supervised {
            by: ticket.by(), unit: UnitCode(tenant.0), note: "超时自动督办".into()
        });
    }
    Ok(events)
}

/// The callback timer reminds agents, once per completion, that a ticket waits for its callback.
pub(super) fn remind_callback(ticket: &OpenTicket) -> Result<Vec<TicketEvent>, TicketError> {
    if ticket.status != TicketStatus::Completed {
        return Err(ticket.invalid("remind the callback of"));
    }
    if ticket.state.callback_reminded {
        return Err(TicketError::CallbackReminderAlreadyIssued);
    }
    Ok(vec![TicketEvent::CallbackReminderIssued { by: ticket.by() }])
}
