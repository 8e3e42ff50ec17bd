//! Registration (受理): the type must exist for the tenant, the texts must be given, and the
//! deadline is a hand-set one in the future or the hours the tenant's policy gives.

use crate::ticket::command::{NewTicket, TicketCommand};
use crate::ticket::decide::guard::require_text;
use crate::ticket::error::TicketError;
use crate::ticket::event::{TicketCreated, TicketEvent};
use chrono::Duration;

/// Registers a ticket on an empty stream.
pub(super) fn create(new: &NewTicket, command: &TicketCommand) -> Result<Vec<TicketEvent>, TicketError> {
    if !command.policy.knows_type(&new.ticket_type) {
        return Err(TicketError::UnknownTicketType(new.ticket_type.0.clone()));
    }
    require_text("ticket_no", &new.ticket_no)?;
    require_text("address", &new.address)?;
    require_text("description", &new.description)?;
    let (deadline_at, deadline_hours) = match new.deadline_override {
        Some(deadline) if deadline <= command.at => return Err(TicketError::DeadlineNotInFuture),
        Some(deadline) => (deadline, None),
        None => {
            let hours = command.policy.deadline_hours(&new.ticket_type, new.urgency, new.source);
            (command.at + Duration::hours(i64::from(hours)), Some(hours))
        }
    };
    Ok(vec![TicketEvent::Created(TicketCreated {
        ticket_id: new.ticket_id,
        ticket_no: new.ticket_no.clone(),
        tenant: new.tenant.clone(),
        ticket_type: new.ticket_type.clone(),
        urgency: new.urgency,
        source: new.source,
        customer_id: new.customer_id,
        caller_phone: new.caller_phone.as_ref().map(|p| p.0.clone()),
        address: new.address.clone(),
        description: new.description.clone(),
        created_by: command.actor.clone(),
        deadline_at,
        deadline_hours,
        extra_nodes: command.policy.extra_nodes.clone(),
    })])
}
