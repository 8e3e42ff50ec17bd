//! What the decider knows of a ticket ([`TicketState`]) and how each event changes it
//! ([`evolve`]). No rule lives here: `evolve` records facts and never fails.

use crate::ticket::event::TicketEvent;
use crate::ticket::vocabulary::{CoreNode, Satisfaction, TicketStatus, Urgency, WorkflowNode};
use crate::values::{ApprovalId, OrgPath, TenantId, TicketId, UnitCode, UserId};
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;

/// What the decider knows of a ticket.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TicketState {
    /// Where the ticket stands; `None` until `TicketCreated`, which is how the decider tells a
    /// new stream from an existing ticket.
    pub status: Option<TicketStatus>,
    /// The ticket's id; `None` until created. Approval evidence must name this id.
    pub ticket_id: Option<TicketId>,
    /// The human number (`<tenant>-<year>-<n>`); `None` until created.
    pub ticket_no: Option<String>,
    /// The subsidiary that owns the ticket; `None` until created. A breach puts the ticket under
    /// this unit's supervision.
    pub tenant: Option<TenantId>,
    /// The deadline in force (the policy's or a hand-set one, moved by extensions); `None` until
    /// created.
    pub deadline_at: Option<DateTime<Utc>>,
    /// The station it was last dispatched or reassigned to; `None` before the first dispatch.
    pub station: Option<UnitCode>,
    /// That station's path from the group, for scoping; `None` with `station`.
    pub station_path: Option<OrgPath>,
    /// The worker assigned or checked in; `None` until the station assigns one (any worker of
    /// the station may then act) and again after each dispatch.
    pub worker: Option<UserId>,
    /// Nodes the tenant added, as configured when the ticket was created.
    pub extra_nodes: Vec<WorkflowNode>,
    /// Codes of the added nodes completed (and not reset by a return or a dissatisfied callback).
    pub completed_nodes: BTreeSet<String>,
    /// A result was recorded in the current field visit.
    pub result_recorded: bool,
    /// Escalated to the group (越级投诉); a ticket is escalated at most once.
    pub escalated: bool,
    /// Under supervision (督办), by hand or by a recorded deadline breach.
    pub supervised: bool,
    /// How many times the ticket was urged (催办).
    pub urge_count: u32,
    /// Returned, redispatched or reopened at least once: no first-time fix.
    pub reworked: bool,
    /// Approvals already used; each grants one operation once.
    pub used_approvals: BTreeSet<ApprovalId>,
    /// The urgency in force: the registered one, raised by each recorded breach; `None` until
    /// created.
    pub urgency: Option<Urgency>,
    /// The last deadline whose breach was recorded; `None` if none was. An extended deadline can
    /// be breached (and recorded) again.
    pub breached_deadline: Option<DateTime<Utc>>,
    /// A callback reminder was issued since the last completion.
    pub callback_reminded: bool,
}

/// Folds one event into the state.
pub(super) fn evolve(mut state: TicketState, event: &TicketEvent) -> TicketState {
    use TicketStatus::*;
    match event {
        TicketEvent::Created(created) => {
            state.status = Some(Registered);
            state.ticket_id = Some(created.ticket_id);
            state.ticket_no = Some(created.ticket_no.clone());
            state.urgency = Some(created.urgency);
            state.tenant = Some(created.tenant.clone());
            state.deadline_at = Some(created.deadline_at);
            state.extra_nodes = created.extra_nodes.clone();
        }
        TicketEvent::Dispatched { station, station_path, redispatch, approval_id, .. } => {
            state.status = Some(Dispatched);
            state.station = Some(station.clone());
            state.station_path = Some(station_path.clone());
            state.worker = None;
            state.reworked |= *redispatch;
            state.used_approvals.extend(*approval_id);
        }
        TicketEvent::Accepted { worker, .. } => {
            state.status = Some(Accepted);
            state.worker = worker.clone();
        }
        TicketEvent::Rejected { .. } => state.status = Some(Returned),
        TicketEvent::Returned { approval_id, .. } => {
            state.status = Some(Returned);
            state.reworked = true;
            state.result_recorded = false;
            state.restart_work();
            state.used_approvals.extend(*approval_id);
        }
        TicketEvent::Reassigned { from_station, to_station, to_station_path, to_worker, .. } => {
            // A new station must accept again; a new worker alone continues the acceptance.
            state.status = Some(if from_station != to_station { Dispatched } else { Accepted });
            state.station = Some(to_station.clone());
            state.station_path = Some(to_station_path.clone());
            state.worker = to_worker.clone();
            state.result_recorded = false;
        }
        TicketEvent::Urged { count, .. } => state.urge_count = *count,
        TicketEvent::Supervised { .. } => state.supervised = true,
        TicketEvent::Escalated { .. } => state.escalated = true,
        TicketEvent::CheckedIn { worker, .. } => {
            state.status = Some(OnSite);
            state.worker = Some(worker.clone());
        }
        TicketEvent::WorkResultRecorded { .. } => state.result_recorded = true,
        TicketEvent::EvidenceAttached { .. }
        | TicketEvent::TemperatureRecorded { .. }
        | TicketEvent::CustomerSigned { .. } => {}
        TicketEvent::WorkCompleted { .. } => {
            state.status = Some(Completed);
            state.callback_reminded = false;
        }
        TicketEvent::CallbackReminderIssued { .. } => state.callback_reminded = true,
        TicketEvent::DeadlineExtended { to, approval_id, .. } => {
            state.deadline_at = Some(*to);
            state.used_approvals.extend(*approval_id);
        }
        TicketEvent::CallbackRecorded { satisfaction, .. } => {
            if *satisfaction == Satisfaction::Dissatisfied {
                state.status = Some(ReworkRequired);
                state.reworked = true;
                state.result_recorded = false;
                state.restart_work();
            } else {
                state.status = Some(CallbackDone);
            }
        }
        TicketEvent::CallbackExempted { approval_id, .. } => {
            state.status = Some(CallbackDone);
            state.used_approvals.extend(*approval_id);
        }
        TicketEvent::WorkflowNodeCompleted { node, .. } => {
            state.completed_nodes.insert(node.clone());
        }
        TicketEvent::Closed { .. } => state.status = Some(Closed),
        TicketEvent::DeadlineBreached { deadline_at, .. } => state.breached_deadline = Some(*deadline_at),
        TicketEvent::UrgencyRaised { to, .. } => state.urgency = Some(*to),
        TicketEvent::Voided { approval_id, .. } => {
            state.status = Some(Voided);
            state.used_approvals.extend(*approval_id);
        }
        TicketEvent::Cancelled { approval_id, .. } => {
            state.status = Some(Cancelled);
            state.used_approvals.extend(*approval_id);
        }
    }
    state
}

impl TicketState {
    /// Work starts over (return, dissatisfied callback): nodes from dispatch on must be done again.
    fn restart_work(&mut self) {
        let redo: Vec<String> =
            self.extra_nodes.iter().filter(|n| n.after >= CoreNode::Dispatch).map(|n| n.code.clone()).collect();
        self.completed_nodes.retain(|code| !redo.contains(code));
    }
}
