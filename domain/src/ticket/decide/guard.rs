//! What every rule on an open ticket looks at ([`OpenTicket`]), and the checks several concerns
//! share: mandatory texts, the assigned worker, the station in charge, pending added nodes.

use crate::ticket::command::TicketCommand;
use crate::ticket::error::TicketError;
use crate::ticket::state::TicketState;
use crate::ticket::vocabulary::{CoreNode, TicketStatus};
use crate::values::{UnitCode, UserId};

/// A command on a ticket that exists and is still open.
pub(super) struct OpenTicket<'a> {
    /// What the decider knows of the ticket.
    pub(super) state: &'a TicketState,
    /// The command being decided.
    pub(super) command: &'a TicketCommand,
    /// The ticket's status; never closed, voided or cancelled.
    pub(super) status: TicketStatus,
}

impl OpenTicket<'_> {
    /// Who acts, as the events record it.
    pub(super) fn by(&self) -> UserId {
        self.command.actor.clone()
    }

    /// The refusal of an action that does not apply in the current status.
    pub(super) fn invalid(&self, action: &'static str) -> TicketError {
        TicketError::InvalidTransition { action, status: self.status.code() }
    }

    /// The station in charge; only asked once the ticket has been dispatched.
    pub(super) fn current_station(&self) -> UnitCode {
        self.state.station.clone().expect("a dispatched ticket has a station")
    }

    /// Field work is done by the assigned worker, or by anyone of the station while none is.
    pub(super) fn require_assigned(&self) -> Result<(), TicketError> {
        let actor = &self.command.actor;
        match &self.state.worker {
            Some(worker) if worker != actor => {
                Err(TicketError::NotAssignedWorker { assigned: worker.0.clone(), actor: actor.0.clone() })
            }
            _ => Ok(()),
        }
    }

    /// Every added node placed before `core` must be complete.
    pub(super) fn require_nodes_before(&self, core: CoreNode) -> Result<(), TicketError> {
        let state = self.state;
        match state.extra_nodes.iter().find(|n| n.after < core && !state.completed_nodes.contains(&n.code)) {
            Some(pending) => Err(TicketError::WorkflowNodePending(pending.code.clone())),
            None => Ok(()),
        }
    }
}

/// A mandatory text (reason, address, …) must not be blank.
pub(super) fn require_text(field: &'static str, value: &str) -> Result<(), TicketError> {
    if value.trim().is_empty() {
        Err(TicketError::Required(field))
    } else {
        Ok(())
    }
}
