//! Nodes a subsidiary added after core nodes ([`crate::ticket::WorkflowNode`]): each is completed
//! once, after the ticket has reached the core node it follows. The core rules ask for them
//! through `OpenTicket::require_nodes_before`.

use crate::ticket::decide::guard::OpenTicket;
use crate::ticket::error::TicketError;
use crate::ticket::event::TicketEvent;

/// Completes an added node.
pub(super) fn complete_node(ticket: &OpenTicket, node: &str, note: &str) -> Result<Vec<TicketEvent>, TicketError> {
    let state = ticket.state;
    let found = state
        .extra_nodes
        .iter()
        .find(|n| n.code == node)
        .ok_or_else(|| TicketError::UnknownWorkflowNode(node.to_owned()))?;
    if state.completed_nodes.contains(node) {
        return Err(TicketError::WorkflowNodeAlreadyCompleted(node.to_owned()));
    }
    if ticket.status.reached() < found.after {
        return Err(TicketError::WorkflowNodeNotReached(node.to_owned()));
    }
    Ok(vec![TicketEvent::WorkflowNodeCompleted { by: ticket.by(), node: node.to_owned(), note: note.to_owned() }])
}
