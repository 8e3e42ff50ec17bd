//! The work order (工单): from registration by an agent through dispatch to a station, field
//! work, callback and close. Stream `ticket-<uuid>`.
//!
//! # Workflow
//! The core nodes are fixed: accept (受理, the agent registers it) → dispatch (派单) → process
//! (处理, field work) → callback (回访) → close (办结). A subsidiary may add nodes after any core
//! node but close ([`WorkflowNode`]); the ticket cannot pass the next core node until they are done.
//!
//! ```text
//! registered ─dispatch─► dispatched ─accept─► accepted ─check in─► on_site ─complete─► completed
//!     ▲  ▲                   │ reject              │ return*            │ return*       │ callback
//!     │  └──── returned ◄────┴─────────────────────┴────────────────────┘               ▼
//!     │                                                      rework_required ◄─dissatisfied─┤
//!     └─────────────── (dispatch again; from rework_required it is a redispatch*)  callback_done
//!                                                                                     │ close
//! any open status ─void* / cancel*─► voided / cancelled                               ▼ closed
//! ```
//! `*` marks operations the tenant's policy may gate behind an approval
//! ([`crate::approval::GatedOperation`]).
//!
//! # Layout
//! - `vocabulary`: type, urgency, source, workflow nodes, status and the field-work words.
//! - `command`: [`TicketCommand`] and its [`TicketAction`]s; `event`: [`TicketEvent`], its wire
//!   names, versions and upcaster; `error`: [`TicketError`], one variant per rule.
//! - `state`: [`TicketState`] and `evolve`; `decide`: the rules, one file per concern.
//! - [`deadline`]: the red / yellow deadline flag of open tickets.
//!
//! Every type is used from here (`hotline_domain::ticket::TicketStatus`); the files inside
//! import each other by their own paths, so no file but the tests depends on this one.

mod command;
pub mod deadline;
mod decide;
mod error;
mod event;
mod state;
pub(crate) mod vocabulary;

pub use command::{NewTicket, TicketAction, TicketCommand, TicketRequest, UnitRef};
pub use error::TicketError;
pub use event::{upcast_ticket, TicketCreated, TicketEvent};
pub use state::TicketState;
pub use vocabulary::{
    CoreNode, EvidenceKind, Part, Satisfaction, Source, TicketStatus, TicketType, Urgency, WorkflowNode,
};

use crate::Decider;

/// Marker type of the ticket decider.
pub struct Ticket;

impl Decider for Ticket {
    type State = TicketState;
    type Command = TicketCommand;
    type Event = TicketEvent;
    type Error = TicketError;
    const CATEGORY: &'static str = "ticket";

    fn decide(state: &TicketState, command: &TicketCommand) -> Result<Vec<TicketEvent>, TicketError> {
        decide::decide(state, command)
    }

    fn texts(command: &TicketCommand) -> Vec<crate::text::Text<'_>> {
        command.action.texts()
    }

    fn evolve(state: TicketState, event: &TicketEvent) -> TicketState {
        state::evolve(state, event)
    }
}

#[cfg(test)]
mod tests;
