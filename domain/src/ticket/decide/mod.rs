//! The ticket's business rules, one file per concern.
//!
//! [`decide`] refuses a command on a ticket that does not exist (or a second registration), and
//! any command on a closed, voided or cancelled ticket; then it hands the action to its concern:
//! - `create`: registration (受理) and the deadline the policy gives.
//! - `arrange`: dispatch, accept, reject, return and reassign (派单 … 改派).
//! - `field_work`: check-in, evidence, temperatures, result, signature and completion on site.
//! - `oversight`: urging, supervision, escalation, deadline extension, breaches, reminders.
//! - `close`: callback or its exemption, close, void and cancel.
//! - `workflow`: the nodes a tenant added after core nodes.
//! - `gated`: the approval evidence gated operations need.
//! - `guard`: what every rule on an open ticket looks at, and the checks they share.

mod arrange;
mod close;
mod create;
mod field_work;
mod gated;
mod guard;
mod oversight;
mod workflow;

use crate::ticket::command::{TicketAction, TicketCommand};
use crate::ticket::decide::guard::OpenTicket;
use crate::ticket::error::TicketError;
use crate::ticket::event::TicketEvent;
use crate::ticket::state::TicketState;
use crate::ticket::vocabulary::TicketStatus;

/// The events `command` produces on a ticket in `state`, or the rule it breaks.
pub(super) fn decide(state: &TicketState, command: &TicketCommand) -> Result<Vec<TicketEvent>, TicketError> {
    let status = match (state.status, &command.action) {
        (None, TicketAction::Create(new)) => return create::create(new, command),
        (Some(_), TicketAction::Create(_)) => return Err(TicketError::TicketAlreadyExists),
        (None, _) => return Err(TicketError::TicketNotFound),
        (Some(TicketStatus::Closed), _) => return Err(TicketError::TicketAlreadyClosed),
        (Some(TicketStatus::Voided), _) => return Err(TicketError::TicketAlreadyVoided),
        (Some(TicketStatus::Cancelled), _) => return Err(TicketError::TicketAlreadyCancelled),
        (Some(status), _) => status,
    };
    let ticket = OpenTicket { state, command, status };
    use TicketAction as A;
    match &command.action {
        A::Create(_) => unreachable!("registration is decided above"),
        A::Dispatch { station, note, approval } => arrange::dispatch(&ticket, station, note, approval),
        A::Accept { station, worker } => arrange::accept(&ticket, station, worker),
        A::Reject { reason } => arrange::reject(&ticket, reason),
        A::Return { reason, approval } => arrange::return_to_dispatch(&ticket, reason, approval),
        A::Reassign { station, worker, reason } => arrange::reassign(&ticket, station, worker, reason),
        A::Urge { note } => oversight::urge(&ticket, note),
        A::Supervise { unit, note } => oversight::supervise(&ticket, unit, note),
        A::Escalate { reason } => oversight::escalate(&ticket, reason),
        A::ExtendDeadline { new_deadline, reason, approval } => {
            oversight::extend_deadline(&ticket, *new_deadline, reason, approval)
        }
        A::RecordDeadlineBreach { deadline_at } => oversight::record_deadline_breach(&ticket, *deadline_at),
        A::RemindCallback => oversight::remind_callback(&ticket),
        A::CheckIn { location } => field_work::check_in(&ticket, location),
        A::AttachEvidence { kind, uri, sha256, taken_at, location } => {
            field_work::attach_evidence(&ticket, *kind, uri, sha256, *taken_at, location)
        }
        A::RecordTemperature { room, celsius, taken_at } => {
            field_work::record_temperature(&ticket, room, *celsius, *taken_at)
        }
        A::RecordResult { result, parts, duration_minutes } => {
            field_work::record_result(&ticket, result, parts, *duration_minutes)
        }
        A::CollectSignature { signature_uri, sha256, satisfaction } => {
            field_work::collect_signature(&ticket, signature_uri, sha256, *satisfaction)
        }
        A::CompleteWork => field_work::complete_work(&ticket),
        A::CompleteNode { node, note } => workflow::complete_node(&ticket, node, note),
        A::RecordCallback { satisfaction, note } => close::record_callback(&ticket, *satisfaction, note),
        A::ExemptCallback { reason, approval } => close::exempt_callback(&ticket, reason, approval),
        A::Close { note } => close::close(&ticket, note),
        A::Void { reason, approval } => close::void(&ticket, reason, approval),
        A::Cancel { reason, approval } => close::cancel(&ticket, reason, approval),
    }
}
