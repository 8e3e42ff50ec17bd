//! One inbound call, from the INVITE to the survey. Stream `call-<key>`, where the key is
//! [`CallKey::of`] the tenant and the call's correlation id (or its SIP Call-ID), so every leg of a
//! call across a B2BUA and every retransmission lands on the same stream.
//!
//! Most commands are observations the SIP adapter makes (offer, queue, ring, answer, hold,
//! resume, transfer, end, abandon, reject, time-out); voicemail, recordings and surveys come from
//! the media side and from processes. Every command carries `at`, the capture time of what was
//! observed; the decider computes the durations from those times and the events record them, so
//! no read model re-derives a wait, a talk time or a service-level verdict.
//!
//! ```text
//! status          what moves it (→ new status)
//! offered         queue (→ queued) · ring (→ ringing) · answer (→ talking)
//! queued          ring · answer
//! ringing         ring at another phone · answer · queue again when the seat rang unanswered
//!   (waiting)     abandon or the caller's end (→ abandoned) · reject · time out · voicemail
//!                 · completed elsewhere (→ completed_elsewhere)
//! talking         hold · resume · transfer (→ transferring) · end by either party (→ ended)
//!                 · end not observed (→ end_unobserved)
//! transferring    ring at the target · the target's answer (→ talking) · resume · end
//! timed_out       voicemail (→ voicemail)
//! ended           survey answered
//! any once offered: recording available
//! ```
//!
//! # Decisions
//! - **A call the adapter never saw offered** refuses every command but `Offer`
//!   ([`CallError::CallNotOffered`]). Every SIP response carries the From, To and Call-ID an offer
//!   needs, so an adapter that missed the INVITE first submits an `Offer` rebuilt from the first
//!   message it did see, timed at that message; the wait is then measured from there.
//! - **Re-observation is no event:** an `Offer` of an existing call (a retransmission or another
//!   leg), `Queue` of a queued call, `Ring` at the extension already ringing, `Answer` at the
//!   extension already talking, `Hold` of a held call and a recording already announced decide
//!   nothing. A `Resume` without a hold is refused ([`CallError::CallNotOnHold`]).
//! - **Blacklisted callers** are rejected at the offer: `Offer` with `blacklisted` records
//!   [`CallEvent::Offered`] and [`CallEvent::Rejected`] with status [`BLACKLIST_REJECT_STATUS`].
//! - **Hang-up before answer:** `End { by: Caller }` before an answer is an abandon; the callee
//!   cannot end an unanswered call ([`CallError::CallNotAnswered`]).
//! - **Completed elsewhere:** a waiting call the caller's side cancelled because another leg took
//!   it (SIP `Reason: SIP;cause=200`, "Call completed elsewhere") ends as
//!   [`CallEvent::CompletedElsewhere`]: not an abandon, and counted by the KPIs as connected (接通);
//!   it records the wait until the cancel, and no answer, since none was observed here. On an answered call it is a
//!   re-observation (another leg's CANCEL) and decides nothing.
//! - **End not observed:** an answered call whose hang-up was never seen (a lost BYE) is ended by
//!   the adapter after its idle time-out with `EndUnobserved { last_seen }`: the call was
//!   answered, talked at least until the last message seen, and its end is unknown.
//!   [`CallEvent::EndUnobserved`] records the talk time known (answer → last seen, minus hold);
//!   the KPIs count such calls apart (`ends_unobserved`) and leave them out of handled calls and
//!   AHT, whose durations they would understate.
//! - **Time-out** ends a call that waited too long (queue maximum); a seat that rings unanswered is
//!   `Queue`d again instead. After a time-out the caller may still leave a voicemail.
//! - **Transfer:** the call is `transferring` until the target answers; that answer is recorded with
//!   `transferred: true` and its own wait since the transfer, so answer-rate and ASA count only the
//!   first answer. If the caller was on hold, the target's answer ends the hold first.
//! - **Durations** are whole seconds, never negative: a time earlier than the one it is measured
//!   from counts as zero (out-of-order capture times). Hold time accumulates over every
//!   hold/resume; talk time = end − answer − hold.
//! - **Finished** calls (ended, end not observed, abandoned, completed elsewhere, rejected, timed
//!   out, voicemail) refuse further
//!   observations ([`CallError::CallAlreadyFinished`]) but still take recordings and, once ended,
//!   one survey.

use crate::codec::{decode_tagged, encode_tagged, no_upcasters, EncodedEvent};
use crate::telephony::{CallRouting, Extension, QueueId, SeatId};
use crate::text::{Text, CODE, PHONE_NUMBER, SIP_TOKEN, URI};
use crate::values::{PhoneNumber, TenantId, UserId};
use crate::{Decider, DecodeError, EventCodec};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// Marker type of the call decider.
pub struct Call;

/// The SIP status a blacklisted caller is refused with: 603 Decline.
pub const BLACKLIST_REJECT_STATUS: u16 = 603;

/// Namespace of [`CallKey`]s (a fixed random UUID; changing it would split every call's stream).
const CALL_KEY_NAMESPACE: Uuid = Uuid::from_u128(0x5f0c_2f4e_8f7a_4d2b_9a31_7c6e_0d41_b2a9);

/// The id part of a call's stream name, `call-<key>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallKey(pub Uuid);

impl CallKey {
    /// The key of a call: a name-based (v5) UUID of the tenant and the correlation id, or the SIP
    /// Call-ID when legs are not correlated. Deterministic, so every observer of the call — each
    /// leg, each retransmission, each node — names the same stream; it is derived, not made.
    pub fn of(tenant: &TenantId, call_id: &str, correlation: Option<&str>) -> CallKey {
        let name = format!("{}\n{}", tenant.0, correlation.unwrap_or(call_id));
        CallKey(Uuid::new_v5(&CALL_KEY_NAMESPACE, name.as_bytes()))
    }
}

impl fmt::Display for CallKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Who did something on a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    /// 主叫: the customer who called.
    Caller,
    /// 被叫: the agent's side.
    Callee,
}

impl Party {
    /// Wire code, as in the dictionary.
    pub fn code(self) -> &'static str {
        match self {
            Party::Caller => "caller",
            Party::Callee => "callee",
        }
    }
}

/// Where a call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    /// Seen, not yet queued or ringing.
    Offered,
    /// Waiting in a queue.
    Queued,
    /// Ringing at a seat.
    Ringing,
    /// Answered; on hold or not.
    Talking,
    /// Handed to another target that has not answered yet.
    Transferring,
    /// Hung up after an answer.
    Ended,
    /// Answered, and its end was never observed (the hang-up was lost).
    EndUnobserved,
    /// The caller hung up before an answer.
    Abandoned,
    /// Cancelled because another leg answered it (SIP "Call completed elsewhere").
    CompletedElsewhere,
    /// Refused (by status or the blacklist).
    Rejected,
    /// Waited too long.
    TimedOut,
    /// The caller left a voicemail instead of talking.
    Voicemail,
}

impl CallStatus {
    /// Every status.
    pub const ALL: [CallStatus; 12] = [
        CallStatus::Offered,
        CallStatus::Queued,
        CallStatus::Ringing,
        CallStatus::Talking,
        CallStatus::Transferring,
        CallStatus::Ended,
        CallStatus::EndUnobserved,
        CallStatus::Abandoned,
        CallStatus::CompletedElsewhere,
        CallStatus::Rejected,
        CallStatus::TimedOut,
        CallStatus::Voicemail,
    ];

    /// Wire code, as in the dictionary (`call_status`).
    pub fn code(self) -> &'static str {
        match self {
            CallStatus::Offered => "offered",
            CallStatus::Queued => "queued",
            CallStatus::Ringing => "ringing",
            CallStatus::Talking => "talking",
            CallStatus::Transferring => "transferring",
            CallStatus::Ended => "ended",
            CallStatus::EndUnobserved => "end_unobserved",
            CallStatus::Abandoned => "abandoned",
            CallStatus::CompletedElsewhere => "completed_elsewhere",
            CallStatus::Rejected => "rejected",
            CallStatus::TimedOut => "timed_out",
            CallStatus::Voicemail => "voicemail",
        }
    }

    /// Whether the call is over (only recordings and a survey may follow).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            CallStatus::Ended
                | CallStatus::EndUnobserved
                | CallStatus::Abandoned
                | CallStatus::CompletedElsewhere
                | CallStatus::Rejected
                | CallStatus::TimedOut
                | CallStatus::Voicemail
        )
    }

    /// Whether the call waits for its first answer.
    fn is_waiting(self) -> bool {
        matches!(self, CallStatus::Offered | CallStatus::Queued | CallStatus::Ringing)
    }
}

/// A new call as the adapter saw its INVITE, with the routing the command layer looked up in the
/// tenant's [`crate::telephony::TelephonyConfig::route`].
#[derive(Debug, Clone, PartialEq)]
pub struct OfferCall {
    /// The SIP Call-ID of the first leg seen.
    pub call_id: String,
    /// The tenant whose number was dialled.
    pub tenant: TenantId,
    /// Who calls.
    pub caller: PhoneNumber,
    /// The number dialled.
    pub dialled: PhoneNumber,
    /// The correlation header's value (e.g. `X-CID`) that ties the legs together.
    pub correlation: Option<String>,
    /// Queue, thresholds and blacklist verdict at the time of the offer.
    pub routing: CallRouting,
}

/// A command on a call: what was observed or asked, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct CallCommand {
    /// When it happened (capture time of the SIP message, or the caller's clock).
    pub at: DateTime<Utc>,
    /// What happened.
    pub action: CallAction,
}

/// What a call command does.
#[derive(Debug, Clone, PartialEq)]
pub enum CallAction {
    /// A call came in (INVITE).
    Offer(OfferCall),
    /// The call waits in its queue.
    Queue,
    /// A seat's phone rings (180).
    Ring {
        /// The ringing phone.
        extension: Extension,
        /// Its seat, from the telephony configuration.
        seat: Option<SeatId>,
        /// The agent signed in at that seat.
        agent: Option<UserId>,
    },
    /// A phone answered (200 OK).
    Answer {
        /// The answering phone.
        extension: Extension,
        /// Its seat.
        seat: Option<SeatId>,
        /// The agent signed in at that seat.
        agent: Option<UserId>,
    },
    /// The call was put on hold (re-INVITE sendonly).
    Hold {
        /// Who held.
        by: Party,
    },
    /// The call was taken off hold.
    Resume {
        /// Who resumed.
        by: Party,
    },
    /// The agent handed the call on (REFER).
    Transfer {
        /// An extension, queue or outside number.
        target: String,
    },
    /// A party hung up (BYE).
    End {
        /// Who hung up.
        by: Party,
    },
    /// The caller gave up before an answer (CANCEL).
    Abandon,
    /// The caller's side cancelled because another leg answered (CANCEL with
    /// `Reason: SIP;cause=200`).
    CompleteElsewhere,
    /// An answered call went silent past the adapter's idle time-out: its hang-up was not observed.
    EndUnobserved {
        /// The capture time of the last message seen of the call.
        last_seen: DateTime<Utc>,
    },
    /// The call was refused with a final SIP status (4xx–6xx).
    Reject {
        /// The SIP status.
        status: u16,
    },
    /// The call waited longer than the queue allows.
    TimeOut,
    /// The caller left a voicemail.
    LeaveVoicemail {
        /// Where the recording is kept.
        recording: String,
    },
    /// The call's recording can be fetched.
    RecordingAvailable {
        /// Where the recording can be fetched (the recording daemon's file or URL).
        uri: String,
    },
    /// The caller answered the post-call survey.
    AnswerSurvey {
        /// 满意 or not.
        satisfied: bool,
        /// 1 to 5, when the survey asks for a score.
        score: Option<u8>,
    },
}

/// Facts of a call stream. Each carries the tenant and the instant, and the facts its read models
/// need (queue, seat, agent, computed durations and verdicts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "payload")]
pub enum CallEvent {
    /// A call came in.
    #[serde(rename = "CallOffered")]
    Offered {
        /// SIP Call-ID.
        call_id: String,
        /// The subsidiary the call was routed to: the data-isolation unit.
        tenant: TenantId,
        /// Caller number (mask it for display).
        caller: String,
        /// Dialled number.
        dialled: String,
        /// Correlation id of the legs.
        correlation: Option<String>,
        /// The queue it was routed to.
        queue: Option<QueueId>,
        /// T of the service level it is judged by.
        service_level_seconds: u32,
        /// Short-abandon threshold it is judged by.
        short_abandon_seconds: u32,
        /// Whether the caller is blacklisted.
        blacklisted: bool,
        /// When it happened: the SIP capture time (UTC).
        at: DateTime<Utc>,
    },
    /// The call waits in its queue.
    #[serde(rename = "CallQueued")]
    Queued {
        /// The subsidiary the call was routed to: the data-isolation unit.
        tenant: TenantId,
        /// The queue the dialled number routes to; `None` when no route matched.
        queue: Option<QueueId>,
        /// When it happened: the SIP capture time (UTC).
        at: DateTime<Utc>,
    },
    /// A phone rings.
    #[serde(rename = "CallRinging")]
    Ringing {
        /// The subsidiary the call was routed to: the data-isolation unit.
        tenant: TenantId,
        /// The queue the dialled number routes to; `None` when no route matched.
        queue: Option<QueueId>,
        /// The extension of the phone involved.
        extension: Extension,
        /// The seat that phone is bound to; `None` for a phone bound to no seat.
        seat: Option<SeatId>,
        /// The agent signed in at that seat when it happened, if any.
        agent: Option<UserId>,
        /// When it happened: the SIP capture time (UTC).
        at: DateTime<Utc>,
    },
    /// A phone answered.
    #[serde(rename = "CallAnswered")]
    Answered {
        /// The subsidiary the call was routed to: the data-isolation unit.
        tenant: TenantId,
        /// The queue the dialled number routes to; `None` when no route matched.
        queue: Option<QueueId>,
        /// The extension of the phone involved.
        extension: Extension,
        /// The seat that phone is bound to; `None` for a phone bound to no seat.
        seat: Option<SeatId>,
        /// The agent signed in at that seat when it happened, if any.
        agent: Option<UserId>,
        /// Seconds waited: since the offer, or since the transfer for a transferred call.
        wait_seconds: i64,
        /// T it was judged by.
        service_level_seconds: u32,
        /// Whether `wait_seconds <= service_level_seconds`.
        within_service_level: bool,
        /// Whether this is a transfer target's answer (not counted as a new answered call).
        transferred: bool,
        /// When it happened: the SIP capture time (UTC).
        at: DateTime<Utc>,
    },
    /// The call was put on hold.
    #[serde(rename = "CallHeld")]
    Held {
        /// The subsidiary the call was routed to: the data-isolation unit.
        tenant: TenantId,
        /// The party that put the call on hold or took it off hold.
        by: Party,
        /// When it happened: the SIP capture time (UTC).
        at: DateTime<Utc>,
    },
    /// The call was taken off hold.
    #[serde(rename = "CallResumed")]
    Resumed {
        /// The subsidiary the call was routed to: the data-isolation unit.
        tenant: TenantId,
        /// The party that put the call on hold or took it off hold.
        by: Party,
        /// Seconds this hold lasted.
        hold_seconds: i64,
        /// When it happened: the SIP capture time (UTC).
        at: DateTime<Utc>,
    },
    /// The call was handed on.
    #[serde(rename = "CallTransferred")]
    Transferred {
        /// The subsidiary the call was routed to: the data-isolation unit.
        tenant: TenantId,
        /// The queue the dialled number routes to; `None` when no route matched.
        queue: Option<QueueId>,
        /// Phone that handed it on.
        from_extension: Option<Extension>,
        /// Its seat.
        from_seat: Option<SeatId>,
        /// Its agent.
        from_agent: Option<UserId>,
        /// Where to.
        target: String,
        /// When it happened: the SIP capture time (UTC).
        at: DateTime<Utc>,
    },
    /// An answered call was hung up.
    #[serde(rename = "CallEnded")]
    Ended {
        /// The subsidiary the call was routed to: the data-isolation unit.
        tenant: TenantId,
        /// The queue the dialled number routes to; `None` when no route matched.
        queue: Option<QueueId>,
        /// Last phone on the call.
        extension: Option<Extension>,
        /// Its seat.
        seat: Option<SeatId>,
        /// Its agent.
        agent: Option<UserId>,
        /// Who hung up.
        by: Party,
        /// When it was first answered.
        answered_at: DateTime<Utc>,
        /// Seconds waited before the first answer.
        wait_seconds: i64,
        /// end − answer − hold.
        talk_seconds: i64,
        /// Seconds on hold, over every hold.
        hold_seconds: i64,
        /// When it happened: the SIP capture time (UTC).
        at: DateTime<Utc>,
    },
    /// An answered call whose hang-up was never observed, ended by the adapter's idle time-out.
    #[serde(rename = "CallEndUnobserved")]
    EndUnobserved {
        /// The subsidiary the call was routed to: the data-isolation unit.
        tenant: TenantId,
        /// The queue the dialled number routes to; `None` when no route matched.
        queue: Option<QueueId>,
        /// Last phone on the call.
        extension: Option<Extension>,
        /// Its seat.
        seat: Option<SeatId>,
        /// Its agent.
        agent: Option<UserId>,
        /// When it was first answered.
        answered_at: DateTime<Utc>,
        /// Seconds waited before the first answer.
        wait_seconds: i64,
        /// Talk known: last seen − answer − hold (at least; the real end is unknown).
        talk_seconds: i64,
        /// Seconds on hold known, until the last message seen.
        hold_seconds: i64,
        /// The capture time of the last message seen of the call.
        last_seen: DateTime<Utc>,
        /// When the adapter gave up waiting for the end (its clock, in capture terms).
        at: DateTime<Utc>,
    },
    /// The caller gave up before an answer (呼损).
    #[serde(rename = "CallAbandoned")]
    Abandoned {
        /// The subsidiary the call was routed to: the data-isolation unit.
        tenant: TenantId,
        /// The queue the dialled number routes to; `None` when no route matched.
        queue: Option<QueueId>,
        /// The phone that was ringing, if any.
        ringing: Option<Extension>,
        /// Seconds waited.
        wait_seconds: i64,
        /// Threshold it was judged by.
        short_abandon_seconds: u32,
        /// Whether `wait_seconds < short_abandon_seconds` (短时放弃).
        short: bool,
        /// When it happened: the SIP capture time (UTC).
        at: DateTime<Utc>,
    },
    /// The caller's side cancelled because another leg answered ("Call completed elsewhere"):
    /// connected, not abandoned.
    #[serde(rename = "CallCompletedElsewhere")]
    CompletedElsewhere {
        /// The subsidiary the call was routed to: the data-isolation unit.
        tenant: TenantId,
        /// The queue the dialled number routes to; `None` when no route matched.
        queue: Option<QueueId>,
        /// The phone that was ringing on this leg, if any.
        ringing: Option<Extension>,
        /// Seconds from the offer to the cancel.
        wait_seconds: i64,
        /// When it happened: the SIP capture time (UTC).
        at: DateTime<Utc>,
    },
    /// The call was refused.
    #[serde(rename = "CallRejected")]
    Rejected {
        /// The subsidiary the call was routed to: the data-isolation unit.
        tenant: TenantId,
        /// The queue the dialled number routes to; `None` when no route matched.
        queue: Option<QueueId>,
        /// SIP status.
        status: u16,
        /// Whether because the caller is blacklisted.
        blacklisted: bool,
        /// Seconds waited.
        wait_seconds: i64,
        /// When it happened: the SIP capture time (UTC).
        at: DateTime<Utc>,
    },
    /// The call waited too long.
    #[serde(rename = "CallTimedOut")]
    TimedOut {
        /// The subsidiary the call was routed to: the data-isolation unit.
        tenant: TenantId,
        /// The queue the dialled number routes to; `None` when no route matched.
        queue: Option<QueueId>,
        /// Seconds waited.
        wait_seconds: i64,
        /// When it happened: the SIP capture time (UTC).
        at: DateTime<Utc>,
    },
    /// The caller left a voicemail (a process turns it into a ticket).
    #[serde(rename = "VoicemailLeft")]
    VoicemailLeft {
        /// The subsidiary the call was routed to: the data-isolation unit.
        tenant: TenantId,
        /// The queue the dialled number routes to; `None` when no route matched.
        queue: Option<QueueId>,
        /// Caller number.
        caller: String,
        /// Dialled number.
        dialled: String,
        /// Where the recording is kept.
        recording: String,
        /// Seconds waited before the voicemail.
        wait_seconds: i64,
        /// When it happened: the SIP capture time (UTC).
        at: DateTime<Utc>,
    },
    /// The call's recording can be fetched.
    #[serde(rename = "RecordingAvailable")]
    RecordingAvailable {
        /// The subsidiary the call was routed to: the data-isolation unit.
        tenant: TenantId,
        /// Where the recording can be fetched (the recording daemon's file or URL).
        uri: String,
        /// When it happened: the SIP capture time (UTC).
        at: DateTime<Utc>,
    },
    /// The caller answered the survey.
    #[serde(rename = "SurveyAnswered")]
    SurveyAnswered {
        /// The subsidiary the call was routed to: the data-isolation unit.
        tenant: TenantId,
        /// The queue the dialled number routes to; `None` when no route matched.
        queue: Option<QueueId>,
        /// Seat of the agent who ended the call.
        seat: Option<SeatId>,
        /// That agent.
        agent: Option<UserId>,
        /// 满意 or not.
        satisfied: bool,
        /// 1 to 5, if asked.
        score: Option<u8>,
        /// When it happened: the SIP capture time (UTC).
        at: DateTime<Utc>,
    },
}

impl CallEvent {
    /// When it happened: the SIP capture time every call event carries, by which a queue's state
    /// at an instant is folded.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            CallEvent::Offered { at, .. }
            | CallEvent::Queued { at, .. }
            | CallEvent::Ringing { at, .. }
            | CallEvent::Answered { at, .. }
            | CallEvent::Held { at, .. }
            | CallEvent::Resumed { at, .. }
            | CallEvent::Transferred { at, .. }
            | CallEvent::Ended { at, .. }
            | CallEvent::EndUnobserved { at, .. }
            | CallEvent::Abandoned { at, .. }
            | CallEvent::CompletedElsewhere { at, .. }
            | CallEvent::Rejected { at, .. }
            | CallEvent::TimedOut { at, .. }
            | CallEvent::VoicemailLeft { at, .. }
            | CallEvent::RecordingAvailable { at, .. }
            | CallEvent::SurveyAnswered { at, .. } => *at,
        }
    }
}

const CALL_VERSIONS: &[(&str, u32)] = &[];

impl EventCodec for CallEvent {
    fn encode(&self) -> EncodedEvent {
        encode_tagged(self, CALL_VERSIONS)
    }

    fn decode(event_type: &str, schema_version: u32, payload: serde_json::Value) -> Result<Self, DecodeError> {
        decode_tagged(event_type, schema_version, payload, CALL_VERSIONS, no_upcasters)
    }

    fn decode_text(event_type: &str, schema_version: u32, payload: &str) -> Result<Self, DecodeError> {
        crate::codec::decode_tagged_text(event_type, schema_version, payload, CALL_VERSIONS, no_upcasters)
    }
}

/// State of a call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallState {
    /// `None` until offered.
    pub status: Option<CallStatus>,
    /// The subsidiary the call was routed to: the data-isolation unit.
    pub tenant: Option<TenantId>,
    /// SIP Call-ID of the first leg.
    pub call_id: String,
    /// Caller number.
    pub caller: String,
    /// Dialled number.
    pub dialled: String,
    /// The queue the dialled number routes to; `None` when no route matched.
    pub queue: Option<QueueId>,
    /// T of the service level.
    pub service_level_seconds: u32,
    /// Short-abandon threshold.
    pub short_abandon_seconds: u32,
    /// When it was offered.
    pub offered_at: Option<DateTime<Utc>>,
    /// The phone ringing now (before an answer, or at a transfer target).
    pub ringing: Option<Extension>,
    /// When it was first answered.
    pub answered_at: Option<DateTime<Utc>>,
    /// Seconds waited before the first answer.
    pub wait_seconds: i64,
    /// The phone on the call.
    pub extension: Option<Extension>,
    /// Its seat.
    pub seat: Option<SeatId>,
    /// Its agent.
    pub agent: Option<UserId>,
    /// Since when it is on hold; `None` when not held.
    pub held_since: Option<DateTime<Utc>>,
    /// Seconds on hold over the finished holds.
    pub hold_seconds: i64,
    /// When the pending transfer was made.
    pub transferred_at: Option<DateTime<Utc>>,
    /// Recordings announced.
    pub recordings: Vec<String>,
    /// Whether the survey was answered.
    pub survey_answered: bool,
}

/// Why a call command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, strum::IntoStaticStr)]
pub enum CallError {
    /// Only an offer can start a call.
    #[error("call was never offered")]
    CallNotOffered,
    /// The call is over.
    #[error("call is {status} already")]
    CallAlreadyFinished {
        /// Its status (wire code).
        status: &'static str,
    },
    /// The call was answered, so it can no longer wait, ring, be abandoned, rejected or time out.
    #[error("call is answered already")]
    CallAlreadyAnswered,
    /// Hold, resume, transfer, a callee's hang-up and an unobserved end need an answered call.
    #[error("call is not answered")]
    CallNotAnswered,
    /// Nothing to resume.
    #[error("call is not on hold")]
    CallNotOnHold,
    /// A transfer is pending; the target must answer first.
    #[error("a transfer is in progress")]
    TransferInProgress,
    /// Final SIP statuses are 400 to 699.
    #[error("{0} is not a final SIP failure status (400 to 699)")]
    InvalidSipStatus(u16),
    /// Scores are 1 to 5.
    #[error("survey score {0} is outside 1 to 5")]
    InvalidSurveyScore(u8),
    /// Only an ended (answered) call is surveyed.
    #[error("only an ended call can be surveyed")]
    CallNotEnded,
    /// One survey per call.
    #[error("the survey was answered already")]
    SurveyAlreadyAnswered,
    /// A mandatory text is empty.
    #[error("{0} is required")]
    Required(&'static str),
}

impl CallError {
    /// The rule's stable name (the variant name), for `extensions.rule` and sync results.
    pub fn rule(&self) -> &'static str {
        self.into()
    }
}

/// Whole seconds from `from` to `to`, zero if `to` is earlier.
fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_seconds().max(0)
}

fn required(name: &'static str, value: &str) -> Result<(), CallError> {
    if value.trim().is_empty() {
        Err(CallError::Required(name))
    } else {
        Ok(())
    }
}

impl Decider for Call {
    type State = CallState;
    type Command = CallCommand;
    type Event = CallEvent;
    type Error = CallError;
    const CATEGORY: &'static str = "call";

    fn texts(command: &CallCommand) -> Vec<Text<'_>> {
        let mut texts = Vec::new();
        match &command.action {
            CallAction::Offer(offer) => {
                texts.extend([
                    Text::new("callId", SIP_TOKEN, &offer.call_id),
                    Text::new("tenant", CODE, &offer.tenant.0),
                    Text::new("caller", PHONE_NUMBER, &offer.caller.0),
                    Text::new("dialled", PHONE_NUMBER, &offer.dialled.0),
                ]);
                texts.extend(offer.correlation.iter().map(|value| Text::new("correlation", SIP_TOKEN, value)));
            }
            CallAction::Ring { extension, seat, agent } | CallAction::Answer { extension, seat, agent } => {
                texts.push(Text::new("extension", CODE, &extension.0));
                texts.extend(seat.iter().map(|seat| Text::new("seat", CODE, &seat.0)));
                texts.extend(agent.iter().map(|agent| Text::new("agent", CODE, &agent.0)));
            }
            CallAction::Transfer { target } => texts.push(Text::new("target", CODE, target)),
            CallAction::LeaveVoicemail { recording } => texts.push(Text::new("recording", URI, recording)),
            CallAction::RecordingAvailable { uri } => texts.push(Text::new("uri", URI, uri)),
            CallAction::Queue
            | CallAction::Hold { .. }
            | CallAction::Resume { .. }
            | CallAction::End { .. }
            | CallAction::Abandon
            | CallAction::CompleteElsewhere
            | CallAction::EndUnobserved { .. }
            | CallAction::Reject { .. }
            | CallAction::TimeOut
            | CallAction::AnswerSurvey { .. } => {}
        }
        texts
    }

    fn decide(state: &CallState, command: &CallCommand) -> Result<Vec<CallEvent>, CallError> {
        let at = command.at;
        let Some(status) = state.status else {
            return match &command.action {
                CallAction::Offer(offer) => offer_call(offer, at),
                _ => Err(CallError::CallNotOffered),
            };
        };
        let tenant = state.tenant.clone().expect("an offered call has a tenant");
        let offered_at = state.offered_at.expect("an offered call has an offer time");
        let queue = state.queue.clone();
        let waited = seconds(offered_at, at);
        let finished = || CallError::CallAlreadyFinished { status: status.code() };
        // What refuses an action that needs a call still waiting for its first answer.
        let not_waiting = || if status.is_finished() { finished() } else { CallError::CallAlreadyAnswered };
        // What refuses an action that needs an answered, live call.
        let not_talking = || if status.is_finished() { finished() } else { CallError::CallNotAnswered };
        use CallStatus::*;
        match &command.action {
            CallAction::Offer(_) => Ok(vec![]),
            CallAction::RecordingAvailable { uri } => {
                required("uri", uri)?;
                if state.recordings.contains(uri) {
                    return Ok(vec![]);
                }
                Ok(vec![CallEvent::RecordingAvailable { tenant, uri: uri.clone(), at }])
            }
            CallAction::AnswerSurvey { satisfied, score } => {
                if status != Ended {
                    return Err(CallError::CallNotEnded);
                }
                if state.survey_answered {
                    return Err(CallError::SurveyAlreadyAnswered);
                }
                if let Some(score) = score.filter(|s| !(1..=5).contains(s)) {
                    return Err(CallError::InvalidSurveyScore(score));
                }
                Ok(vec![CallEvent::SurveyAnswered {
                    tenant,
                    queue,
                    seat: state.seat.clone(),
                    agent: state.agent.clone(),
                    satisfied: *satisfied,
                    score: *score,
                    at,
                }])
            }
            CallAction::LeaveVoicemail { recording } => {
                required("recording", recording)?;
                if !(status.is_waiting() || status == TimedOut) {
                    return Err(not_waiting());
                }
                Ok(vec![CallEvent::VoicemailLeft {
                    tenant,
                    queue,
                    caller: state.caller.clone(),
                    dialled: state.dialled.clone(),
                    recording: recording.clone(),
                    wait_seconds: waited,
                    at,
                }])
            }
            _ if status.is_finished() => Err(finished()),
            CallAction::CompleteElsewhere => match status {
                // Another leg's answer was observed already: nothing new.
                Talking | Transferring => Ok(vec![]),
                _ => Ok(vec![CallEvent::CompletedElsewhere {
                    tenant,
                    queue,
                    ringing: state.ringing.clone(),
                    wait_seconds: waited,
                    at,
                }]),
            },
            CallAction::EndUnobserved { last_seen } => match status {
                Talking | Transferring => {
                    let answered_at = state.answered_at.expect("an answered call has an answer time");
                    // Between the answer and the command: a later "last seen" is a wrong clock.
                    let last_seen = (*last_seen).min(at).max(answered_at);
                    let span = seconds(answered_at, last_seen);
                    let ongoing = state.held_since.map_or(0, |since| seconds(since, last_seen));
                    let hold_seconds = (state.hold_seconds + ongoing).min(span);
                    Ok(vec![CallEvent::EndUnobserved {
                        tenant,
                        queue,
                        extension: state.extension.clone(),
                        seat: state.seat.clone(),
                        agent: state.agent.clone(),
                        answered_at,
                        wait_seconds: state.wait_seconds,
                        talk_seconds: span - hold_seconds,
                        hold_seconds,
                        last_seen,
                        at,
                    }])
                }
                _ => Err(CallError::CallNotAnswered),
            },
            CallAction::Queue => match status {
                Queued => Ok(vec![]),
                Offered | Ringing => Ok(vec![CallEvent::Queued { tenant, queue, at }]),
                _ => Err(not_waiting()),
            },
            CallAction::Ring { extension, seat, agent } => {
                if !(status.is_waiting() || status == Transferring) {
                    return Err(not_waiting());
                }
                if state.ringing.as_ref() == Some(extension) {
                    return Ok(vec![]);
                }
                Ok(vec![CallEvent::Ringing {
                    tenant,
                    queue,
                    extension: extension.clone(),
                    seat: seat.clone(),
                    agent: agent.clone(),
                    at,
                }])
            }
            CallAction::Answer { extension, seat, agent } => {
                let (since, transferred) = match status {
                    Talking if state.extension.as_ref() == Some(extension) => return Ok(vec![]),
                    Talking => return Err(CallError::CallAlreadyAnswered),
                    Transferring => (state.transferred_at.unwrap_or(offered_at), true),
                    _ => (offered_at, false),
                };
                let mut events = Vec::new();
                if let Some(held_since) = state.held_since {
                    events.push(CallEvent::Resumed {
                        tenant: tenant.clone(),
                        by: Party::Callee,
                        hold_seconds: seconds(held_since, at),
                        at,
                    });
                }
                let wait_seconds = seconds(since, at);
                events.push(CallEvent::Answered {
                    tenant,
                    queue,
                    extension: extension.clone(),
                    seat: seat.clone(),
                    agent: agent.clone(),
                    wait_seconds,
                    service_level_seconds: state.service_level_seconds,
                    within_service_level: wait_seconds <= i64::from(state.service_level_seconds),
                    transferred,
                    at,
                });
                Ok(events)
            }
            CallAction::Hold { by } => match status {
                Talking if state.held_since.is_some() => Ok(vec![]),
                Talking => Ok(vec![CallEvent::Held { tenant, by: *by, at }]),
                Transferring => Err(CallError::TransferInProgress),
                _ => Err(not_talking()),
            },
            CallAction::Resume { by } => match (status, state.held_since) {
                (Talking | Transferring, Some(held_since)) => {
                    Ok(vec![CallEvent::Resumed { tenant, by: *by, hold_seconds: seconds(held_since, at), at }])
                }
                (Talking | Transferring, None) => Err(CallError::CallNotOnHold),
                _ => Err(not_talking()),
            },
            CallAction::Transfer { target } => {
                required("target", target)?;
                match status {
                    Talking => Ok(vec![CallEvent::Transferred {
                        tenant,
                        queue,
                        from_extension: state.extension.clone(),
                        from_seat: state.seat.clone(),
                        from_agent: state.agent.clone(),
                        target: target.clone(),
                        at,
                    }]),
                    Transferring => Err(CallError::TransferInProgress),
                    _ => Err(not_talking()),
                }
            }
            CallAction::End { by } => match status {
                Talking | Transferring => {
                    let answered_at = state.answered_at.expect("an answered call has an answer time");
                    let span = seconds(answered_at, at);
                    let ongoing = state.held_since.map_or(0, |since| seconds(since, at));
                    let hold_seconds = (state.hold_seconds + ongoing).min(span);
                    Ok(vec![CallEvent::Ended {
                        tenant,
                        queue,
                        extension: state.extension.clone(),
                        seat: state.seat.clone(),
                        agent: state.agent.clone(),
                        by: *by,
                        answered_at,
                        wait_seconds: state.wait_seconds,
                        talk_seconds: span - hold_seconds,
                        hold_seconds,
                        at,
                    }])
                }
                _ if *by == Party::Caller => Ok(vec![abandoned(state, tenant, waited, at)]),
                _ => Err(CallError::CallNotAnswered),
            },
            CallAction::Abandon if status.is_waiting() => Ok(vec![abandoned(state, tenant, waited, at)]),
            CallAction::Reject { status: sip } => {
                if !(400..=699).contains(sip) {
                    return Err(CallError::InvalidSipStatus(*sip));
                }
                if !status.is_waiting() {
                    return Err(not_waiting());
                }
                Ok(vec![CallEvent::Rejected {
                    tenant,
                    queue,
                    status: *sip,
                    blacklisted: false,
                    wait_seconds: waited,
                    at,
                }])
            }
            CallAction::TimeOut if status.is_waiting() => {
                Ok(vec![CallEvent::TimedOut { tenant, queue, wait_seconds: waited, at }])
            }
            CallAction::Abandon | CallAction::TimeOut => Err(not_waiting()),
        }
    }

    fn evolve(mut state: CallState, event: &CallEvent) -> CallState {
        match event {
            CallEvent::Offered {
                call_id,
                tenant,
                caller,
                dialled,
                queue,
                service_level_seconds,
                short_abandon_seconds,
                at,
                ..
            } => {
                state.status = Some(CallStatus::Offered);
                state.call_id = call_id.clone();
                state.tenant = Some(tenant.clone());
                state.caller = caller.clone();
                state.dialled = dialled.clone();
                state.queue = queue.clone();
                state.service_level_seconds = *service_level_seconds;
                state.short_abandon_seconds = *short_abandon_seconds;
                state.offered_at = Some(*at);
            }
            CallEvent::Queued { .. } => {
                state.status = Some(CallStatus::Queued);
                state.ringing = None;
            }
            CallEvent::Ringing { extension, .. } => {
                if state.status != Some(CallStatus::Transferring) {
                    state.status = Some(CallStatus::Ringing);
                }
                state.ringing = Some(extension.clone());
            }
            CallEvent::Answered { extension, seat, agent, wait_seconds, transferred, at, .. } => {
                state.status = Some(CallStatus::Talking);
                state.ringing = None;
                state.extension = Some(extension.clone());
                state.seat = seat.clone();
                state.agent = agent.clone();
                state.transferred_at = None;
                if !transferred {
                    state.answered_at = Some(*at);
                    state.wait_seconds = *wait_seconds;
                }
            }
            CallEvent::Held { at, .. } => state.held_since = Some(*at),
            CallEvent::Resumed { hold_seconds, .. } => {
                state.held_since = None;
                state.hold_seconds += hold_seconds;
            }
            CallEvent::Transferred { at, .. } => {
                state.status = Some(CallStatus::Transferring);
                state.transferred_at = Some(*at);
                state.ringing = None;
            }
            CallEvent::Ended { hold_seconds, .. } => {
                state.status = Some(CallStatus::Ended);
                state.held_since = None;
                state.hold_seconds = *hold_seconds;
            }
            CallEvent::EndUnobserved { hold_seconds, .. } => {
                state.status = Some(CallStatus::EndUnobserved);
                state.held_since = None;
                state.hold_seconds = *hold_seconds;
            }
            CallEvent::Abandoned { .. } => state.status = Some(CallStatus::Abandoned),
            CallEvent::CompletedElsewhere { .. } => state.status = Some(CallStatus::CompletedElsewhere),
            CallEvent::Rejected { .. } => state.status = Some(CallStatus::Rejected),
            CallEvent::TimedOut { .. } => state.status = Some(CallStatus::TimedOut),
            CallEvent::VoicemailLeft { .. } => state.status = Some(CallStatus::Voicemail),
            CallEvent::RecordingAvailable { uri, .. } => state.recordings.push(uri.clone()),
            CallEvent::SurveyAnswered { .. } => state.survey_answered = true,
        }
        state
    }
}

fn offer_call(offer: &OfferCall, at: DateTime<Utc>) -> Result<Vec<CallEvent>, CallError> {
    required("call_id", &offer.call_id)?;
    let routing = &offer.routing;
    let mut events = vec![CallEvent::Offered {
        call_id: offer.call_id.clone(),
        tenant: offer.tenant.clone(),
        caller: offer.caller.0.clone(),
        dialled: offer.dialled.0.clone(),
        correlation: offer.correlation.clone(),
        queue: routing.queue.clone(),
        service_level_seconds: routing.service_level_seconds,
        short_abandon_seconds: routing.short_abandon_seconds,
        blacklisted: routing.blacklisted,
        at,
    }];
    if routing.blacklisted {
        events.push(CallEvent::Rejected {
            tenant: offer.tenant.clone(),
            queue: routing.queue.clone(),
            status: BLACKLIST_REJECT_STATUS,
            blacklisted: true,
            wait_seconds: 0,
            at,
        });
    }
    Ok(events)
}

fn abandoned(state: &CallState, tenant: TenantId, wait_seconds: i64, at: DateTime<Utc>) -> CallEvent {
    CallEvent::Abandoned {
        tenant,
        queue: state.queue.clone(),
        ringing: state.ringing.clone(),
        wait_seconds,
        short_abandon_seconds: state.short_abandon_seconds,
        short: wait_seconds < i64::from(state.short_abandon_seconds),
        at,
    }
}

#[cfg(test)]
mod tests;
