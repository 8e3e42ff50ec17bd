//! Facts of a ticket stream ([`TicketEvent`]), their wire identity (explicit `event_type` names,
//! schema versions) and the upcaster of old versions ([`upcast_ticket`]).

use crate::codec::{decode_tagged, encode_tagged, DecodeError, EncodedEvent, EventCodec};
use crate::ticket::vocabulary::{EvidenceKind, Part, Satisfaction, Source, TicketType, Urgency, WorkflowNode};
use crate::values::{ApprovalId, CustomerId, GeoPoint, OrgPath, TenantId, TicketId, UnitCode, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The registration fact, at schema version 2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketCreated {
    /// The ticket's id, made by the caller; the stream is `ticket-<ticket_id>`.
    pub ticket_id: TicketId,
    /// The human number users quote (`<tenant>-<year>-<nnnnnn>`), unique per tenant and year.
    pub ticket_no: String,
    /// The subsidiary that owns the ticket; its scope decides who sees it.
    pub tenant: TenantId,
    /// A built-in type code or one the tenant defined.
    pub ticket_type: TicketType,
    /// Urgency (v1 had a boolean `urgent`).
    pub urgency: Urgency,
    /// Source (absent in v1, where every ticket came by phone).
    pub source: Source,
    /// The customer the agent identified; `None` when the caller is not a known customer.
    pub customer_id: Option<CustomerId>,
    /// Caller's number, unmasked; the API masks it by role.
    pub caller_phone: Option<String>,
    /// Address of the premises the work is for, as the agent took it down (never blank).
    pub address: String,
    /// What the customer reported, in their words as the agent noted them (never blank).
    pub description: String,
    /// The agent who registered it.
    pub created_by: UserId,
    /// The deadline in force at creation: registration time plus `deadline_hours`, or the hand-set
    /// one.
    pub deadline_at: DateTime<Utc>,
    /// Hours the tenant's policy gave the type, urgency and source; `None` when the deadline was
    /// set by hand.
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
        /// The station it was dispatched to, which must now accept it.
        station: UnitCode,
        /// That station's path from the group, so read models can scope the ticket.
        station_path: OrgPath,
        /// The user who dispatched it (the command's actor).
        by: UserId,
        /// Instructions to the station; may be empty.
        note: String,
        /// Whether this is a redispatch after a dissatisfied callback.
        redispatch: bool,
        /// The approval a redispatch used; `None` for a first dispatch or an ungated redispatch.
        approval_id: Option<ApprovalId>,
    },
    /// The station accepted.
    #[serde(rename = "TicketAccepted")]
    Accepted {
        /// The station that accepted, the one it was dispatched to.
        station: UnitCode,
        /// The worker the station assigned; `None` leaves it to any worker of the station.
        worker: Option<UserId>,
        /// The user who accepted for the station (the command's actor).
        by: UserId,
    },
    /// The station declined a dispatch.
    #[serde(rename = "TicketRejected")]
    Rejected {
        /// The station that declined the dispatch.
        station: UnitCode,
        /// Why the station declined, as given (never blank).
        reason: String,
        /// The user who declined for the station (the command's actor).
        by: UserId,
    },
    /// The station sent an accepted ticket back.
    #[serde(rename = "TicketReturned")]
    Returned {
        /// The station that sent it back.
        station: UnitCode,
        /// Why it was sent back, as given (never blank).
        reason: String,
        /// The user who returned it (the command's actor).
        by: UserId,
        /// The approval the return used; `None` when the tenant's policy does not gate returns.
        approval_id: Option<ApprovalId>,
    },
    /// Moved to another station or worker.
    #[serde(rename = "TicketReassigned")]
    Reassigned {
        /// The station in charge before.
        from_station: UnitCode,
        /// The station in charge now; the same as `from_station` when only the worker changed.
        to_station: UnitCode,
        /// The new station's path from the group, for scoping.
        to_station_path: OrgPath,
        /// The worker assigned before; `None` if none was.
        from_worker: Option<UserId>,
        /// The worker assigned now; `None` leaves it to any worker of the new station.
        to_worker: Option<UserId>,
        /// Why it was moved, as given (never blank).
        reason: String,
        /// The user who moved it (the command's actor).
        by: UserId,
    },
    /// Urged (催办).
    #[serde(rename = "TicketUrged")]
    Urged {
        /// The user who urged the handler (the command's actor).
        by: UserId,
        /// What the urging said; may be empty.
        note: String,
        /// How many times it has been urged, this one included.
        count: u32,
    },
    /// Put under supervision (督办).
    #[serde(rename = "TicketSupervised")]
    Supervised {
        /// The user who put it under supervision, or the deadline watcher when a breach did.
        by: UserId,
        /// The unit supervising it; the tenant itself after a deadline breach.
        unit: UnitCode,
        /// Instructions to the handler (never blank); `超时自动督办` after a breach.
        note: String,
    },
    /// Escalated to the group (越级投诉).
    #[serde(rename = "TicketEscalated")]
    Escalated {
        /// The user who escalated it (the command's actor).
        by: UserId,
        /// Why the customer went over the subsidiary's head, as given (never blank).
        reason: String,
    },
    /// A worker checked in on site.
    #[serde(rename = "WorkerCheckedIn")]
    CheckedIn {
        /// The worker who checked in; becomes the assigned worker.
        worker: UserId,
        /// Where the worker's phone placed them on checking in (WGS 84, with accuracy).
        location: GeoPoint,
    },
    /// A photo, video or recording was attached on site.
    #[serde(rename = "EvidenceAttached")]
    EvidenceAttached {
        /// The worker who attached it.
        by: UserId,
        /// Photo, video or recording.
        kind: EvidenceKind,
        /// Where the blob is stored; the log keeps only this and the digest.
        uri: String,
        /// SHA-256 of the blob, lowercase hex, so the blob can be proved unchanged.
        sha256: String,
        /// When the worker's device captured it (may precede the upload by hours when offline).
        taken_at: DateTime<Utc>,
        /// Where it was captured; `None` when the device had no fix.
        location: Option<GeoPoint>,
    },
    /// A room temperature was measured on site (测温).
    #[serde(rename = "TemperatureRecorded")]
    TemperatureRecorded {
        /// The worker who measured.
        by: UserId,
        /// Which room, as the worker named it (never blank).
        room: String,
        /// The reading in °C, between -50 and 100.
        celsius: f64,
        /// When the worker's device took the reading.
        taken_at: DateTime<Utc>,
    },
    /// The worker recorded what was done (回填).
    #[serde(rename = "WorkResultRecorded")]
    WorkResultRecorded {
        /// The worker who recorded it.
        by: UserId,
        /// What was done, as the worker wrote it (never blank).
        result: String,
        /// Parts used, each at least once; may be empty.
        parts: Vec<Part>,
        /// Minutes of work the worker reported.
        duration_minutes: u32,
    },
    /// The customer signed and rated.
    #[serde(rename = "CustomerSigned")]
    CustomerSigned {
        /// The worker holding the phone the customer signed on.
        by: UserId,
        /// Where the signature image is stored.
        signature_uri: String,
        /// SHA-256 of the signature image, lowercase hex.
        sha256: String,
        /// The customer's rating of the work, given with the signature (not the callback's).
        satisfaction: Satisfaction,
    },
    /// Field work done.
    #[serde(rename = "WorkCompleted")]
    WorkCompleted {
        /// The worker who completed it.
        by: UserId,
        /// The station that did the work, for station KPIs.
        station: UnitCode,
    },
    /// Deadline moved later.
    #[serde(rename = "TicketDeadlineExtended")]
    DeadlineExtended {
        /// The user who extended it (the command's actor).
        by: UserId,
        /// The deadline before the extension.
        from: DateTime<Utc>,
        /// The new deadline, later than `from` and than the extension itself.
        to: DateTime<Utc>,
        /// Why more time is needed, as given (never blank).
        reason: String,
        /// The approval the delay used; `None` when the tenant's policy does not gate delays.
        approval_id: Option<ApprovalId>,
    },
    /// The customer was called back (回访).
    #[serde(rename = "CallbackRecorded")]
    CallbackRecorded {
        /// The agent who called the customer back.
        by: UserId,
        /// The customer's verdict; `dissatisfied` sends the ticket back to rework.
        satisfaction: Satisfaction,
        /// What the customer said; may be empty.
        note: String,
    },
    /// The callback was skipped (免回访).
    #[serde(rename = "CallbackExempted")]
    CallbackExempted {
        /// The user who exempted the callback (the command's actor).
        by: UserId,
        /// Why no callback is needed, as given (never blank).
        reason: String,
        /// The approval the exemption used; `None` when the tenant's policy does not gate it.
        approval_id: Option<ApprovalId>,
    },
    /// A tenant-added node completed.
    #[serde(rename = "WorkflowNodeCompleted")]
    WorkflowNodeCompleted {
        /// The user who completed the node (the command's actor).
        by: UserId,
        /// The code of the tenant-added node.
        node: String,
        /// What was done at the node; may be empty.
        note: String,
    },
    /// Closed (办结).
    #[serde(rename = "TicketClosed")]
    Closed {
        /// The user who closed it (the command's actor).
        by: UserId,
        /// Closing remarks; may be empty.
        note: String,
        /// Closed with no return, redispatch or reopen (一次解决).
        first_time_fix: bool,
        /// Whether the deadline had passed at close.
        overdue: bool,
    },
    /// Voided (作废).
    #[serde(rename = "TicketVoided")]
    Voided {
        /// The user who voided it (the command's actor).
        by: UserId,
        /// Why it was voided, as given (never blank).
        reason: String,
        /// The approval the void used; `None` when the tenant's policy does not gate voids.
        approval_id: Option<ApprovalId>,
    },
    /// The deadline passed with the ticket still open.
    #[serde(rename = "TicketDeadlineBreached")]
    DeadlineBreached {
        /// The deadline that passed with the ticket still open.
        deadline_at: DateTime<Utc>,
        /// The deadline watcher (`system:ticket-timers`).
        by: UserId,
    },
    /// A completed ticket still waits for its callback (回访提醒).
    #[serde(rename = "CallbackReminderIssued")]
    CallbackReminderIssued {
        /// The callback timer (`system:ticket-timers`).
        by: UserId,
    },
    /// Urgency raised (by the deadline watcher).
    #[serde(rename = "TicketUrgencyRaised")]
    UrgencyRaised {
        /// The urgency before.
        from: Urgency,
        /// The urgency after, one step higher.
        to: Urgency,
        /// Why it was raised: `超时未办结` (still open past the deadline).
        reason: String,
    },
    /// Cancelled (取消).
    #[serde(rename = "TicketCancelled")]
    Cancelled {
        /// The user who cancelled it (the command's actor).
        by: UserId,
        /// Why it was cancelled, as given (never blank).
        reason: String,
        /// The approval the cancellation used; `None` when the tenant's policy does not gate it.
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

    fn decode_text(event_type: &str, schema_version: u32, payload: &str) -> Result<Self, DecodeError> {
        crate::codec::decode_tagged_text(event_type, schema_version, payload, TICKET_VERSIONS, upcast_ticket)
    }
}
