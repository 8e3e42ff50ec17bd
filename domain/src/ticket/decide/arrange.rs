//! Getting a ticket to the right hands: dispatch (派单, a redispatch 二次派单 after a dissatisfied
//! callback), the station's accept or reject, return (退回) and reassignment (改派).

use crate::approval::{ApprovalEvidence, GatedOperation};
use crate::organisation::UnitKind;
use crate::ticket::command::UnitRef;
use crate::ticket::decide::gated::check_approval;
use crate::ticket::decide::guard::{require_text, OpenTicket};
use crate::ticket::error::TicketError;
use crate::ticket::event::TicketEvent;
use crate::ticket::vocabulary::{CoreNode, TicketStatus};
use crate::values::{UnitCode, UserId};

/// Dispatches a registered or returned ticket to a station; from `rework_required` it is a
/// redispatch, which the policy may gate.
pub(super) fn dispatch(
    ticket: &OpenTicket,
    station: &UnitRef,
    note: &str,
    approval: &Option<ApprovalEvidence>,
) -> Result<Vec<TicketEvent>, TicketError> {
    use TicketStatus::*;
    if !matches!(ticket.status, Registered | Returned | ReworkRequired) {
        return Err(ticket.invalid("dispatch"));
    }
    if station.kind != UnitKind::Station {
        return Err(TicketError::NotAStation(station.code.0.clone()));
    }
    ticket.require_nodes_before(CoreNode::Dispatch)?;
    let redispatch = ticket.status == ReworkRequired;
    let approval_id = if redispatch { check_approval(ticket, GatedOperation::Redispatch, approval)? } else { None };
    Ok(vec![TicketEvent::Dispatched {
        station: station.code.clone(),
        station_path: station.path.clone(),
        by: ticket.by(),
        note: note.to_owned(),
        redispatch,
        approval_id,
    }])
}

/// Only the station a ticket was dispatched to accepts it.
pub(super) fn accept(
    ticket: &OpenTicket,
    station: &UnitCode,
    worker: &Option<UserId>,
) -> Result<Vec<TicketEvent>, TicketError> {
    if ticket.status != TicketStatus::Dispatched {
        return Err(ticket.invalid("accept"));
    }
    let expected = ticket.state.station.as_ref().expect("a dispatched ticket has a station");
    if expected != station {
        return Err(TicketError::WrongStation { expected: expected.0.clone(), actual: station.0.clone() });
    }
    Ok(vec![TicketEvent::Accepted { station: station.clone(), worker: worker.clone(), by: ticket.by() }])
}

/// The station declines a dispatch it has not accepted, saying why.
pub(super) fn reject(ticket: &OpenTicket, reason: &str) -> Result<Vec<TicketEvent>, TicketError> {
    if ticket.status != TicketStatus::Dispatched {
        return Err(ticket.invalid("reject"));
    }
    require_text("reason", reason)?;
    Ok(vec![TicketEvent::Rejected { station: ticket.current_station(), reason: reason.to_owned(), by: ticket.by() }])
}

/// The station sends back a ticket it accepted (退回), saying why; the policy may gate it.
pub(super) fn return_to_dispatch(
    ticket: &OpenTicket,
    reason: &str,
    approval: &Option<ApprovalEvidence>,
) -> Result<Vec<TicketEvent>, TicketError> {
    if !matches!(ticket.status, TicketStatus::Accepted | TicketStatus::OnSite) {
        return Err(ticket.invalid("return"));
    }
    require_text("reason", reason)?;
    let approval_id = check_approval(ticket, GatedOperation::Return, approval)?;
    Ok(vec![TicketEvent::Returned {
        station: ticket.current_station(),
        reason: reason.to_owned(),
        by: ticket.by(),
        approval_id,
    }])
}

/// Moves a ticket to another station (which must accept it again) or another worker of the same
/// station; something must change.
pub(super) fn reassign(
    ticket: &OpenTicket,
    station: &Option<UnitRef>,
    worker: &Option<UserId>,
    reason: &str,
) -> Result<Vec<TicketEvent>, TicketError> {
    use TicketStatus::*;
    if !matches!(ticket.status, Dispatched | Accepted | OnSite) {
        return Err(ticket.invalid("reassign"));
    }
    require_text("reason", reason)?;
    let from_station = ticket.current_station();
    let (to_station, to_station_path) = match station {
        Some(unit) if unit.kind != UnitKind::Station => return Err(TicketError::NotAStation(unit.code.0.clone())),
        Some(unit) => (unit.code.clone(), unit.path.clone()),
        None => {
            if worker.is_none() {
                return Err(TicketError::NothingToReassign);
            }
            if ticket.status == Dispatched {
                return Err(ticket.invalid("reassign the worker of"));
            }
            (from_station.clone(), ticket.state.station_path.clone().expect("a dispatched ticket has a station path"))
        }
    };
    if to_station == from_station && worker.is_none() {
        return Err(TicketError::NothingToReassign);
    }
    // Naming its own station must not let a dispatched ticket skip the station's accept.
    if to_station == from_station && ticket.status == Dispatched {
        return Err(ticket.invalid("reassign the worker of"));
    }
    Ok(vec![TicketEvent::Reassigned {
        from_station,
        to_station,
        to_station_path,
        from_worker: ticket.state.worker.clone(),
        to_worker: worker.clone(),
        reason: reason.to_owned(),
        by: ticket.by(),
    }])
}
