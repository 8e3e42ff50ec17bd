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
//! `*` marks operations the tenant's policy may gate behind an approval ([`GatedOperation`]).

use crate::approval::{ApprovalEvidence, ApprovalStatus, GatedOperation};
use crate::codec::{decode_tagged, encode_tagged, EncodedEvent};
use crate::organisation::UnitKind;
use crate::settings::TicketPolicy;
use crate::values::{
    is_sha256_hex, ApprovalId, CustomerId, GeoPoint, OrgPath, PhoneNumber, TenantId, TicketId, UnitCode, UserId,
};
use crate::{Decider, DecodeError, EventCodec};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeSet;

/// Marker type of the ticket decider.
pub struct Ticket;

/// A ticket type code: one of [`TicketType::BUILTIN`] or one a tenant defined.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TicketType(pub String);

impl TicketType {
    /// The types every tenant has; they cannot be removed (核心工单类型不可删除).
    pub const BUILTIN: [&'static str; 8] = [
        "repair",
        "complaint",
        "consultation",
        "suspend_resume",
        "temperature_check",
        "dunning",
        "supervision",
        "escalated_complaint",
    ];

    /// Whether this is a built-in type.
    pub fn is_builtin(&self) -> bool {
        Self::BUILTIN.contains(&self.0.as_str())
    }
}

/// How urgent a ticket is (紧急程度).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// 一般.
    Normal,
    /// 紧急.
    Urgent,
    /// 特急.
    Critical,
}

/// Where a ticket came from (来源).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A call to the hotline.
    Phone,
    /// WeChat.
    Wechat,
    /// The customer app.
    App,
    /// In person.
    WalkIn,
    /// The 12345 government platform.
    #[serde(rename = "gov_12345")]
    Gov12345,
    /// Raised internally (inspection, supervision).
    Internal,
}

/// The fixed nodes of every workflow, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoreNode {
    /// 受理.
    Accept,
    /// 派单.
    Dispatch,
    /// 处理.
    Process,
    /// 回访.
    Callback,
    /// 办结.
    Close,
}

impl CoreNode {
    /// All core nodes in order.
    pub const ALL: [CoreNode; 5] =
        [CoreNode::Accept, CoreNode::Dispatch, CoreNode::Process, CoreNode::Callback, CoreNode::Close];

    /// Wire code.
    pub fn code(self) -> &'static str {
        match self {
            CoreNode::Accept => "accept",
            CoreNode::Dispatch => "dispatch",
            CoreNode::Process => "process",
            CoreNode::Callback => "callback",
            CoreNode::Close => "close",
        }
    }
}

/// A node a subsidiary added after a core node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowNode {
    /// Code, unique in the tenant.
    pub code: String,
    /// zh-CN label.
    pub label_zh: String,
    /// The core node it follows; it must be completed before the next core node.
    pub after: CoreNode,
}

/// Where a ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    /// Registered, waiting for dispatch (待派单).
    Registered,
    /// Dispatched to a station, waiting for it to accept.
    Dispatched,
    /// The station accepted (and may have assigned a worker).
    Accepted,
    /// A worker checked in on site.
    OnSite,
    /// Field work done, waiting for the callback.
    Completed,
    /// Callback done or exempted, waiting for close.
    CallbackDone,
    /// The customer was dissatisfied: it must be dispatched again.
    ReworkRequired,
    /// The station rejected or returned it.
    Returned,
    /// 办结.
    Closed,
    /// 作废.
    Voided,
    /// 取消.
    Cancelled,
}

impl TicketStatus {
    /// Wire code.
    pub fn code(self) -> &'static str {
        match self {
            TicketStatus::Registered => "registered",
            TicketStatus::Dispatched => "dispatched",
            TicketStatus::Accepted => "accepted",
            TicketStatus::OnSite => "on_site",
            TicketStatus::Completed => "completed",
            TicketStatus::CallbackDone => "callback_done",
            TicketStatus::ReworkRequired => "rework_required",
            TicketStatus::Returned => "returned",
            TicketStatus::Closed => "closed",
            TicketStatus::Voided => "voided",
            TicketStatus::Cancelled => "cancelled",
        }
    }

    /// Whether nothing more can happen to the ticket.
    pub fn is_terminal(self) -> bool {
        matches!(self, TicketStatus::Closed | TicketStatus::Voided | TicketStatus::Cancelled)
    }

    /// The last core node the ticket has passed.
    fn reached(self) -> CoreNode {
        match self {
            TicketStatus::Registered | TicketStatus::Returned => CoreNode::Accept,
            TicketStatus::Dispatched | TicketStatus::Accepted | TicketStatus::OnSite => CoreNode::Dispatch,
            TicketStatus::Completed | TicketStatus::ReworkRequired => CoreNode::Process,
            TicketStatus::CallbackDone => CoreNode::Callback,
            TicketStatus::Closed | TicketStatus::Voided | TicketStatus::Cancelled => CoreNode::Close,
        }
    }
}

/// The customer's verdict (满意度).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Satisfaction {
    /// 满意.
    Satisfied,
    /// 基本满意.
    BasicallySatisfied,
    /// 不满意.
    Dissatisfied,
}

/// Kinds of field evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    /// 照片.
    Photo,
    /// 视频.
    Video,
    /// 录音.
    Audio,
}

/// A part used in a repair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// Catalogue code.
    pub code: String,
    /// Name.
    pub name: String,
    /// How many (at least 1).
    pub quantity: u32,
}

/// A unit as the command layer resolved it from the organisation stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitRef {
    /// Code.
    pub code: UnitCode,
    /// Kind.
    pub kind: UnitKind,
    /// Path from the group.
    pub path: OrgPath,
    /// The subsidiary it belongs to; `None` for the group and divisions.
    pub tenant: Option<TenantId>,
}

/// What an agent registers.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTicket {
    /// New id (made by the caller).
    pub ticket_id: TicketId,
    /// Human number allocated by [`crate::numbering`] (the command layer fills it in).
    pub ticket_no: String,
    /// Tenant.
    pub tenant: TenantId,
    /// Type code.
    pub ticket_type: TicketType,
    /// Urgency.
    pub urgency: Urgency,
    /// Source.
    pub source: Source,
    /// The customer, where known.
    pub customer_id: Option<CustomerId>,
    /// The caller's number, where known.
    pub caller_phone: Option<PhoneNumber>,
    /// Address of the premises.
    pub address: String,
    /// What the customer reported.
    pub description: String,
    /// A deadline set by hand instead of the policy's.
    pub deadline_override: Option<DateTime<Utc>>,
}

/// A ticket command: who, when, under which policy, and what.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketCommand {
    /// Who acts.
    pub actor: UserId,
    /// When, from the caller (device time for offline commands).
    pub at: DateTime<Utc>,
    /// The tenant's configuration.
    pub policy: TicketPolicy,
    /// What to do.
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
        /// The station.
        station: S,
        /// Note to the station.
        note: String,
        /// Approval, where redispatch is gated.
        approval: Option<P>,
    },
    /// The station accepts (确认), optionally assigning a worker.
    Accept {
        /// The accepting station.
        station: UnitCode,
        /// The worker assigned.
        worker: Option<UserId>,
    },
    /// The station declines a dispatch it has not accepted.
    Reject {
        /// Why.
        reason: String,
    },
    /// The station sends back an accepted ticket (退回).
    Return {
        /// Why.
        reason: String,
        /// Approval, where gated.
        approval: Option<P>,
    },
    /// Moves the ticket to another station or worker (改派).
    Reassign {
        /// New station.
        station: Option<S>,
        /// New worker.
        worker: Option<UserId>,
        /// Why.
        reason: String,
    },
    /// Urges the handler (催办).
    Urge {
        /// Note.
        note: String,
    },
    /// Puts the ticket under supervision (督办).
    Supervise {
        /// The supervising unit.
        unit: UnitCode,
        /// Instructions.
        note: String,
    },
    /// Escalates to the group (越级投诉).
    Escalate {
        /// Why.
        reason: String,
    },
    /// The worker checks in on site with GPS.
    CheckIn {
        /// Where.
        location: GeoPoint,
    },
    /// Attaches a photo, video or recording.
    AttachEvidence {
        /// Kind.
        kind: EvidenceKind,
        /// Where the blob is stored.
        uri: String,
        /// SHA-256 of the blob, lowercase hex.
        sha256: String,
        /// When it was taken.
        taken_at: DateTime<Utc>,
        /// Where it was taken.
        location: Option<GeoPoint>,
    },
    /// Records a room temperature (测温).
    RecordTemperature {
        /// Which room.
        room: String,
        /// °C.
        celsius: f64,
        /// When it was measured.
        taken_at: DateTime<Utc>,
    },
    /// Records the result (回填).
    RecordResult {
        /// What was done.
        result: String,
        /// Parts used.
        parts: Vec<Part>,
        /// Minutes of work.
        duration_minutes: u32,
    },
    /// The customer signs and rates on the worker's phone.
    CollectSignature {
        /// Where the signature image is stored.
        signature_uri: String,
        /// Its SHA-256.
        sha256: String,
        /// The customer's rating.
        satisfaction: Satisfaction,
    },
    /// Field work is done.
    CompleteWork,
    /// Moves the deadline later (延时).
    ExtendDeadline {
        /// New deadline.
        new_deadline: DateTime<Utc>,
        /// Why.
        reason: String,
        /// Approval, where gated.
        approval: Option<P>,
    },
    /// Records the callback (回访).
    RecordCallback {
        /// The customer's verdict.
        satisfaction: Satisfaction,
        /// Note.
        note: String,
    },
    /// Skips the callback (免回访).
    ExemptCallback {
        /// Why.
        reason: String,
        /// Approval, where gated.
        approval: Option<P>,
    },
    /// Completes a node the tenant added.
    CompleteNode {
        /// Node code.
        node: String,
        /// Note.
        note: String,
    },
    /// Closes (办结).
    Close {
        /// Note.
        note: String,
    },
    /// Voids (作废).
    Void {
        /// Why.
        reason: String,
        /// Approval, where gated.
        approval: Option<P>,
    },
    /// Cancels (取消).
    Cancel {
        /// Why.
        reason: String,
        /// Approval, where gated.
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

/// The registration fact, at schema version 2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketCreated {
    /// Id.
    pub ticket_id: TicketId,
    /// Human number.
    pub ticket_no: String,
    /// Tenant.
    pub tenant: TenantId,
    /// Type code.
    pub ticket_type: TicketType,
    /// Urgency (v1 had a boolean `urgent`).
    pub urgency: Urgency,
    /// Source (absent in v1, where every ticket came by phone).
    pub source: Source,
    /// Customer.
    pub customer_id: Option<CustomerId>,
    /// Caller's number, unmasked; the API masks it by role.
    pub caller_phone: Option<String>,
    /// Address.
    pub address: String,
    /// Description.
    pub description: String,
    /// Who registered it.
    pub created_by: UserId,
    /// The deadline in force.
    pub deadline_at: DateTime<Utc>,
    /// Hours the policy gave; `None` when set by hand.
    pub deadline_hours: Option<u32>,
    /// Nodes the tenant added, as configured at creation.
    pub extra_nodes: Vec<WorkflowNode>,
}

/// Facts of a ticket stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "payload")]
pub enum TicketEvent {
    /// Registered (受理).
    #[serde(rename = "TicketCreated")]
    Created(TicketCreated),
    /// Dispatched to a station.
    #[serde(rename = "TicketDispatched")]
    Dispatched {
        /// Station.
        station: UnitCode,
        /// Its path, for scoping.
        station_path: OrgPath,
        /// Who dispatched.
        by: UserId,
        /// Note.
        note: String,
        /// Whether this is a redispatch after a dissatisfied callback.
        redispatch: bool,
        /// The approval it took, if any.
        approval_id: Option<ApprovalId>,
    },
    /// The station accepted.
    #[serde(rename = "TicketAccepted")]
    Accepted {
        /// Station.
        station: UnitCode,
        /// Worker assigned.
        worker: Option<UserId>,
        /// Who accepted.
        by: UserId,
    },
    /// The station declined a dispatch.
    #[serde(rename = "TicketRejected")]
    Rejected {
        /// Station.
        station: UnitCode,
        /// Why.
        reason: String,
        /// Who.
        by: UserId,
    },
    /// The station sent an accepted ticket back.
    #[serde(rename = "TicketReturned")]
    Returned {
        /// Station.
        station: UnitCode,
        /// Why.
        reason: String,
        /// Who.
        by: UserId,
        /// Approval.
        approval_id: Option<ApprovalId>,
    },
    /// Moved to another station or worker.
    #[serde(rename = "TicketReassigned")]
    Reassigned {
        /// Old station.
        from_station: UnitCode,
        /// New station.
        to_station: UnitCode,
        /// New station's path.
        to_station_path: OrgPath,
        /// Old worker.
        from_worker: Option<UserId>,
        /// New worker.
        to_worker: Option<UserId>,
        /// Why.
        reason: String,
        /// Who.
        by: UserId,
    },
    /// Urged (催办).
    #[serde(rename = "TicketUrged")]
    Urged {
        /// Who.
        by: UserId,
        /// Note.
        note: String,
        /// How many times it has been urged, this one included.
        count: u32,
    },
    /// Put under supervision (督办).
    #[serde(rename = "TicketSupervised")]
    Supervised {
        /// Who.
        by: UserId,
        /// Supervising unit.
        unit: UnitCode,
        /// Instructions.
        note: String,
    },
    /// Escalated to the group (越级投诉).
    #[serde(rename = "TicketEscalated")]
    Escalated {
        /// Who.
        by: UserId,
        /// Why.
        reason: String,
    },
    /// A worker checked in on site.
    #[serde(rename = "WorkerCheckedIn")]
    CheckedIn {
        /// Worker.
        worker: UserId,
        /// Where.
        location: GeoPoint,
    },
    /// Evidence attached.
    #[serde(rename = "EvidenceAttached")]
    EvidenceAttached {
        /// Who.
        by: UserId,
        /// Kind.
        kind: EvidenceKind,
        /// Blob location.
        uri: String,
        /// Blob SHA-256.
        sha256: String,
        /// When taken.
        taken_at: DateTime<Utc>,
        /// Where taken.
        location: Option<GeoPoint>,
    },
    /// Temperature measured.
    #[serde(rename = "TemperatureRecorded")]
    TemperatureRecorded {
        /// Who.
        by: UserId,
        /// Room.
        room: String,
        /// °C.
        celsius: f64,
        /// When.
        taken_at: DateTime<Utc>,
    },
    /// Result recorded.
    #[serde(rename = "WorkResultRecorded")]
    WorkResultRecorded {
        /// Who.
        by: UserId,
        /// What was done.
        result: String,
        /// Parts.
        parts: Vec<Part>,
        /// Minutes.
        duration_minutes: u32,
    },
    /// The customer signed and rated.
    #[serde(rename = "CustomerSigned")]
    CustomerSigned {
        /// Worker holding the phone.
        by: UserId,
        /// Signature image location.
        signature_uri: String,
        /// Its SHA-256.
        sha256: String,
        /// Rating.
        satisfaction: Satisfaction,
    },
    /// Field work done.
    #[serde(rename = "WorkCompleted")]
    WorkCompleted {
        /// Who.
        by: UserId,
        /// Station that did it.
        station: UnitCode,
    },
    /// Deadline moved later.
    #[serde(rename = "TicketDeadlineExtended")]
    DeadlineExtended {
        /// Who.
        by: UserId,
        /// Old deadline.
        from: DateTime<Utc>,
        /// New deadline.
        to: DateTime<Utc>,
        /// Why.
        reason: String,
        /// Approval.
        approval_id: Option<ApprovalId>,
    },
    /// Callback done.
    #[serde(rename = "CallbackRecorded")]
    CallbackRecorded {
        /// Agent.
        by: UserId,
        /// Verdict.
        satisfaction: Satisfaction,
        /// Note.
        note: String,
    },
    /// Callback skipped.
    #[serde(rename = "CallbackExempted")]
    CallbackExempted {
        /// Who.
        by: UserId,
        /// Why.
        reason: String,
        /// Approval.
        approval_id: Option<ApprovalId>,
    },
    /// A tenant-added node completed.
    #[serde(rename = "WorkflowNodeCompleted")]
    WorkflowNodeCompleted {
        /// Who.
        by: UserId,
        /// Node code.
        node: String,
        /// Note.
        note: String,
    },
    /// Closed (办结).
    #[serde(rename = "TicketClosed")]
    Closed {
        /// Who.
        by: UserId,
        /// Note.
        note: String,
        /// Closed with no return, redispatch or reopen (一次解决).
        first_time_fix: bool,
        /// Whether the deadline had passed at close.
        overdue: bool,
    },
    /// Voided (作废).
    #[serde(rename = "TicketVoided")]
    Voided {
        /// Who.
        by: UserId,
        /// Why.
        reason: String,
        /// Approval.
        approval_id: Option<ApprovalId>,
    },
    /// The deadline passed with the ticket still open.
    #[serde(rename = "TicketDeadlineBreached")]
    DeadlineBreached {
        /// The deadline that passed.
        deadline_at: DateTime<Utc>,
        /// Who recorded it (the deadline watcher).
        by: UserId,
    },
    /// A completed ticket still waits for its callback (回访提醒).
    #[serde(rename = "CallbackReminderIssued")]
    CallbackReminderIssued {
        /// Who issued it (the callback timer).
        by: UserId,
    },
    /// Urgency raised (by the deadline watcher).
    #[serde(rename = "TicketUrgencyRaised")]
    UrgencyRaised {
        /// Old urgency.
        from: Urgency,
        /// New urgency.
        to: Urgency,
        /// Why.
        reason: String,
    },
    /// Cancelled (取消).
    #[serde(rename = "TicketCancelled")]
    Cancelled {
        /// Who.
        by: UserId,
        /// Why.
        reason: String,
        /// Approval.
        approval_id: Option<ApprovalId>,
    },
}

/// Current schema versions; absent types are at 1.
const TICKET_VERSIONS: &[(&str, u32)] = &[("TicketCreated", 2)];

/// Upcasts a ticket payload from `version` to `version + 1`.
///
/// `TicketCreated` v1 → v2: v1 had `"urgent": bool` and no `source` (only phone tickets existed);
/// v2 has `"urgency"` and `"source"`.
pub fn upcast_ticket(event_type: &str, version: u32, mut payload: Value) -> Option<Value> {
    match (event_type, version) {
        ("TicketCreated", 1) => {
            let map = payload.as_object_mut()?;
            let urgent = map.remove("urgent").and_then(|v| v.as_bool()).unwrap_or(false);
            map.insert("urgency".into(), Value::from(if urgent { "urgent" } else { "normal" }));
            map.entry("source").or_insert_with(|| Value::from("phone"));
            Some(payload)
        }
        _ => None,
    }
}

impl EventCodec for TicketEvent {
    fn encode(&self) -> EncodedEvent {
        encode_tagged(self, TICKET_VERSIONS)
    }

    fn decode(event_type: &str, schema_version: u32, payload: Value) -> Result<Self, DecodeError> {
        decode_tagged(event_type, schema_version, payload, TICKET_VERSIONS, upcast_ticket)
    }
}

/// What the decider knows of a ticket.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TicketState {
    /// `None` until created.
    pub status: Option<TicketStatus>,
    /// Id.
    pub ticket_id: Option<TicketId>,
    /// Human number.
    pub ticket_no: Option<String>,
    /// Tenant.
    pub tenant: Option<TenantId>,
    /// Deadline in force.
    pub deadline_at: Option<DateTime<Utc>>,
    /// Station handling it.
    pub station: Option<UnitCode>,
    /// That station's path.
    pub station_path: Option<OrgPath>,
    /// Worker assigned.
    pub worker: Option<UserId>,
    /// Nodes the tenant added.
    pub extra_nodes: Vec<WorkflowNode>,
    /// Added nodes completed.
    pub completed_nodes: BTreeSet<String>,
    /// A result was recorded in the current field visit.
    pub result_recorded: bool,
    /// Escalated to the group.
    pub escalated: bool,
    /// Under supervision.
    pub supervised: bool,
    /// Times urged.
    pub urge_count: u32,
    /// Returned, redispatched or reopened at least once: no first-time fix.
    pub reworked: bool,
    /// Approvals already used; each grants one operation once.
    pub used_approvals: BTreeSet<ApprovalId>,
    /// Urgency in force.
    pub urgency: Option<Urgency>,
    /// The last deadline recorded as breached.
    pub breached_deadline: Option<DateTime<Utc>>,
    /// A callback reminder was issued since the last completion.
    pub callback_reminded: bool,
}

/// Why a ticket command was refused. [`TicketError::rule`] names the rule for API clients.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
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
        /// The action tried.
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
        /// The dispatched station.
        expected: String,
        /// The one that tried.
        actual: String,
    },
    /// Another worker is assigned.
    #[error("assigned to {assigned}, not {actor}")]
    NotAssignedWorker {
        /// Assigned worker.
        assigned: String,
        /// Who tried.
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
    /// Escalated once already.
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
    /// Completed already.
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
    pub fn rule(&self) -> String {
        let debug = format!("{self:?}");
        debug.split(['(', ' ', '{']).next().unwrap_or_default().to_owned()
    }
}

impl Decider for Ticket {
    type State = TicketState;
    type Command = TicketCommand;
    type Event = TicketEvent;
    type Error = TicketError;
    const CATEGORY: &'static str = "ticket";

    fn decide(state: &TicketState, command: &TicketCommand) -> Result<Vec<TicketEvent>, TicketError> {
        let by = command.actor.clone();
        let status = match (state.status, &command.action) {
            (None, TicketAction::Create(new)) => return create(new, command),
            (Some(_), TicketAction::Create(_)) => return Err(TicketError::TicketAlreadyExists),
            (None, _) => return Err(TicketError::TicketNotFound),
            (Some(TicketStatus::Closed), _) => return Err(TicketError::TicketAlreadyClosed),
            (Some(TicketStatus::Voided), _) => return Err(TicketError::TicketAlreadyVoided),
            (Some(TicketStatus::Cancelled), _) => return Err(TicketError::TicketAlreadyCancelled),
            (Some(status), _) => status,
        };
        let invalid = |action: &'static str| TicketError::InvalidTransition { action, status: status.code() };
        use TicketStatus::*;
        match &command.action {
            TicketAction::Create(_) => unreachable!("handled above"),
            TicketAction::Dispatch { station, note, approval } => {
                if !matches!(status, Registered | Returned | ReworkRequired) {
                    return Err(invalid("dispatch"));
                }
                if station.kind != UnitKind::Station {
                    return Err(TicketError::NotAStation(station.code.0.clone()));
                }
                state.require_nodes_before(CoreNode::Dispatch)?;
                let redispatch = status == ReworkRequired;
                let approval_id = if redispatch {
                    state.check_approval(&command.policy, GatedOperation::Redispatch, approval)?
                } else {
                    None
                };
                Ok(vec![TicketEvent::Dispatched {
                    station: station.code.clone(),
                    station_path: station.path.clone(),
                    by,
                    note: note.clone(),
                    redispatch,
                    approval_id,
                }])
            }
            TicketAction::Accept { station, worker } => {
                if status != Dispatched {
                    return Err(invalid("accept"));
                }
                let expected = state.station.as_ref().expect("a dispatched ticket has a station");
                if expected != station {
                    return Err(TicketError::WrongStation { expected: expected.0.clone(), actual: station.0.clone() });
                }
                Ok(vec![TicketEvent::Accepted { station: station.clone(), worker: worker.clone(), by }])
            }
            TicketAction::Reject { reason } => {
                if status != Dispatched {
                    return Err(invalid("reject"));
                }
                require_text("reason", reason)?;
                Ok(vec![TicketEvent::Rejected { station: state.current_station(), reason: reason.clone(), by }])
            }
            TicketAction::Return { reason, approval } => {
                if !matches!(status, Accepted | OnSite) {
                    return Err(invalid("return"));
                }
                require_text("reason", reason)?;
                let approval_id = state.check_approval(&command.policy, GatedOperation::Return, approval)?;
                Ok(vec![TicketEvent::Returned {
                    station: state.current_station(),
                    reason: reason.clone(),
                    by,
                    approval_id,
                }])
            }
            TicketAction::Reassign { station, worker, reason } => {
                if !matches!(status, Dispatched | Accepted | OnSite) {
                    return Err(invalid("reassign"));
                }
                require_text("reason", reason)?;
                let from_station = state.current_station();
                let (to_station, to_station_path) = match station {
                    Some(unit) if unit.kind != UnitKind::Station => {
                        return Err(TicketError::NotAStation(unit.code.0.clone()))
                    }
                    Some(unit) => (unit.code.clone(), unit.path.clone()),
                    None => {
                        if worker.is_none() {
                            return Err(TicketError::NothingToReassign);
                        }
                        if status == Dispatched {
                            return Err(invalid("reassign the worker of"));
                        }
                        (
                            from_station.clone(),
                            state.station_path.clone().expect("a dispatched ticket has a station path"),
                        )
                    }
                };
                if to_station == from_station && worker.is_none() {
                    return Err(TicketError::NothingToReassign);
                }
                // Naming its own station must not let a dispatched ticket skip the station's accept.
                if to_station == from_station && status == Dispatched {
                    return Err(invalid("reassign the worker of"));
                }
                Ok(vec![TicketEvent::Reassigned {
                    from_station,
                    to_station,
                    to_station_path,
                    from_worker: state.worker.clone(),
                    to_worker: worker.clone(),
                    reason: reason.clone(),
                    by,
                }])
            }
            TicketAction::Urge { note } => {
                Ok(vec![TicketEvent::Urged { by, note: note.clone(), count: state.urge_count + 1 }])
            }
            TicketAction::Supervise { unit, note } => {
                require_text("note", note)?;
                Ok(vec![TicketEvent::Supervised { by, unit: unit.clone(), note: note.clone() }])
            }
            TicketAction::Escalate { reason } => {
                if state.escalated {
                    return Err(TicketError::AlreadyEscalated);
                }
                require_text("reason", reason)?;
                Ok(vec![TicketEvent::Escalated { by, reason: reason.clone() }])
            }
            TicketAction::CheckIn { location } => {
                if !matches!(status, Accepted | OnSite) {
                    return Err(invalid("check in on"));
                }
                state.require_assigned(&by)?;
                if !location.is_valid() {
                    return Err(TicketError::InvalidLocation);
                }
                state.require_nodes_before(CoreNode::Process)?;
                Ok(vec![TicketEvent::CheckedIn { worker: by, location: *location }])
            }
            TicketAction::AttachEvidence { kind, uri, sha256, taken_at, location } => {
                if status != OnSite {
                    return Err(invalid("attach evidence to"));
                }
                state.require_assigned(&by)?;
                require_text("uri", uri)?;
                if !is_sha256_hex(sha256) {
                    return Err(TicketError::InvalidDigest);
                }
                if location.is_some_and(|l| !l.is_valid()) {
                    return Err(TicketError::InvalidLocation);
                }
                Ok(vec![TicketEvent::EvidenceAttached {
                    by,
                    kind: *kind,
                    uri: uri.clone(),
                    sha256: sha256.clone(),
                    taken_at: *taken_at,
                    location: *location,
                }])
            }
            TicketAction::RecordTemperature { room, celsius, taken_at } => {
                if status != OnSite {
                    return Err(invalid("record a temperature on"));
                }
                state.require_assigned(&by)?;
                require_text("room", room)?;
                if !(-50.0..=100.0).contains(celsius) {
                    return Err(TicketError::TemperatureOutOfRange(*celsius));
                }
                Ok(vec![TicketEvent::TemperatureRecorded {
                    by,
                    room: room.clone(),
                    celsius: *celsius,
                    taken_at: *taken_at,
                }])
            }
            TicketAction::RecordResult { result, parts, duration_minutes } => {
                if status != OnSite {
                    return Err(invalid("record a result on"));
                }
                state.require_assigned(&by)?;
                require_text("result", result)?;
                if let Some(part) = parts.iter().find(|p| p.quantity == 0) {
                    return Err(TicketError::InvalidPartQuantity(part.code.clone()));
                }
                Ok(vec![TicketEvent::WorkResultRecorded {
                    by,
                    result: result.clone(),
                    parts: parts.clone(),
                    duration_minutes: *duration_minutes,
                }])
            }
            TicketAction::CollectSignature { signature_uri, sha256, satisfaction } => {
                if status != OnSite {
                    return Err(invalid("collect a signature on"));
                }
                state.require_assigned(&by)?;
                if !state.result_recorded {
                    return Err(TicketError::ResultMissing);
                }
                require_text("signature_uri", signature_uri)?;
                if !is_sha256_hex(sha256) {
                    return Err(TicketError::InvalidDigest);
                }
                Ok(vec![TicketEvent::CustomerSigned {
                    by,
                    signature_uri: signature_uri.clone(),
                    sha256: sha256.clone(),
                    satisfaction: *satisfaction,
                }])
            }
            TicketAction::CompleteWork => {
                if status != OnSite {
                    return Err(invalid("complete work on"));
                }
                state.require_assigned(&by)?;
                if !state.result_recorded {
                    return Err(TicketError::ResultMissing);
                }
                Ok(vec![TicketEvent::WorkCompleted { by, station: state.current_station() }])
            }
            TicketAction::ExtendDeadline { new_deadline, reason, approval } => {
                require_text("reason", reason)?;
                let from = state.deadline_at.expect("a created ticket has a deadline");
                if *new_deadline <= from {
                    return Err(TicketError::DeadlineNotLater);
                }
                if *new_deadline <= command.at {
                    return Err(TicketError::DeadlineNotInFuture);
                }
                let approval_id = state.check_approval(&command.policy, GatedOperation::Delay, approval)?;
                Ok(vec![TicketEvent::DeadlineExtended {
                    by,
                    from,
                    to: *new_deadline,
                    reason: reason.clone(),
                    approval_id,
                }])
            }
            TicketAction::RecordCallback { satisfaction, note } => {
                if status != Completed {
                    return Err(invalid("call back"));
                }
                state.require_nodes_before(CoreNode::Callback)?;
                Ok(vec![TicketEvent::CallbackRecorded { by, satisfaction: *satisfaction, note: note.clone() }])
            }
            TicketAction::ExemptCallback { reason, approval } => {
                if status != Completed {
                    return Err(invalid("exempt the callback of"));
                }
                require_text("reason", reason)?;
                state.require_nodes_before(CoreNode::Callback)?;
                let approval_id = state.check_approval(&command.policy, GatedOperation::CallbackExemption, approval)?;
                Ok(vec![TicketEvent::CallbackExempted { by, reason: reason.clone(), approval_id }])
            }
            TicketAction::CompleteNode { node, note } => {
                let found = state
                    .extra_nodes
                    .iter()
                    .find(|n| &n.code == node)
                    .ok_or_else(|| TicketError::UnknownWorkflowNode(node.clone()))?;
                if state.completed_nodes.contains(node) {
                    return Err(TicketError::WorkflowNodeAlreadyCompleted(node.clone()));
                }
                if status.reached() < found.after {
                    return Err(TicketError::WorkflowNodeNotReached(node.clone()));
                }
                Ok(vec![TicketEvent::WorkflowNodeCompleted { by, node: node.clone(), note: note.clone() }])
            }
            TicketAction::Close { note } => {
                if status != CallbackDone {
                    return Err(invalid("close"));
                }
                state.require_nodes_before(CoreNode::Close)?;
                let deadline = state.deadline_at.expect("a created ticket has a deadline");
                Ok(vec![TicketEvent::Closed {
                    by,
                    note: note.clone(),
                    first_time_fix: !state.reworked,
                    overdue: command.at > deadline,
                }])
            }
            TicketAction::Void { reason, approval } => {
                require_text("reason", reason)?;
                let approval_id = state.check_approval(&command.policy, GatedOperation::Void, approval)?;
                Ok(vec![TicketEvent::Voided { by, reason: reason.clone(), approval_id }])
            }
            TicketAction::Cancel { reason, approval } => {
                require_text("reason", reason)?;
                let approval_id = state.check_approval(&command.policy, GatedOperation::Cancel, approval)?;
                Ok(vec![TicketEvent::Cancelled { by, reason: reason.clone(), approval_id }])
            }
            TicketAction::RemindCallback => {
                if status != Completed {
                    return Err(invalid("remind the callback of"));
                }
                if state.callback_reminded {
                    return Err(TicketError::CallbackReminderAlreadyIssued);
                }
                Ok(vec![TicketEvent::CallbackReminderIssued { by }])
            }
            TicketAction::RecordDeadlineBreach { deadline_at } => {
                let deadline = state.deadline_at.expect("a created ticket has a deadline");
                if *deadline_at != deadline || command.at < deadline {
                    return Err(TicketError::DeadlineNotPassed);
                }
                if state.breached_deadline == Some(deadline) {
                    return Err(TicketError::BreachAlreadyRecorded);
                }
                let mut events = vec![TicketEvent::DeadlineBreached { deadline_at: deadline, by: by.clone() }];
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
                        by, unit: UnitCode(tenant.0), note: "超时自动督办".into()
                    });
                }
                Ok(events)
            }
        }
    }

    fn evolve(mut state: TicketState, event: &TicketEvent) -> TicketState {
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
}

fn create(new: &NewTicket, command: &TicketCommand) -> Result<Vec<TicketEvent>, TicketError> {
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

fn require_text(field: &'static str, value: &str) -> Result<(), TicketError> {
    if value.trim().is_empty() {
        Err(TicketError::Required(field))
    } else {
        Ok(())
    }
}

impl TicketState {
    /// Work starts over (return, dissatisfied callback): nodes from dispatch on must be done again.
    fn restart_work(&mut self) {
        let redo: Vec<String> =
            self.extra_nodes.iter().filter(|n| n.after >= CoreNode::Dispatch).map(|n| n.code.clone()).collect();
        self.completed_nodes.retain(|code| !redo.contains(code));
    }

    fn current_station(&self) -> UnitCode {
        self.station.clone().expect("a dispatched ticket has a station")
    }

    fn require_assigned(&self, actor: &UserId) -> Result<(), TicketError> {
        match &self.worker {
            Some(worker) if worker != actor => {
                Err(TicketError::NotAssignedWorker { assigned: worker.0.clone(), actor: actor.0.clone() })
            }
            _ => Ok(()),
        }
    }

    /// Every added node placed before `core` must be complete.
    fn require_nodes_before(&self, core: CoreNode) -> Result<(), TicketError> {
        match self.extra_nodes.iter().find(|n| n.after < core && !self.completed_nodes.contains(&n.code)) {
            Some(pending) => Err(TicketError::WorkflowNodePending(pending.code.clone())),
            None => Ok(()),
        }
    }

    /// Checks the approval of a gated operation; returns the approval id to record.
    fn check_approval(
        &self,
        policy: &TicketPolicy,
        operation: GatedOperation,
        approval: &Option<ApprovalEvidence>,
    ) -> Result<Option<ApprovalId>, TicketError> {
        let Some(evidence) = approval else {
            return if policy.is_gated(operation) { Err(TicketError::ApprovalRequired(operation)) } else { Ok(None) };
        };
        if Some(evidence.ticket_id) != self.ticket_id || evidence.operation != operation {
            return Err(TicketError::ApprovalMismatch(evidence.approval_id));
        }
        if evidence.status != ApprovalStatus::Granted {
            return Err(TicketError::ApprovalNotGranted(evidence.approval_id));
        }
        if self.used_approvals.contains(&evidence.approval_id) {
            return Err(TicketError::ApprovalAlreadyUsed(evidence.approval_id));
        }
        Ok(Some(evidence.approval_id))
    }
}

#[cfg(test)]
mod tests;
