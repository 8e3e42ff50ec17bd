//! Why a ticket command was refused ([`TicketError`]), each variant a named rule.

use crate::approval::GatedOperation;
use crate::values::ApprovalId;

/// Why a ticket command was refused. [`TicketError::rule`] names the rule for API clients.
#[derive(Debug, Clone, PartialEq, thiserror::Error, strum::IntoStaticStr)]
pub enum TicketError {
    /// No ticket with this id.
    #[error("ticket not found")]
    TicketNotFound,
    /// The id is taken.
    #[error("ticket exists already")]
    TicketAlreadyExists,
    /// Closed tickets do not change.
    #[error("ticket is closed")]
    TicketAlreadyClosed,
    /// Voided tickets do not change.
    #[error("ticket is voided")]
    TicketAlreadyVoided,
    /// Cancelled tickets do not change.
    #[error("ticket is cancelled")]
    TicketAlreadyCancelled,
    /// The action does not apply in this status.
    #[error("cannot {action} a ticket that is {status}")]
    InvalidTransition {
        /// The action tried, in words (`close`, `check in on`, …).
        action: &'static str,
        /// The status it was in (wire code).
        status: &'static str,
    },
    /// The type is neither built in nor defined by the tenant.
    #[error("unknown ticket type {0}")]
    UnknownTicketType(String),
    /// A mandatory text is empty.
    #[error("{0} is required")]
    Required(&'static str),
    /// A hand-set deadline must lie after registration.
    #[error("the deadline must lie in the future")]
    DeadlineNotInFuture,
    /// An extension must move the deadline later.
    #[error("the new deadline must be later than the current one")]
    DeadlineNotLater,
    /// Tickets are dispatched to stations only.
    #[error("unit {0} is not a station")]
    NotAStation(String),
    /// Only the station it was dispatched to can accept it.
    #[error("dispatched to station {expected}, not {actual}")]
    WrongStation {
        /// The station the ticket was dispatched to.
        expected: String,
        /// The one that tried.
        actual: String,
    },
    /// Another worker is assigned.
    #[error("assigned to {assigned}, not {actor}")]
    NotAssignedWorker {
        /// The worker assigned to the ticket.
        assigned: String,
        /// The user who tried to act in their place.
        actor: String,
    },
    /// GPS outside the globe.
    #[error("invalid GPS location")]
    InvalidLocation,
    /// Evidence hashes are lowercase hex SHA-256.
    #[error("invalid SHA-256 digest")]
    InvalidDigest,
    /// A thermometer reading that cannot be a room.
    #[error("temperature {0} °C is outside -50 to 100")]
    TemperatureOutOfRange(f64),
    /// Parts are counted from 1.
    #[error("part {0} has quantity 0")]
    InvalidPartQuantity(String),
    /// Completion and signature need a recorded result.
    #[error("record the result first")]
    ResultMissing,
    /// A reassignment must name a new station or worker.
    #[error("a reassignment must name a new station or worker")]
    NothingToReassign,
    /// A ticket is escalated to the group at most once.
    #[error("ticket is escalated already")]
    AlreadyEscalated,
    /// The operation is gated and no approval was given.
    #[error("{} needs an approval first", .0.code())]
    ApprovalRequired(GatedOperation),
    /// The approval is pending or was rejected.
    #[error("approval {0} is not granted")]
    ApprovalNotGranted(ApprovalId),
    /// The approval is for another ticket or operation.
    #[error("approval {0} is for another ticket or operation")]
    ApprovalMismatch(ApprovalId),
    /// Each approval grants one operation once.
    #[error("approval {0} was used already")]
    ApprovalAlreadyUsed(ApprovalId),
    /// An added node must be completed before the next core node.
    #[error("workflow node {0} must be completed first")]
    WorkflowNodePending(String),
    /// The tenant has no such node on this ticket.
    #[error("unknown workflow node {0}")]
    UnknownWorkflowNode(String),
    /// Each added node is completed once.
    #[error("workflow node {0} is completed already")]
    WorkflowNodeAlreadyCompleted(String),
    /// The deadline has not passed (or was extended since it was seen).
    #[error("the deadline has not passed")]
    DeadlineNotPassed,
    /// A reminder for this completion was issued already.
    #[error("the callback reminder was issued already")]
    CallbackReminderAlreadyIssued,
    /// This deadline's breach is recorded already.
    #[error("the breach of this deadline is recorded already")]
    BreachAlreadyRecorded,
    /// The ticket has not reached the core node the added node follows.
    #[error("workflow node {0} is not reached yet")]
    WorkflowNodeNotReached(String),
}

impl TicketError {
    /// The rule's stable name (the variant name), for `extensions.rule` and sync results.
    pub fn rule(&self) -> &'static str {
        self.into()
    }
}
