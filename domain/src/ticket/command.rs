//! What callers ask of a ticket: [`TicketCommand`] (who, when, under which policy) carrying a
//! [`TicketAction`], and how the command layer resolves the stations and approvals an action
//! names ([`TicketAction::resolve`]).

use crate::approval::ApprovalEvidence;
use crate::organisation::UnitKind;
use crate::settings::TicketPolicy;
use crate::text::{Text, ADDRESS, CODE, DESCRIPTION, LABEL, NAME, NOTE, PHONE_NUMBER, URI};
use crate::ticket::vocabulary::{EvidenceKind, Part, Satisfaction, Source, TicketType, Urgency};
use crate::values::{ApprovalId, CustomerId, GeoPoint, OrgPath, PhoneNumber, TenantId, TicketId, UnitCode, UserId};
use chrono::{DateTime, Utc};

/// A unit as the command layer resolved it from the organisation stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitRef {
    /// The unit's code, unique in the organisation.
    pub code: UnitCode,
    /// Group, division, subsidiary, station or grid; tickets go to stations only.
    pub kind: UnitKind,
    /// Its path from the group (`/hq/north/tj01`), which events carry for scoping.
    pub path: OrgPath,
    /// The subsidiary it belongs to; `None` for the group and divisions.
    pub tenant: Option<TenantId>,
}

/// What an agent registers.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTicket {
    /// The new ticket's id, made by the caller (so a retried command finds its ticket).
    pub ticket_id: TicketId,
    /// The human number allocated by [`crate::numbering`]; callers leave it empty, the command
    /// layer fills it in.
    pub ticket_no: String,
    /// The subsidiary the ticket is registered for.
    pub tenant: TenantId,
    /// A built-in type code or one the tenant defined.
    pub ticket_type: TicketType,
    /// How urgent the customer's case is; with type and source it sets the deadline.
    pub urgency: Urgency,
    /// Where the ticket came from; 12345 tickets get at most a one-day deadline.
    pub source: Source,
    /// The customer, when the agent identified one.
    pub customer_id: Option<CustomerId>,
    /// The caller's number, when the call showed one.
    pub caller_phone: Option<PhoneNumber>,
    /// Address of the premises the work is for (required).
    pub address: String,
    /// What the customer reported (required).
    pub description: String,
    /// A deadline set by hand, which must lie after registration; `None` takes the policy's.
    pub deadline_override: Option<DateTime<Utc>>,
}

/// A ticket command: who, when, under which policy, and what.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketCommand {
    /// The user who acts; events record them as `by`.
    pub actor: UserId,
    /// When the user acted, from the caller (device time for offline commands); deadlines are
    /// compared with it.
    pub at: DateTime<Utc>,
    /// The tenant's configuration as the log held it when the command arrived.
    pub policy: TicketPolicy,
    /// What to do, its station and approval resolved ([`TicketAction::resolve`]).
    pub action: TicketAction,
}

/// What a ticket command does.
///
/// `S` is how a station is named and `P` how an approval is: callers send unit codes and approval
/// ids ([`TicketRequest`]); the command layer resolves them from the organisation and approval
/// streams into [`UnitRef`] and [`ApprovalEvidence`] before deciding ([`TicketAction::resolve`]).
#[derive(Debug, Clone, PartialEq)]
pub enum TicketAction<S = UnitRef, P = ApprovalEvidence> {
    /// Registers the ticket (受理).
    Create(NewTicket),
    /// Dispatches to a station (派单); from `rework_required` this is a redispatch (二次派单).
    Dispatch {
        /// The station to dispatch to; must be a station.
        station: S,
        /// Instructions to the station; may be empty.
        note: String,
        /// The approval of a gated redispatch (its id from callers, its evidence once loaded);
        /// `None` when the tenant's policy does not gate it, else the command is refused.
        approval: Option<P>,
    },
    /// The station accepts (确认), optionally assigning a worker.
    Accept {
        /// The station accepting: the one the ticket was dispatched to.
        station: UnitCode,
        /// The worker the station assigns; `None` lets any worker of the station do the work.
        worker: Option<UserId>,
    },
    /// The station declines a dispatch it has not accepted.
    Reject {
        /// Why the station declines (required).
        reason: String,
    },
    /// The station sends back an accepted ticket (退回).
    Return {
        /// Why the station sends it back (required).
        reason: String,
        /// The approval of a gated return (its id from callers, its evidence once loaded);
        /// `None` when the tenant's policy does not gate it, else the command is refused.
        approval: Option<P>,
    },
    /// Moves the ticket to another station or worker (改派).
    Reassign {
        /// The new station; `None` keeps the station and changes only the worker.
        station: Option<S>,
        /// The new worker; `None` leaves the new station to assign one.
        worker: Option<UserId>,
        /// Why it is moved (required).
        reason: String,
    },
    /// Urges the handler (催办).
    Urge {
        /// What to tell the handler; may be empty.
        note: String,
    },
    /// Puts the ticket under supervision (督办).
    Supervise {
        /// The supervising unit.
        unit: UnitCode,
        /// Instructions to the handler (required).
        note: String,
    },
    /// Escalates to the group (越级投诉).
    Escalate {
        /// Why the customer goes over the subsidiary's head (required).
        reason: String,
    },
    /// The worker checks in on site with GPS.
    CheckIn {
        /// The worker's GPS fix on arrival; must be a valid position.
        location: GeoPoint,
    },
    /// Attaches a photo, video or recording.
    AttachEvidence {
        /// Photo, video or recording.
        kind: EvidenceKind,
        /// Where the blob is stored.
        uri: String,
        /// SHA-256 of the blob, lowercase hex.
        sha256: String,
        /// When it was taken.
        taken_at: DateTime<Utc>,
        /// Where it was taken; `None` when the device had no fix.
        location: Option<GeoPoint>,
    },
    /// Records a room temperature (测温).
    RecordTemperature {
        /// Which room (required).
        room: String,
        /// The reading in °C; -50 to 100.
        celsius: f64,
        /// When it was measured.
        taken_at: DateTime<Utc>,
    },
    /// Records the result (回填).
    RecordResult {
        /// What was done.
        result: String,
        /// Parts used, each with a quantity of at least 1; may be empty.
        parts: Vec<Part>,
        /// Minutes of work on site.
        duration_minutes: u32,
    },
    /// The customer signs and rates on the worker's phone.
    CollectSignature {
        /// Where the signature image is stored.
        signature_uri: String,
        /// SHA-256 of the signature image, lowercase hex.
        sha256: String,
        /// The customer's rating.
        satisfaction: Satisfaction,
    },
    /// Field work is done.
    CompleteWork,
    /// Moves the deadline later (延时).
    ExtendDeadline {
        /// The new deadline: later than the current one and than the command.
        new_deadline: DateTime<Utc>,
        /// Why more time is needed (required).
        reason: String,
        /// The approval of a gated delay (its id from callers, its evidence once loaded);
        /// `None` when the tenant's policy does not gate it, else the command is refused.
        approval: Option<P>,
    },
    /// Records the callback (回访).
    RecordCallback {
        /// The customer's verdict.
        satisfaction: Satisfaction,
        /// What the customer said; may be empty.
        note: String,
    },
    /// Skips the callback (免回访).
    ExemptCallback {
        /// Why no callback is needed (required).
        reason: String,
        /// The approval of a gated callback exemption (its id from callers, its evidence once loaded);
        /// `None` when the tenant's policy does not gate it, else the command is refused.
        approval: Option<P>,
    },
    /// Completes a node the tenant added.
    CompleteNode {
        /// The code of a node the tenant added to this ticket's workflow.
        node: String,
        /// What was done at the node; may be empty.
        note: String,
    },
    /// Closes (办结).
    Close {
        /// Closing remarks; may be empty.
        note: String,
    },
    /// Voids (作废).
    Void {
        /// Why it is voided (required).
        reason: String,
        /// The approval of a gated void (its id from callers, its evidence once loaded);
        /// `None` when the tenant's policy does not gate it, else the command is refused.
        approval: Option<P>,
    },
    /// Cancels (取消).
    Cancel {
        /// Why it is cancelled (required).
        reason: String,
        /// The approval of a gated cancellation (its id from callers, its evidence once loaded);
        /// `None` when the tenant's policy does not gate it, else the command is refused.
        approval: Option<P>,
    },
    /// The callback timer reminds agents that a completed ticket still waits for its callback.
    RemindCallback,
    /// The deadline watcher records that the deadline passed: the breach, a raised urgency and
    /// supervision by the subsidiary (超时自动督办).
    RecordDeadlineBreach {
        /// The deadline the watcher saw pass.
        deadline_at: DateTime<Utc>,
    },
}

/// A ticket action as API callers send it: stations by code, approvals by id.
pub type TicketRequest = TicketAction<UnitCode, ApprovalId>;

impl<S, P> TicketAction<S, P> {
    /// The station the action names, if any.
    pub fn station(&self) -> Option<&S> {
        match self {
            TicketAction::Dispatch { station, .. } => Some(station),
            TicketAction::Reassign { station, .. } => station.as_ref(),
            _ => None,
        }
    }

    /// The approval the action names, if any.
    pub fn approval(&self) -> Option<&P> {
        match self {
            TicketAction::Dispatch { approval, .. }
            | TicketAction::Return { approval, .. }
            | TicketAction::ExtendDeadline { approval, .. }
            | TicketAction::ExemptCallback { approval, .. }
            | TicketAction::Void { approval, .. }
            | TicketAction::Cancel { approval, .. } => approval.as_ref(),
            _ => None,
        }
    }

    /// Replaces the named station and approval by what they resolved to. `station` and
    /// `approval` must be `Some` where [`Self::station`] and [`Self::approval`] are.
    pub fn resolve<S2, P2>(self, station: Option<S2>, approval: Option<P2>) -> TicketAction<S2, P2> {
        use TicketAction as A;
        match self {
            A::Create(new) => A::Create(new),
            A::Dispatch { note, .. } => {
                A::Dispatch { station: station.expect("resolve is given the station the action names"), note, approval }
            }
            A::Accept { station, worker } => A::Accept { station, worker },
            A::Reject { reason } => A::Reject { reason },
            A::Return { reason, .. } => A::Return { reason, approval },
            A::Reassign { worker, reason, .. } => A::Reassign { station, worker, reason },
            A::Urge { note } => A::Urge { note },
            A::Supervise { unit, note } => A::Supervise { unit, note },
            A::Escalate { reason } => A::Escalate { reason },
            A::CheckIn { location } => A::CheckIn { location },
            A::AttachEvidence { kind, uri, sha256, taken_at, location } => {
                A::AttachEvidence { kind, uri, sha256, taken_at, location }
            }
            A::RecordTemperature { room, celsius, taken_at } => A::RecordTemperature { room, celsius, taken_at },
            A::RecordResult { result, parts, duration_minutes } => A::RecordResult { result, parts, duration_minutes },
            A::CollectSignature { signature_uri, sha256, satisfaction } => {
                A::CollectSignature { signature_uri, sha256, satisfaction }
            }
            A::CompleteWork => A::CompleteWork,
            A::ExtendDeadline { new_deadline, reason, .. } => A::ExtendDeadline { new_deadline, reason, approval },
            A::RecordCallback { satisfaction, note } => A::RecordCallback { satisfaction, note },
            A::ExemptCallback { reason, .. } => A::ExemptCallback { reason, approval },
            A::CompleteNode { node, note } => A::CompleteNode { node, note },
            A::Close { note } => A::Close { note },
            A::Void { reason, .. } => A::Void { reason, approval },
            A::Cancel { reason, .. } => A::Cancel { reason, approval },
            A::RecordDeadlineBreach { deadline_at } => A::RecordDeadlineBreach { deadline_at },
            A::RemindCallback => A::RemindCallback,
        }
    }

    /// Every text the action would carry into the log, with its rule (see [`crate::text`]). The
    /// station an action names is not listed: it is resolved from the organisation, never stored
    /// as given.
    pub fn texts(&self) -> Vec<Text<'_>> {
        use TicketAction as A;
        let mut texts = Vec::new();
        macro_rules! add {
            ($field:literal, $rule:expr, $value:expr) => {
                texts.push(Text::new($field, $rule, $value))
            };
        }
        match self {
            A::Create(new) => {
                add!("ticketNo", CODE, &new.ticket_no);
                add!("tenant", CODE, &new.tenant.0);
                add!("type", CODE, &new.ticket_type.0);
                if let Some(phone) = &new.caller_phone {
                    add!("callerPhone", PHONE_NUMBER, &phone.0);
                }
                add!("address", ADDRESS, &new.address);
                add!("description", DESCRIPTION, &new.description);
            }
            A::Dispatch { note, .. } | A::Urge { note } | A::Close { note } => add!("note", NOTE, note),
            A::Accept { station, worker } => {
                add!("station", CODE, &station.0);
                if let Some(worker) = worker {
                    add!("worker", CODE, &worker.0);
                }
            }
            A::Reject { reason }
            | A::Return { reason, .. }
            | A::Escalate { reason }
            | A::ExtendDeadline { reason, .. }
            | A::ExemptCallback { reason, .. }
            | A::Void { reason, .. }
            | A::Cancel { reason, .. } => add!("reason", NOTE, reason),
            A::Reassign { worker, reason, .. } => {
                if let Some(worker) = worker {
                    add!("worker", CODE, &worker.0);
                }
                add!("reason", NOTE, reason);
            }
            A::Supervise { unit, note } => {
                add!("unit", CODE, &unit.0);
                add!("note", NOTE, note);
            }
            A::AttachEvidence { uri, sha256, .. } => {
                add!("uri", URI, uri);
                add!("sha256", CODE, sha256);
            }
            A::RecordTemperature { room, .. } => add!("room", LABEL, room),
            A::RecordResult { result, parts, .. } => {
                add!("result", NOTE, result);
                for part in parts {
                    add!("part.code", CODE, &part.code);
                    add!("part.name", NAME, &part.name);
                }
            }
            A::CollectSignature { signature_uri, sha256, .. } => {
                add!("signatureUri", URI, signature_uri);
                add!("sha256", CODE, sha256);
            }
            A::RecordCallback { note, .. } => add!("note", NOTE, note),
            A::CompleteNode { node, note } => {
                add!("node", CODE, node);
                add!("note", NOTE, note);
            }
            A::CheckIn { .. } | A::CompleteWork | A::RemindCallback | A::RecordDeadlineBreach { .. } => {}
        }
        texts
    }

    /// The action's name, as in logs and sync results.
    pub fn name(&self) -> &'static str {
        match self {
            TicketAction::Create(_) => "create",
            TicketAction::Dispatch { .. } => "dispatch",
            TicketAction::Accept { .. } => "accept",
            TicketAction::Reject { .. } => "reject",
            TicketAction::Return { .. } => "return",
            TicketAction::Reassign { .. } => "reassign",
            TicketAction::Urge { .. } => "urge",
            TicketAction::Supervise { .. } => "supervise",
            TicketAction::Escalate { .. } => "escalate",
            TicketAction::CheckIn { .. } => "check_in",
            TicketAction::AttachEvidence { .. } => "attach_evidence",
            TicketAction::RecordTemperature { .. } => "record_temperature",
            TicketAction::RecordResult { .. } => "record_result",
            TicketAction::CollectSignature { .. } => "collect_signature",
            TicketAction::CompleteWork => "complete_work",
            TicketAction::ExtendDeadline { .. } => "extend_deadline",
            TicketAction::RecordCallback { .. } => "record_callback",
            TicketAction::ExemptCallback { .. } => "exempt_callback",
            TicketAction::CompleteNode { .. } => "complete_node",
            TicketAction::Close { .. } => "close",
            TicketAction::Void { .. } => "void",
            TicketAction::Cancel { .. } => "cancel",
            TicketAction::RecordDeadlineBreach { .. } => "record_deadline_breach",
            TicketAction::RemindCallback => "remind_callback",
        }
    }
}
