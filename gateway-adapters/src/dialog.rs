//! The dialog tracker: turns a stream of [`SipMessage`]s into call and phone [`Signal`]s.
//!
//! Feed [`DialogTracker::observe`] every message with its capture time, in capture order as far
//! as it can be had (the listener's reorder window), and call [`DialogTracker::tick`] now and then
//! so calls that never end time out and finished ones are forgotten. The tracker holds no clock of
//! its own: every time comes from the caller. Capture agents' clocks may differ:
//! [`DialogTracker::observe_on_clock`] says how far the clock that stamped a message runs from the
//! one `tick` is given, and each call's time-outs are judged on the clock of its latest message.
//!
//! # Rules
//! - **Duplicates.** A message is identified by (From tag, To tag, CSeq number, CSeq method, request
//!   method or response status) within its Call-ID. That covers retransmissions (same Via branch)
//!   and the second copy a mirroring proxy sends (Kamailio `siptrace` mirrors both the received and
//!   the forwarded copy, whose top Via branch differs). Seen twice, a message is ignored.
//! - **Offer.** An INVITE without To tag opens a call: `CallOffered` (caller = From user, dialled =
//!   request-URI user, correlation = the first configured correlation header present).
//! - **Set-up.** 100 is ignored; the first 1xx (180, 183, …) gives `CallRinging`; the first 2xx to
//!   the INVITE gives `CallAnswered` and fixes the answering fork's To tag (later 2xx of other forks
//!   are ignored, and so is a BYE that does not belong to the answered fork). The extension is the
//!   user of the response's Contact, else of its To.
//! - **An answer whose 2xx was lost** is inferred from what only an answered call sends: the ACK
//!   of a 2xx (an ACK in the dialog whose Via branch is none of the INVITE's: the ACK of a
//!   failure reuses the INVITE's branch) gives `CallAnswered` at the ACK's time, the extension
//!   being its Request-URI user (the answering phone's Contact); a callee's BYE before any answer
//!   (a callee may not end an early dialog) gives `CallAnswered` at the BYE's time, the extension
//!   being its Contact user, then `CallEnded`. A caller's BYE may end an early dialog (RFC 3261
//!   §15), so it says nothing of an answer: `CallEnded` by the caller, which the command side
//!   takes as an abandon. The ids are those the 2xx would have given, so a 2xx that turns up
//!   later changes nothing.
//! - **Challenges and redirects.** 401, 407 and 3xx do not end a call: the caller retries with a
//!   higher CSeq on the same Call-ID. If no retry comes before the set-up timeout, the call is
//!   `CallRejected` with that status.
//! - **Ends before answer.** 487 after a CANCEL is `CallAbandoned`, unless the CANCEL's `Reason`
//!   says "completed elsewhere" (`cause=200`): then another leg took the call, and it is
//!   `CallCompletedElsewhere`. Any other final status from 300 up (408 and 480 included) is
//!   `CallRejected` with it.
//! - **In the dialog.** A re-INVITE whose SDP is sendonly, inactive or `c=0.0.0.0` gives
//!   `CallHeld` by the side that sent it, and a later one with sendrecv/recvonly gives `CallResumed`
//!   (signalled when the offer is seen, not when it is accepted). REFER gives `CallTransferred` to
//!   the Refer-To user. BYE gives `CallEnded` by the caller (the From tag of the initial INVITE) or
//!   the callee.
//! - **Registrations.** A 2xx to REGISTER gives `PhoneRegistered` (extension = To user, contact =
//!   first Contact URI, expires = the registrar's Contact `expires` or `Expires`, else the
//!   request's, else 3600), or `PhoneUnregistered` when the request asked for 0 seconds or `*`.
//! - **Time-outs: every call reaches an end.** An unanswered call with no message for
//!   `setup_timeout` gives `CallTimedOut`, or what it was waiting to become, at the time of its
//!   last message: `CallRejected` after an unanswered challenge, `CallAbandoned` after a CANCEL
//!   whose 487 was lost, `CallCompletedElsewhere` after a "completed elsewhere" CANCEL. An answered call with no
//!   message for `idle_timeout` (its BYE was lost) gives `CallEndUnobserved` with the capture time
//!   of its last message. Either way the call is forgotten. Finished calls and registrations are
//!   forgotten `completed_grace` after their last message, so late retransmissions still find
//!   them.
//!
//! # Out-of-order arrival
//! The tracker applies messages in the order it is given them; the listener gives them in capture
//! order within its reorder window (`crate::reorder`), which puts right the usual swaps (a proxy's
//! worker processes mirroring a 200 after the BYE that follows it). What still arrives after a
//! later-captured message of its call was applied is applied all the same and counted
//! ([`DialogTracker::late`]); a call's state only moves forward: a 180 seen after the 200 is
//! dropped, a CANCEL seen after the answer does nothing. Messages of a Call-ID whose
//! initial INVITE has not been seen yet are held (at most `max_pending` per call) and applied in
//! capture-time order once it arrives; if it never does, they are dropped with the entry after
//! `setup_timeout` (a call joined half-way gives no signals). A signal's `at` is the capture time of
//! the message that caused it, so it may be earlier than an earlier signal's; idle time counts from
//! the latest capture time seen.
//!
//! # Memory
//! At most `max_dialogs` calls and registrations are tracked; beyond that new ones are refused
//! and counted ([`DialogTracker::refused`]). Each entry keeps at most 256 duplicate keys and
//! `max_pending` held messages (or REGISTER requests awaiting their answer).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::sip::{SipKind, SipMessage, SipMethod};

/// The UUID v5 namespace of signal ids.
const SIGNAL_NAMESPACE: Uuid = Uuid::from_u128(0x6a0f_3c2e_8d41_5b7a_9e13_04c2_d7f8_a915);
/// Duplicate keys kept per entry; when full the set starts over (a duplicate that slips through
/// then still yields signals with the same ids).
const MAX_SEEN: usize = 256;
/// Expiry of a registration whose messages name none.
const DEFAULT_EXPIRES: u32 = 3600;

/// One side of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Party {
    /// Who sent the initial INVITE.
    Caller,
    /// Who answered it.
    Callee,
}

impl Party {
    fn name(self) -> &'static str {
        match self {
            Party::Caller => "caller",
            Party::Callee => "callee",
        }
    }
}

/// What happened, in telephony terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalKind {
    /// A new call was offered.
    CallOffered {
        /// The Call-ID.
        call_id: String,
        /// The From user.
        caller: String,
        /// The request-URI user of the initial INVITE.
        dialled: String,
        /// The first configured correlation header present on the INVITE.
        correlation: Option<String>,
    },
    /// The call rings.
    CallRinging {
        /// The Call-ID.
        call_id: String,
        /// The ringing extension.
        extension: String,
    },
    /// The call was answered.
    CallAnswered {
        /// The Call-ID.
        call_id: String,
        /// The answering extension.
        extension: String,
    },
    /// One side put the other on hold.
    CallHeld {
        /// The Call-ID.
        call_id: String,
        /// Who put the call on hold.
        by: Party,
    },
    /// One side took the call off hold.
    CallResumed {
        /// The Call-ID.
        call_id: String,
        /// Who resumed.
        by: Party,
    },
    /// The call was transferred (REFER).
    CallTransferred {
        /// The Call-ID.
        call_id: String,
        /// The Refer-To user.
        target: String,
    },
    /// An answered call ended (BYE).
    CallEnded {
        /// The Call-ID.
        call_id: String,
        /// Who hung up.
        by: Party,
    },
    /// The caller gave up before an answer.
    CallAbandoned {
        /// The Call-ID.
        call_id: String,
    },
    /// The caller's side cancelled because another leg answered ("Call completed elsewhere").
    CallCompletedElsewhere {
        /// The Call-ID.
        call_id: String,
    },
    /// The call was refused with a final status.
    CallRejected {
        /// The Call-ID.
        call_id: String,
        /// The SIP status.
        status: u16,
    },
    /// Nothing was heard of an unanswered call for too long.
    CallTimedOut {
        /// The Call-ID.
        call_id: String,
    },
    /// Nothing was heard of an answered call for too long: its hang-up was not observed.
    CallEndUnobserved {
        /// The Call-ID.
        call_id: String,
        /// The capture time of the call's last message.
        last_seen: DateTime<Utc>,
    },
    /// A phone registered (or refreshed its registration).
    PhoneRegistered {
        /// The registered extension (To user).
        extension: String,
        /// The contact URI.
        contact: String,
        /// For how long the registrar accepted it.
        expires_seconds: u32,
    },
    /// A phone unregistered.
    PhoneUnregistered {
        /// The extension.
        extension: String,
    },
}

impl SignalKind {
    /// A stable snake_case name of the variant.
    pub fn name(&self) -> &'static str {
        match self {
            SignalKind::CallOffered { .. } => "call_offered",
            SignalKind::CallRinging { .. } => "call_ringing",
            SignalKind::CallAnswered { .. } => "call_answered",
            SignalKind::CallHeld { .. } => "call_held",
            SignalKind::CallResumed { .. } => "call_resumed",
            SignalKind::CallTransferred { .. } => "call_transferred",
            SignalKind::CallEnded { .. } => "call_ended",
            SignalKind::CallAbandoned { .. } => "call_abandoned",
            SignalKind::CallCompletedElsewhere { .. } => "call_completed_elsewhere",
            SignalKind::CallRejected { .. } => "call_rejected",
            SignalKind::CallTimedOut { .. } => "call_timed_out",
            SignalKind::CallEndUnobserved { .. } => "call_end_unobserved",
            SignalKind::PhoneRegistered { .. } => "phone_registered",
            SignalKind::PhoneUnregistered { .. } => "phone_unregistered",
        }
    }
}

/// One thing the tracker inferred from the signalling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    /// Deterministic: UUID v5 over the Call-ID, the kind's name and what distinguishes it, so a
    /// duplicated or retransmitted packet always yields the same id.
    pub id: Uuid,
    /// The capture time of the message that caused it (the tick's time for time-outs).
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: SignalKind,
}

fn signal(call_id: &str, at: DateTime<Utc>, distinguishing: &str, kind: SignalKind) -> Signal {
    let name = format!("{call_id}\u{0}{}\u{0}{distinguishing}", kind.name());
    Signal { id: Uuid::new_v5(&SIGNAL_NAMESPACE, name.as_bytes()), at, kind }
}

/// Limits and time-outs of a [`DialogTracker`].
#[derive(Debug, Clone)]
pub struct TrackerConfig {
    /// An unanswered call with no message for this long times out (default 180 s, SIP's Timer C).
    pub setup_timeout: Duration,
    /// An answered call with no message for this long times out (default 2 h).
    pub idle_timeout: Duration,
    /// A finished call or a registration is forgotten this long after its last message (default
    /// 32 s, SIP's 64×T1, the longest a retransmission can come).
    pub completed_grace: Duration,
    /// Most calls and registrations tracked at once (default 100,000).
    pub max_dialogs: usize,
    /// Most messages held per Call-ID while its initial INVITE is missing (default 32).
    pub max_pending: usize,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            setup_timeout: Duration::from_secs(180),
            idle_timeout: Duration::from_secs(2 * 3600),
            completed_grace: Duration::from_secs(32),
            max_dialogs: 100_000,
            max_pending: 32,
        }
    }
}

/// What identifies a message within its Call-ID, for duplicate detection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct MessageKey {
    from_tag: Option<String>,
    to_tag: Option<String>,
    cseq: u32,
    cseq_method: SipMethod,
    /// The request method, or the response status as text.
    what: String,
}

impl MessageKey {
    fn of(message: &SipMessage) -> MessageKey {
        MessageKey {
            from_tag: message.from_tag.clone(),
            to_tag: message.to_tag.clone(),
            cseq: message.cseq,
            cseq_method: message.cseq_method.clone(),
            what: match &message.kind {
                SipKind::Request { method, .. } => method.as_str().to_owned(),
                SipKind::Response { status, .. } => status.to_string(),
            },
        }
    }
}

/// A call whose initial INVITE was seen.
#[derive(Debug)]
struct Call {
    caller_tag: Option<String>,
    caller: String,
    /// The CSeq of the latest initial INVITE (it grows after a challenge).
    invite_cseq: u32,
    ringing: bool,
    /// The To tag of the answering fork, once answered (`None` inside if it had none).
    answered: Option<Option<String>>,
    /// A CANCEL was seen; `true` if it said "completed elsewhere".
    cancelled: Option<bool>,
    /// A 401/407/3xx awaiting a retry.
    awaiting_retry: Option<u16>,
    held: [bool; 2],
    finished: bool,
}

impl Call {
    fn party(&self, message: &SipMessage) -> Party {
        let is_caller = match &self.caller_tag {
            Some(tag) => message.from_tag.as_ref() == Some(tag),
            None => message.from_user.as_deref() == Some(self.caller.as_str()),
        };
        if is_caller {
            Party::Caller
        } else {
            Party::Callee
        }
    }
}

/// Via branches of the initial INVITE kept per call (each mirrored copy may add one).
const MAX_INVITE_BRANCHES: usize = 32;

#[derive(Debug)]
struct Dialog {
    call: Option<Call>,
    pending: Vec<(DateTime<Utc>, SipMessage)>,
    seen: HashSet<MessageKey>,
    last_activity: DateTime<Utc>,
    /// How far the clock of its latest message runs from the tick's.
    clock_offset: chrono::Duration,
    /// The latest capture time of a message applied to the open call.
    applied_until: Option<DateTime<Utc>>,
    /// The top Via branches of the initial INVITE's copies and retries: an ACK with one of
    /// them acknowledges a failure, any other ACK a 2xx.
    invite_branches: Vec<String>,
}

/// A REGISTER request awaiting its answer.
#[derive(Debug)]
struct RegisterRequest {
    cseq: u32,
    contact: Option<String>,
    /// The expiry asked for: `Some(0)` for `Contact: *`.
    expires: Option<u32>,
}

#[derive(Debug)]
struct Registration {
    requests: Vec<RegisterRequest>,
    seen: HashSet<MessageKey>,
    last_activity: DateTime<Utc>,
    /// How far the clock of its latest message runs from the tick's.
    clock_offset: chrono::Duration,
}

/// Tracks SIP dialogs and registrations and infers [`Signal`]s (see the module docs for the rules).
#[derive(Debug, Default)]
pub struct DialogTracker {
    config: TrackerConfig,
    dialogs: HashMap<String, Dialog>,
    registrations: HashMap<String, Registration>,
    refused: u64,
    late: u64,
}

fn is_initial_invite(message: &SipMessage) -> bool {
    matches!(&message.kind, SipKind::Request { method: SipMethod::Invite, .. }) && message.to_tag.is_none()
}

/// Records the message's key; `false` if it was seen before. A full set starts over, so a
/// long-lived entry (a phone refreshing its registration on one Call-ID) stays bounded.
fn remember(seen: &mut HashSet<MessageKey>, message: &SipMessage) -> bool {
    let key = MessageKey::of(message);
    if seen.contains(&key) {
        return false;
    }
    if seen.len() >= MAX_SEEN {
        seen.clear();
    }
    seen.insert(key);
    true
}

fn older_than(last: DateTime<Utc>, now: DateTime<Utc>, limit: Duration) -> bool {
    let limit = chrono::Duration::from_std(limit).unwrap_or(chrono::Duration::MAX);
    now.signed_duration_since(last) > limit
}

impl DialogTracker {
    /// A tracker with the given limits.
    pub fn new(config: TrackerConfig) -> DialogTracker {
        DialogTracker { config, ..DialogTracker::default() }
    }

    /// Calls and registrations currently tracked.
    pub fn len(&self) -> usize {
        self.dialogs.len() + self.registrations.len()
    }

    /// Whether nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Messages of new calls and registrations refused because `max_dialogs` were tracked.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Messages that came after a later-captured message of their call had been applied (too
    /// late for the listener's reorder window); applied all the same, in arrival order.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Applies one message captured at `at` on the tick's own clock; returns the signals it causes
    /// (often none).
    pub fn observe(&mut self, at: DateTime<Utc>, message: &SipMessage) -> Vec<Signal> {
        self.observe_on_clock(at, chrono::Duration::zero(), message)
    }

    /// Applies one message captured at `at` by a clock that runs `clock_offset` from the one
    /// [`Self::tick`] is given (capture time − tick clock); the message's call then times out on
    /// that clock.
    pub fn observe_on_clock(
        &mut self,
        at: DateTime<Utc>,
        clock_offset: chrono::Duration,
        message: &SipMessage,
    ) -> Vec<Signal> {
        match message.cseq_method {
            SipMethod::Register => self.observe_register(at, clock_offset, message),
            SipMethod::Invite | SipMethod::Ack | SipMethod::Cancel | SipMethod::Bye | SipMethod::Refer => {
                self.observe_call(at, clock_offset, message)
            }
            // OPTIONS, NOTIFY, SUBSCRIBE, MESSAGE, …: nothing this tracker reports.
            SipMethod::Other(_) => Vec::new(),
        }
    }

    fn observe_call(&mut self, at: DateTime<Utc>, clock_offset: chrono::Duration, message: &SipMessage) -> Vec<Signal> {
        let full = self.len() >= self.config.max_dialogs;
        if !self.dialogs.contains_key(&message.call_id) {
            if full {
                self.refused += 1;
                return Vec::new();
            }
            let dialog = Dialog {
                call: None,
                pending: Vec::new(),
                seen: HashSet::new(),
                last_activity: at,
                clock_offset,
                applied_until: None,
                invite_branches: Vec::new(),
            };
            self.dialogs.insert(message.call_id.clone(), dialog);
        }
        let Some(dialog) = self.dialogs.get_mut(&message.call_id) else { return Vec::new() };
        dialog.last_activity = dialog.last_activity.max(at);
        dialog.clock_offset = clock_offset;
        if let (SipKind::Request { method: SipMethod::Invite, .. }, None, Some(branch)) =
            (&message.kind, &message.to_tag, &message.via_branch)
        {
            if !dialog.invite_branches.contains(branch) && dialog.invite_branches.len() < MAX_INVITE_BRANCHES {
                dialog.invite_branches.push(branch.clone());
            }
        }
        if !remember(&mut dialog.seen, message) {
            return Vec::new();
        }
        if dialog.call.is_some() {
            if dialog.applied_until.is_some_and(|until| at < until) {
                self.late += 1;
            }
            dialog.applied_until = Some(dialog.applied_until.map_or(at, |until| until.max(at)));
        }
        if dialog.call.is_none() && !is_initial_invite(message) {
            if dialog.pending.len() < self.config.max_pending {
                dialog.pending.push((at, message.clone()));
            }
            return Vec::new();
        }
        let mut signals = Vec::new();
        apply(dialog, at, message, &mut signals);
        // The INVITE has opened the call: apply what arrived before it, in capture order.
        let mut pending = std::mem::take(&mut dialog.pending);
        pending.sort_by_key(|(at, _)| *at);
        for (at, message) in &pending {
            apply(dialog, *at, message, &mut signals);
        }
        if let Some(latest) = pending.iter().map(|(at, _)| *at).chain([at]).max() {
            dialog.applied_until = Some(dialog.applied_until.map_or(latest, |until| until.max(latest)));
        }
        signals
    }

    fn observe_register(
        &mut self,
        at: DateTime<Utc>,
        clock_offset: chrono::Duration,
        message: &SipMessage,
    ) -> Vec<Signal> {
        if !self.registrations.contains_key(&message.call_id) {
            if self.len() >= self.config.max_dialogs {
                self.refused += 1;
                return Vec::new();
            }
            let registration =
                Registration { requests: Vec::new(), seen: HashSet::new(), last_activity: at, clock_offset };
            self.registrations.insert(message.call_id.clone(), registration);
        }
        let Some(registration) = self.registrations.get_mut(&message.call_id) else { return Vec::new() };
        registration.last_activity = registration.last_activity.max(at);
        registration.clock_offset = clock_offset;
        if !remember(&mut registration.seen, message) {
            return Vec::new();
        }
        let status = match &message.kind {
            SipKind::Request { .. } => {
                let expires = if message.contact_uri.as_deref() == Some("*") {
                    Some(0)
                } else {
                    message.contact_expires.or(message.expires)
                };
                // Keep the latest requests: a phone may refresh on one Call-ID for days.
                if registration.requests.len() >= self.config.max_pending.max(1) {
                    registration.requests.remove(0);
                }
                registration.requests.push(RegisterRequest {
                    cseq: message.cseq,
                    contact: message.contact_uri.clone(),
                    expires,
                });
                return Vec::new();
            }
            SipKind::Response { status, .. } => *status,
        };
        if status < 200 {
            return Vec::new();
        }
        // A final answer closes the transaction: its request is no longer needed.
        let request = registration
            .requests
            .iter()
            .position(|r| r.cseq == message.cseq)
            .map(|at| registration.requests.remove(at));
        let request = request.as_ref();
        if status >= 300 {
            return Vec::new();
        }
        let Some(extension) = message.to_user.clone() else { return Vec::new() };
        let call_id = &message.call_id;
        if request.is_some_and(|r| r.expires == Some(0)) {
            let kind = SignalKind::PhoneUnregistered { extension };
            return vec![signal(call_id, at, &message.cseq.to_string(), kind)];
        }
        let contact = request.and_then(|r| r.contact.clone()).or_else(|| message.contact_uri.clone());
        let Some(contact) = contact.filter(|c| c != "*") else { return Vec::new() };
        // The registrar's answer wins when it speaks of the same contact.
        let granted = (message.contact_uri.as_deref() == Some(contact.as_str()))
            .then_some(message.contact_expires)
            .flatten()
            .or(message.expires);
        let expires_seconds = granted.or(request.and_then(|r| r.expires)).unwrap_or(DEFAULT_EXPIRES);
        let distinguishing = format!("{}\u{0}{contact}\u{0}{expires_seconds}", message.cseq);
        let kind = if expires_seconds == 0 {
            SignalKind::PhoneUnregistered { extension }
        } else {
            SignalKind::PhoneRegistered { extension, contact, expires_seconds }
        };
        vec![signal(call_id, at, &distinguishing, kind)]
    }

    /// Times out silent calls and forgets finished ones; call it periodically with the current
    /// time. Each call is judged on the clock of its latest message: `now` shifted by that
    /// message's clock offset ([`Self::observe_on_clock`]; none for [`Self::observe`]).
    pub fn tick(&mut self, now: DateTime<Utc>) -> Vec<Signal> {
        let config = &self.config;
        let mut signals = Vec::new();
        let local = now;
        self.dialogs.retain(|call_id, dialog| {
            let now = local + dialog.clock_offset;
            let Some(call) = &dialog.call else {
                return !older_than(dialog.last_activity, now, config.setup_timeout);
            };
            if call.finished {
                return !older_than(dialog.last_activity, now, config.completed_grace);
            }
            let limit = if call.answered.is_some() { config.idle_timeout } else { config.setup_timeout };
            if !older_than(dialog.last_activity, now, limit) {
                return true;
            }
            let call_id = call_id.clone();
            // What the last message said the call was heading for happened then (the CANCEL, the
            // challenge); only an end not observed or a plain time-out happens now.
            let last = dialog.last_activity;
            let (at, distinguishing, kind) = match (&call.answered, call.awaiting_retry, call.cancelled) {
                (Some(_), _, _) => {
                    (now, String::new(), SignalKind::CallEndUnobserved { call_id: call_id.clone(), last_seen: last })
                }
                (None, Some(status), _) => {
                    (last, status.to_string(), SignalKind::CallRejected { call_id: call_id.clone(), status })
                }
                (None, None, Some(false)) => {
                    (last, String::new(), SignalKind::CallAbandoned { call_id: call_id.clone() })
                }
                (None, None, Some(true)) => {
                    (last, String::new(), SignalKind::CallCompletedElsewhere { call_id: call_id.clone() })
                }
                (None, None, None) => (now, String::new(), SignalKind::CallTimedOut { call_id: call_id.clone() }),
            };
            signals.push(signal(&call_id, at, &distinguishing, kind));
            false
        });
        self.registrations.retain(|_, r| !older_than(r.last_activity, local + r.clock_offset, config.completed_grace));
        signals
    }
}

/// Applies one new (not duplicate) message to a dialog whose call is open, or to a dialog whose
/// initial INVITE this is.
fn apply(dialog: &mut Dialog, at: DateTime<Utc>, message: &SipMessage, signals: &mut Vec<Signal>) {
    let call_id = message.call_id.as_str();
    let Some(call) = dialog.call.as_mut() else {
        if let SipKind::Request { method: SipMethod::Invite, uri_user } = &message.kind {
            let caller = message.from_user.clone().unwrap_or_default();
            // The Request-URI alone says what was dialled: To may still hold what a proxy rewrote.
            let dialled = uri_user.clone().unwrap_or_default();
            let correlation = message.correlation.first().map(|(_, value)| value.clone());
            let kind =
                SignalKind::CallOffered { call_id: call_id.to_owned(), caller: caller.clone(), dialled, correlation };
            signals.push(signal(call_id, at, "", kind));
            dialog.call = Some(Call {
                caller_tag: message.from_tag.clone(),
                caller,
                invite_cseq: message.cseq,
                ringing: false,
                answered: None,
                cancelled: None,
                awaiting_retry: None,
                held: [false, false],
                finished: false,
            });
        }
        return;
    };
    if call.finished {
        return;
    }
    match &message.kind {
        SipKind::Request { method, uri_user } => {
            let acknowledges_failure =
                message.via_branch.as_ref().is_some_and(|branch| dialog.invite_branches.contains(branch));
            apply_request(call, at, method, uri_user.as_deref(), acknowledges_failure, message, signals)
        }
        SipKind::Response { status, .. } if message.cseq_method == SipMethod::Invite => {
            apply_invite_response(call, at, *status, message, signals)
        }
        // Responses to CANCEL, BYE, REFER and ACK change nothing.
        SipKind::Response { .. } => {}
    }
}

/// Infers the answer of a call whose 2xx was not seen, from a message only an answered call
/// sends; `extension` is the answering phone as that message names it.
fn infer_answer(call: &mut Call, at: DateTime<Utc>, message: &SipMessage, extension: Option<&str>) -> Signal {
    let callee_tag = if call.party(message) == Party::Caller { &message.to_tag } else { &message.from_tag };
    call.answered = Some(callee_tag.clone());
    call.awaiting_retry = None;
    let call_id = message.call_id.as_str();
    let extension = extension.or(message.to_user.as_deref()).unwrap_or_default().to_owned();
    signal(call_id, at, "", SignalKind::CallAnswered { call_id: call_id.to_owned(), extension })
}

fn apply_request(
    call: &mut Call,
    at: DateTime<Utc>,
    method: &SipMethod,
    uri_user: Option<&str>,
    acknowledges_failure: bool,
    message: &SipMessage,
    signals: &mut Vec<Signal>,
) {
    let call_id = message.call_id.as_str();
    let in_answered_dialog = match &call.answered {
        Some(tag) => tag.is_none() || (message.to_tag == *tag || message.from_tag == *tag),
        None => false,
    };
    match method {
        // A retry after a challenge or redirect: the same call, not a new one.
        SipMethod::Invite
            if message.to_tag.is_none() && call.party(message) == Party::Caller && message.cseq > call.invite_cseq =>
        {
            call.invite_cseq = message.cseq;
            call.awaiting_retry = None;
        }
        SipMethod::Invite if message.to_tag.is_none() => {}
        SipMethod::Invite if in_answered_dialog => {
            let Some(direction) = message.sdp_direction else { return };
            let by = call.party(message);
            let slot = &mut call.held[by as usize];
            let distinguishing =
                format!("{}\u{0}{}\u{0}{}", by.name(), message.from_tag.as_deref().unwrap_or(""), message.cseq);
            let call_id = call_id.to_owned();
            if direction.is_hold() && !*slot {
                *slot = true;
                signals.push(signal(
                    &call_id,
                    at,
                    &distinguishing,
                    SignalKind::CallHeld { call_id: call_id.clone(), by },
                ));
            } else if !direction.is_hold() && *slot {
                *slot = false;
                signals.push(signal(
                    &call_id,
                    at,
                    &distinguishing,
                    SignalKind::CallResumed { call_id: call_id.clone(), by },
                ));
            }
        }
        SipMethod::Cancel if call.answered.is_none() => {
            let completed_elsewhere = message.reason.as_deref().is_some_and(|reason| {
                let reason = reason.to_ascii_lowercase();
                reason.contains("completed elsewhere") || reason.contains("cause=200")
            });
            call.cancelled = Some(completed_elsewhere);
        }
        SipMethod::Refer if in_answered_dialog => {
            let Some(target) = message.refer_to_user.clone() else { return };
            let distinguishing =
                format!("{}\u{0}{}\u{0}{target}", message.from_tag.as_deref().unwrap_or(""), message.cseq);
            let kind = SignalKind::CallTransferred { call_id: call_id.to_owned(), target };
            signals.push(signal(call_id, at, &distinguishing, kind));
        }
        // The ACK of a 2xx whose 2xx was not seen: the call was answered.
        SipMethod::Ack
            if call.answered.is_none()
                && call.awaiting_retry.is_none()
                && message.to_tag.is_some()
                && message.cseq == call.invite_cseq
                && !acknowledges_failure =>
        {
            signals.push(infer_answer(call, at, message, uri_user));
        }
        // A callee's BYE before any answer was seen: the 2xx (and its ACK) were lost, for a callee
        // may not end an early dialog. The call was answered, and ends now. A caller's BYE may end
        // an early dialog (RFC 3261 §15): it says nothing of an answer, and the command side
        // takes it as an abandon. A BYE to a fork that did not win belongs to another dialog.
        SipMethod::Bye if in_answered_dialog || call.answered.is_none() => {
            let by = call.party(message);
            if call.answered.is_none() && by == Party::Callee {
                let extension = message.contact_user.as_deref().or(message.from_user.as_deref());
                signals.push(infer_answer(call, at, message, extension));
            }
            call.finished = true;
            signals.push(signal(call_id, at, "", SignalKind::CallEnded { call_id: call_id.to_owned(), by }));
        }
        _ => {}
    }
}

fn apply_invite_response(
    call: &mut Call,
    at: DateTime<Utc>,
    status: u16,
    message: &SipMessage,
    signals: &mut Vec<Signal>,
) {
    // Once answered, INVITE responses belong to re-INVITEs or to losing forks.
    if call.answered.is_some() || call.party(message) != Party::Caller || message.cseq < call.invite_cseq {
        return;
    }
    call.invite_cseq = message.cseq;
    let call_id = message.call_id.as_str();
    let extension = || message.contact_user.clone().or_else(|| message.to_user.clone()).unwrap_or_default();
    match status {
        0..=100 => {}
        101..=199 => {
            if !call.ringing {
                call.ringing = true;
                signals.push(signal(
                    call_id,
                    at,
                    "",
                    SignalKind::CallRinging { call_id: call_id.to_owned(), extension: extension() },
                ));
            }
        }
        200..=299 => {
            call.answered = Some(message.to_tag.clone());
            call.awaiting_retry = None;
            signals.push(signal(
                call_id,
                at,
                "",
                SignalKind::CallAnswered { call_id: call_id.to_owned(), extension: extension() },
            ));
        }
        300..=399 | 401 | 407 => call.awaiting_retry = Some(status),
        487 => {
            call.finished = true;
            let call_id = call_id.to_owned();
            let kind = if call.cancelled == Some(true) {
                SignalKind::CallCompletedElsewhere { call_id: call_id.clone() }
            } else {
                SignalKind::CallAbandoned { call_id: call_id.clone() }
            };
            signals.push(signal(&call_id, at, "", kind));
        }
        _ => {
            call.finished = true;
            let kind = SignalKind::CallRejected { call_id: call_id.to_owned(), status };
            signals.push(signal(call_id, at, &status.to_string(), kind));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::SipParser;
    use proptest::prelude::*;

    const CALL: &str = "call-1@10.0.0.1";
    const T0: i64 = 1_700_000_000;

    fn at(second: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(T0 + second, 0).expect("time")
    }

    /// The initial INVITE from 13800138000 (tag `caller`) to 4001, with the given CSeq.
    fn invite(cseq: u32) -> String {
        format!(
            "INVITE sip:4001@pbx SIP/2.0\r\n\
             Via: SIP/2.0/UDP 10.0.0.1:5080;branch=z9hG4bK-inv{cseq}\r\n\
             From: \"Caller\" <sip:13800138000@10.0.0.1>;tag=caller\r\n\
             To: <sip:4001@pbx>\r\n\
             Call-ID: {CALL}\r\n\
             CSeq: {cseq} INVITE\r\n\
             X-CID: leg-1\r\n\
             Contact: <sip:13800138000@10.0.0.1:5080>\r\n\
             Content-Length: 0\r\n\r\n"
        )
    }

    /// A response to the caller's request `cseq method`, from the fork tagged `to_tag`.
    fn response(status: &str, cseq: u32, method: &str, to_tag: Option<&str>, contact: Option<&str>) -> String {
        let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
        let contact = contact.map(|c| format!("Contact: <sip:{c}@10.0.0.5>\r\n")).unwrap_or_default();
        format!(
            "SIP/2.0 {status}\r\n\
             Via: SIP/2.0/UDP 10.0.0.1:5080;branch=z9hG4bK-inv{cseq}\r\n\
             From: \"Caller\" <sip:13800138000@10.0.0.1>;tag=caller\r\n\
             To: <sip:4001@pbx>{to_tag}\r\n\
             Call-ID: {CALL}\r\n\
             CSeq: {cseq} {method}\r\n\
             {contact}Content-Length: 0\r\n\r\n"
        )
    }

    /// An in-dialog request between the caller and the callee fork `callee_tag`.
    fn in_dialog(method: &str, cseq: u32, by_caller: bool, callee_tag: &str, extra: &str, body: &str) -> String {
        let (from, to) = if by_caller {
            ("<sip:13800138000@10.0.0.1>;tag=caller".to_owned(), format!("<sip:4001@pbx>;tag={callee_tag}"))
        } else {
            (format!("<sip:4001@pbx>;tag={callee_tag}"), "<sip:13800138000@10.0.0.1>;tag=caller".to_owned())
        };
        format!(
            "{method} sip:peer@10.0.0.9 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK-{method}{cseq}{by_caller}\r\n\
             From: {from}\r\nTo: {to}\r\nCall-ID: {CALL}\r\nCSeq: {cseq} {method}\r\n\
             {extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    fn sdp(direction: &str, address: &str) -> String {
        format!("v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 {address}\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n{direction}")
    }

    fn render(signal: &Signal) -> String {
        let when = signal.at.timestamp() - T0;
        let what = match &signal.kind {
            SignalKind::CallOffered { caller, dialled, correlation, .. } => {
                format!("offered {caller}->{dialled} corr={}", correlation.as_deref().unwrap_or("-"))
            }
            SignalKind::CallRinging { extension, .. } => format!("ringing {extension}"),
            SignalKind::CallAnswered { extension, .. } => format!("answered {extension}"),
            SignalKind::CallHeld { by, .. } => format!("held by {}", by.name()),
            SignalKind::CallResumed { by, .. } => format!("resumed by {}", by.name()),
            SignalKind::CallTransferred { target, .. } => format!("transferred to {target}"),
            SignalKind::CallEnded { by, .. } => format!("ended by {}", by.name()),
            SignalKind::CallAbandoned { .. } => "abandoned".to_owned(),
            SignalKind::CallCompletedElsewhere { .. } => "completed elsewhere".to_owned(),
            SignalKind::CallRejected { status, .. } => format!("rejected {status}"),
            SignalKind::CallTimedOut { .. } => "timed out".to_owned(),
            SignalKind::CallEndUnobserved { last_seen, .. } => {
                format!("end unobserved, last seen @{}", last_seen.timestamp() - T0)
            }
            SignalKind::PhoneRegistered { extension, contact, expires_seconds } => {
                format!("registered {extension} at {contact} for {expires_seconds}")
            }
            SignalKind::PhoneUnregistered { extension } => format!("unregistered {extension}"),
        };
        format!("@{when} {what}")
    }

    /// RFC 4475 `esc01` (its head): the call is offered as dialling what the Request-URI's user
    /// says, whatever To holds (the listener then refuses it as no number; see `sip`'s tests).
    #[test]
    fn rfc4475_esc01_is_offered_as_its_request_uri_says() {
        let raw = "INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0\r\n\
                   To: sip:%75se%72@example.com\r\n\
                   From: <sip:I%20have%20spaces@example.net>;tag=938\r\n\
                   Call-ID: 0ha0isndaksdj@10.0.0.1\r\n\
                   CSeq: 8 INVITE\r\n\r\n";
        let parsed = SipParser::default().parse(raw.as_bytes()).expect("parses").expect("not a keep-alive");
        let signals = DialogTracker::default().observe(at(0), &parsed);
        assert!(
            matches!(&signals[0].kind, SignalKind::CallOffered { dialled, .. } if dialled == "sips:user@example.com"),
            "{signals:?}"
        );
    }

    /// Feeds `(second, raw message)` steps (then ticks at the given seconds) and returns the signals.
    fn run(tracker: &mut DialogTracker, steps: &[(i64, String)], ticks: &[i64]) -> Vec<Signal> {
        let parser = SipParser::new(vec!["X-CID".into()]);
        let mut signals = Vec::new();
        for (second, raw) in steps {
            let message = parser.parse(raw.as_bytes()).expect("parses").expect("not a keep-alive");
            signals.extend(tracker.observe(at(*second), &message));
        }
        for second in ticks {
            signals.extend(tracker.tick(at(*second)));
        }
        signals
    }

    fn check(steps: &[(i64, String)], expect: &[&str]) {
        check_with_ticks(steps, &[], expect);
    }

    fn check_with_ticks(steps: &[(i64, String)], ticks: &[i64], expect: &[&str]) {
        let signals = run(&mut DialogTracker::default(), steps, ticks);
        let rendered: Vec<String> = signals.iter().map(render).collect();
        assert_eq!(rendered, expect);
    }

    /// A basic answered call that the caller ends.
    fn answered_call() -> Vec<(i64, String)> {
        vec![
            (0, invite(1)),
            (0, response("100 Trying", 1, "INVITE", None, None)),
            (1, response("180 Ringing", 1, "INVITE", Some("b1"), Some("4001"))),
            (5, response("200 OK", 1, "INVITE", Some("b1"), Some("4001"))),
            (5, in_dialog("ACK", 1, true, "b1", "", "")),
            (60, in_dialog("BYE", 2, true, "b1", "", "")),
            (60, response("200 OK", 2, "BYE", Some("b1"), None)),
        ]
    }

    const ANSWERED: [&str; 4] =
        ["@0 offered 13800138000->4001 corr=leg-1", "@1 ringing 4001", "@5 answered 4001", "@60 ended by caller"];

    #[test]
    fn answered_call_ended_by_the_caller() {
        check(&answered_call(), &ANSWERED);
    }

    #[test]
    fn answered_call_ended_by_the_callee() {
        let mut steps = answered_call();
        steps[5] = (60, in_dialog("BYE", 1, false, "b1", "", ""));
        steps.truncate(6);
        check(
            &steps,
            &["@0 offered 13800138000->4001 corr=leg-1", "@1 ringing 4001", "@5 answered 4001", "@60 ended by callee"],
        );
    }

    #[test]
    fn retransmissions_are_ignored() {
        let steps: Vec<(i64, String)> = answered_call().into_iter().flat_map(|step| [step.clone(), step]).collect();
        check(&steps, &ANSWERED);
    }

    #[test]
    fn a_mirroring_proxy_sending_both_copies_changes_nothing() {
        // The forwarded copy carries the proxy's Via on top, so its top branch differs.
        let forwarded = |raw: &String| {
            let (start, rest) = raw.split_once("\r\n").expect("start line");
            format!("{start}\r\nVia: SIP/2.0/UDP 10.0.0.254;branch=z9hG4bK-proxy{}\r\n{rest}", raw.len())
        };
        let steps: Vec<(i64, String)> =
            answered_call().into_iter().flat_map(|(t, raw)| [(t, raw.clone()), (t, forwarded(&raw))]).collect();
        let mirrored = run(&mut DialogTracker::default(), &steps, &[]);
        let direct = run(&mut DialogTracker::default(), &answered_call(), &[]);
        assert_eq!(mirrored, direct, "same signals with the same ids");
    }

    #[test]
    fn forks_ring_once_and_the_first_answer_wins() {
        check(
            &[
                (0, invite(1)),
                (1, response("180 Ringing", 1, "INVITE", Some("fa"), Some("4001"))),
                (1, response("183 Session Progress", 1, "INVITE", Some("fb"), Some("4002"))),
                (4, response("200 OK", 1, "INVITE", Some("fb"), Some("4002"))),
                (4, response("200 OK", 1, "INVITE", Some("fa"), Some("4001"))),
                // The caller hangs up the losing fork: not the end of the call.
                (4, in_dialog("BYE", 2, true, "fa", "", "")),
                (30, in_dialog("BYE", 9, false, "fb", "", "")),
            ],
            &["@0 offered 13800138000->4001 corr=leg-1", "@1 ringing 4001", "@4 answered 4002", "@30 ended by callee"],
        );
    }

    #[test]
    fn cancel_then_487_is_abandoned() {
        check(
            &[
                (0, invite(1)),
                (1, response("180 Ringing", 1, "INVITE", Some("b1"), None)),
                (9, in_dialog("CANCEL", 1, true, "", "", "").replace(";tag=\r\n", "\r\n")),
                (9, response("200 OK", 1, "CANCEL", Some("b1"), None)),
                (9, response("487 Request Terminated", 1, "INVITE", Some("b1"), None)),
            ],
            &["@0 offered 13800138000->4001 corr=leg-1", "@1 ringing 4001", "@9 abandoned"],
        );
    }

    #[test]
    fn cancel_completed_elsewhere_is_not_an_abandon() {
        let cancel =
            in_dialog("CANCEL", 1, true, "", "Reason: SIP;cause=200;text=\"Call completed elsewhere\"\r\n", "")
                .replace(";tag=\r\n", "\r\n");
        check_with_ticks(
            &[
                (0, invite(1)),
                (9, cancel.clone()),
                (9, response("487 Request Terminated", 1, "INVITE", Some("b1"), None)),
            ],
            &[500],
            &["@0 offered 13800138000->4001 corr=leg-1", "@9 completed elsewhere"],
        );
        // Its 487 lost, it still ends so at the set-up time-out, as of the CANCEL.
        check_with_ticks(
            &[(0, invite(1)), (9, cancel)],
            &[100, 190],
            &["@0 offered 13800138000->4001 corr=leg-1", "@9 completed elsewhere"],
        );
    }

    #[test]
    fn a_challenge_and_retry_is_one_call() {
        check(
            &[
                (0, invite(1)),
                (0, response("407 Proxy Authentication Required", 1, "INVITE", Some("px"), None)),
                (0, in_dialog("ACK", 1, true, "px", "", "")),
                (1, invite(2)),
                (2, response("180 Ringing", 2, "INVITE", Some("b1"), None)),
                // The first transaction's 407, seen late, is stale.
                (2, response("401 Unauthorized", 1, "INVITE", Some("px"), None)),
                (3, response("200 OK", 2, "INVITE", Some("b1"), Some("4001"))),
            ],
            &["@0 offered 13800138000->4001 corr=leg-1", "@2 ringing 4001", "@3 answered 4001"],
        );
    }

    #[test]
    fn a_challenge_never_retried_is_rejected_at_the_timeout() {
        check_with_ticks(
            &[(0, invite(1)), (0, response("401 Unauthorized", 1, "INVITE", Some("px"), None))],
            &[100, 181],
            &["@0 offered 13800138000->4001 corr=leg-1", "@0 rejected 401"],
        );
    }

    #[test]
    fn final_errors_reject_the_call() {
        for status in [
            "486 Busy Here",
            "408 Request Timeout",
            "480 Temporarily Unavailable",
            "603 Decline",
            "503 Service Unavailable",
        ] {
            let code = &status[..3];
            check(
                &[
                    (0, invite(1)),
                    (1, response("180 Ringing", 1, "INVITE", Some("b1"), None)),
                    (20, response(status, 1, "INVITE", Some("b1"), None)),
                    (20, response(status, 1, "INVITE", Some("b1"), None)),
                    // Nothing after the end counts.
                    (21, response("200 OK", 1, "INVITE", Some("b2"), None)),
                ],
                &["@0 offered 13800138000->4001 corr=leg-1", "@1 ringing 4001", &format!("@20 rejected {code}")],
            );
        }
    }

    #[test]
    fn hold_and_resume_by_either_side() {
        let mut steps = answered_call();
        steps.truncate(5);
        let reinvite = |cseq, by_caller, body: String| {
            in_dialog("INVITE", cseq, by_caller, "b1", "Content-Type: application/sdp\r\n", &body)
        };
        steps.extend([
            (10, reinvite(2, true, sdp("a=sendonly\r\n", "10.0.0.1"))),
            (10, reinvite(2, true, sdp("a=sendonly\r\n", "10.0.0.1"))),
            (11, reinvite(3, true, sdp("a=inactive\r\n", "10.0.0.1"))),
            (12, reinvite(1, false, sdp("", "0.0.0.0"))),
            (20, reinvite(4, true, sdp("a=sendrecv\r\n", "10.0.0.1"))),
            (21, reinvite(2, false, sdp("", "10.0.0.5"))),
            // A re-INVITE without SDP (late offer) says nothing about hold.
            (22, in_dialog("INVITE", 5, true, "b1", "", "")),
        ]);
        check(
            &steps,
            &[
                "@0 offered 13800138000->4001 corr=leg-1",
                "@1 ringing 4001",
                "@5 answered 4001",
                "@10 held by caller",
                "@12 held by callee",
                "@20 resumed by caller",
                "@21 resumed by callee",
            ],
        );
    }

    #[test]
    fn refer_transfers_the_call() {
        let mut steps = answered_call();
        steps.truncate(5);
        steps.push((30, in_dialog("REFER", 2, false, "b1", "Refer-To: <sip:4009@pbx>\r\n", "")));
        steps.push((31, in_dialog("BYE", 3, false, "b1", "", "")));
        check(
            &steps,
            &[
                "@0 offered 13800138000->4001 corr=leg-1",
                "@1 ringing 4001",
                "@5 answered 4001",
                "@30 transferred to 4009",
                "@31 ended by callee",
            ],
        );
    }

    fn register(cseq: u32, contact: &str, expires: &str) -> String {
        format!(
            "REGISTER sip:pbx SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.7:5062;branch=z9hG4bK-reg{cseq}\r\n\
             From: <sip:4001@pbx>;tag=r1\r\nTo: <sip:4001@pbx>\r\nCall-ID: reg-1\r\nCSeq: {cseq} REGISTER\r\n\
             Contact: {contact}\r\n{expires}Content-Length: 0\r\n\r\n"
        )
    }

    fn register_ok(status: &str, cseq: u32, contact: &str) -> String {
        format!(
            "SIP/2.0 {status}\r\nVia: SIP/2.0/UDP 10.0.0.7:5062;branch=z9hG4bK-reg{cseq}\r\n\
             From: <sip:4001@pbx>;tag=r1\r\nTo: <sip:4001@pbx>;tag=reg\r\nCall-ID: reg-1\r\nCSeq: {cseq} REGISTER\r\n\
             {contact}Content-Length: 0\r\n\r\n"
        )
    }

    #[test]
    fn registrations_give_phone_online_and_offline() {
        check(
            &[
                (0, register(1, "<sip:4001@10.0.0.7:5062>", "Expires: 600\r\n")),
                (0, register_ok("401 Unauthorized", 1, "")),
                (0, register(2, "<sip:4001@10.0.0.7:5062>", "Expires: 600\r\n")),
                // The registrar grants less than asked.
                (0, register_ok("200 OK", 2, "Contact: <sip:4001@10.0.0.7:5062>;expires=120\r\n")),
                (0, register_ok("200 OK", 2, "Contact: <sip:4001@10.0.0.7:5062>;expires=120\r\n")),
                // A refresh whose answer names no expiry keeps the asked one.
                (100, register(3, "<sip:4001@10.0.0.7:5062>;expires=300", "")),
                (100, register_ok("200 OK", 3, "")),
                (200, register(4, "<sip:4001@10.0.0.7:5062>", "Expires: 0\r\n")),
                (200, register_ok("200 OK", 4, "")),
                (300, register(5, "*", "Expires: 0\r\n")),
                (300, register_ok("200 OK", 5, "")),
            ],
            &[
                "@0 registered 4001 at sip:4001@10.0.0.7:5062 for 120",
                "@100 registered 4001 at sip:4001@10.0.0.7:5062 for 300",
                "@200 unregistered 4001",
                "@300 unregistered 4001",
            ],
        );
        // A 200 whose request was not seen uses its own Contact, or the default expiry.
        check(
            &[(0, register_ok("200 OK", 7, "Contact: <sip:4001@10.0.0.8>\r\n"))],
            &["@0 registered 4001 at sip:4001@10.0.0.8 for 3600"],
        );
    }

    /// A phone refreshing every 20 s on one Call-ID keeps its entry alive for ever: the requests
    /// and duplicate keys it holds must stay bounded, and the final un-REGISTER still be understood.
    #[test]
    fn a_long_lived_registration_stays_bounded_and_unregisters() {
        let mut tracker = DialogTracker::default();
        let mut steps = Vec::new();
        for cseq in 1..=300 {
            let second = i64::from(cseq) * 20;
            steps.push((second, register(cseq, "<sip:4001@10.0.0.7:5062>", "Expires: 60\r\n")));
            steps.push((second, register_ok("200 OK", cseq, "")));
        }
        steps.push((7000, register(301, "<sip:4001@10.0.0.7:5062>", "Expires: 0\r\n")));
        steps.push((7000, register_ok("200 OK", 301, "")));
        let signals = run(&mut tracker, &steps, &[]);
        assert_eq!(signals.len(), 301);
        assert_eq!(render(signals.last().expect("signals")), "@7000 unregistered 4001");
        let registration = tracker.registrations.get("reg-1").expect("tracked");
        assert!(registration.requests.is_empty() && registration.seen.len() <= MAX_SEEN);
    }

    #[test]
    fn silent_calls_time_out_and_are_forgotten() {
        let mut tracker = DialogTracker::default();
        let steps = [(0, invite(1)), (1, response("180 Ringing", 1, "INVITE", Some("b1"), None))];
        let signals = run(&mut tracker, &steps, &[180, 182]);
        assert_eq!(
            signals.iter().map(render).collect::<Vec<_>>(),
            ["@0 offered 13800138000->4001 corr=leg-1", "@1 ringing 4001", "@182 timed out"]
        );
        assert!(tracker.is_empty());

        // An answered call may stay silent for the idle timeout.
        let mut steps = answered_call();
        steps.truncate(5);
        let mut tracker = DialogTracker::default();
        let signals = run(&mut tracker, &steps, &[3600, 7205, 7206]);
        assert_eq!(render(signals.last().expect("signals")), "@7206 end unobserved, last seen @5");
        assert_eq!(signals.len(), 4);
        assert!(tracker.is_empty());
    }

    /// What the capture missed, message by message: each incomplete shape of a dialog still ends
    /// the call, in the state the messages seen imply.
    #[test]
    fn every_incomplete_dialog_reaches_an_end() {
        let call = answered_call();
        let without = |lost: &[usize]| -> Vec<(i64, String)> {
            call.iter().enumerate().filter(|(i, _)| !lost.contains(i)).map(|(_, step)| step.clone()).collect()
        };
        let ticks = [10_000];
        // Lost 200: the ACK of a 2xx says the call was answered, then.
        check_with_ticks(
            &without(&[3]),
            &ticks,
            &["@0 offered 13800138000->4001 corr=leg-1", "@1 ringing 4001", "@5 answered peer", "@60 ended by caller"],
        );
        // Lost 200 and its ACK: a caller's BYE may end an early dialog, so it says nothing of an
        // answer (the command side takes it as an abandon) ...
        check_with_ticks(
            &without(&[3, 4]),
            &ticks,
            &["@0 offered 13800138000->4001 corr=leg-1", "@1 ringing 4001", "@60 ended by caller"],
        );
        // ... but a callee may not, so its BYE says the call was answered.
        let mut callee_ends = without(&[3, 4, 5, 6]);
        callee_ends.push((60, in_dialog("BYE", 1, false, "b1", "Contact: <sip:4001@10.0.0.5>\r\n", "")));
        check_with_ticks(
            &callee_ends,
            &ticks,
            &["@0 offered 13800138000->4001 corr=leg-1", "@1 ringing 4001", "@60 answered 4001", "@60 ended by callee"],
        );
        // Lost ACK: nothing missing.
        check_with_ticks(&without(&[4]), &ticks, &ANSWERED);
        // Lost BYE (and its 200): the idle time-out ends it, saying when it was last seen.
        check_with_ticks(
            &without(&[5, 6]),
            &[7_206],
            &[
                "@0 offered 13800138000->4001 corr=leg-1",
                "@1 ringing 4001",
                "@5 answered 4001",
                "@7206 end unobserved, last seen @5",
            ],
        );
        let ringing = [(0, invite(1)), (1, response("180 Ringing", 1, "INVITE", Some("b1"), None))];
        let cancel = (9, in_dialog("CANCEL", 1, true, "", "", "").replace(";tag=\r\n", "\r\n"));
        let terminated = (9, response("487 Request Terminated", 1, "INVITE", Some("b1"), None));
        // Lost CANCEL: the 487 says the caller gave up.
        check_with_ticks(
            &[ringing[0].clone(), ringing[1].clone(), terminated.clone()],
            &ticks,
            &["@0 offered 13800138000->4001 corr=leg-1", "@1 ringing 4001", "@9 abandoned"],
        );
        // Lost 487: the CANCEL said it; the set-up time-out ends it, as of the CANCEL (the wait is
        // the caller's, not the time-out's).
        check_with_ticks(
            &[ringing[0].clone(), ringing[1].clone(), cancel],
            &[190],
            &["@0 offered 13800138000->4001 corr=leg-1", "@1 ringing 4001", "@9 abandoned"],
        );
        // 408 from the proxy: rejected.
        check_with_ticks(
            &[
                ringing[0].clone(),
                ringing[1].clone(),
                (32, response("408 Request Timeout", 1, "INVITE", Some("px"), None)),
            ],
            &ticks,
            &["@0 offered 13800138000->4001 corr=leg-1", "@1 ringing 4001", "@32 rejected 408"],
        );
        // Everything after the 180 lost: the set-up time-out.
        check_with_ticks(
            &ringing,
            &[182],
            &["@0 offered 13800138000->4001 corr=leg-1", "@1 ringing 4001", "@182 timed out"],
        );
    }

    /// Each call times out on the clock of the agent that captured it: one agent two hours ahead
    /// times its own call out on its own clock and leaves the other agent's call ringing.
    #[test]
    fn each_call_times_out_on_its_own_agents_clock() {
        let parser = SipParser::new(vec!["X-CID".into()]);
        let parse = |raw: &str| parser.parse(raw.as_bytes()).expect("parses").expect("not a keep-alive");
        let mut tracker = DialogTracker::default();
        let ahead = chrono::Duration::hours(2);
        tracker.observe_on_clock(at(0), chrono::Duration::zero(), &parse(&invite(1)));
        let other = invite(1).replace(CALL, "call-2");
        tracker.observe_on_clock(at(0) + ahead, ahead, &parse(&other));
        // 100 s later on the local clock neither has waited 180 s on its own clock.
        assert!(tracker.tick(at(100)).is_empty());
        let timed_out = tracker.tick(at(181));
        assert_eq!(timed_out.len(), 2, "{timed_out:?}");
        assert!(timed_out.iter().any(|s| s.at == at(181) + ahead), "the agent ahead's call on its clock");
    }

    #[test]
    fn the_ack_of_a_failure_is_no_answer() {
        // The 486 is lost; the caller's ACK of it reuses the INVITE's branch.
        let ack = in_dialog("ACK", 1, true, "b1", "", "").replace("z9hG4bK-ACK1true", "z9hG4bK-inv1");
        check_with_ticks(
            &[(0, invite(1)), (3, ack)],
            &[184],
            &["@0 offered 13800138000->4001 corr=leg-1", "@184 timed out"],
        );
    }

    #[test]
    fn a_bye_arriving_before_its_200_is_an_answered_call_and_counts_late() {
        // No reorder window here: the tracker gets the callee's BYE, then the 200 captured before it.
        let mut tracker = DialogTracker::default();
        let mut steps = answered_call();
        steps.truncate(3);
        let bye = in_dialog("BYE", 1, false, "b1", "Contact: <sip:4001@10.0.0.5>\r\n", "");
        steps.extend([(60, bye), (5, response("200 OK", 1, "INVITE", Some("b1"), Some("4001")))]);
        let signals = run(&mut tracker, &steps, &[]);
        assert_eq!(
            signals.iter().map(render).collect::<Vec<_>>(),
            ["@0 offered 13800138000->4001 corr=leg-1", "@1 ringing 4001", "@60 answered 4001", "@60 ended by callee"]
        );
        assert_eq!(tracker.late(), 1, "the 200 came after the BYE captured later");
        // The answer's id is the one the 200 would have given.
        let direct = run(&mut DialogTracker::default(), &answered_call(), &[]);
        assert_eq!(signals[2].id, direct[2].id);
    }

    #[test]
    fn finished_calls_are_forgotten_after_the_grace_period() {
        let mut tracker = DialogTracker::default();
        let signals = run(&mut tracker, &answered_call(), &[80]);
        assert_eq!(signals.len(), 4);
        assert_eq!(tracker.len(), 1, "kept for late retransmissions");
        // A late retransmitted BYE within the grace period is recognised.
        assert!(run(&mut tracker, &[(85, in_dialog("BYE", 2, true, "b1", "", ""))], &[]).is_empty());
        assert!(tracker.tick(at(85 + 33)).is_empty());
        assert!(tracker.is_empty());
    }

    #[test]
    fn out_of_order_messages_wait_for_their_invite() {
        check(
            &[
                (5, response("200 OK", 1, "INVITE", Some("b1"), Some("4001"))),
                (1, response("180 Ringing", 1, "INVITE", Some("b1"), Some("4001"))),
                (0, invite(1)),
                // Ringing after the answer is stale.
                (2, response("183 Session Progress", 1, "INVITE", Some("b2"), None)),
            ],
            &["@0 offered 13800138000->4001 corr=leg-1", "@1 ringing 4001", "@5 answered 4001"],
        );
        // Without the INVITE, nothing is said and the entry goes at the set-up timeout.
        let mut tracker = DialogTracker::default();
        assert!(run(&mut tracker, &[(0, in_dialog("BYE", 2, true, "b1", "", ""))], &[181]).is_empty());
        assert!(tracker.is_empty());
    }

    #[test]
    fn the_tracker_refuses_new_calls_when_full() {
        let mut tracker = DialogTracker::new(TrackerConfig { max_dialogs: 1, ..TrackerConfig::default() });
        let other = invite(1).replace(CALL, "call-2");
        let signals = run(&mut tracker, &[(0, invite(1)), (0, other)], &[]);
        assert_eq!(signals.len(), 1);
        assert_eq!(tracker.refused(), 1);
    }

    #[test]
    fn signal_ids_are_deterministic_and_distinct() {
        let first = run(&mut DialogTracker::default(), &answered_call(), &[]);
        let again = run(&mut DialogTracker::default(), &answered_call(), &[]);
        assert_eq!(first, again);
        let other: Vec<(i64, String)> =
            answered_call().into_iter().map(|(t, raw)| (t, raw.replace(CALL, "call-2"))).collect();
        let other = run(&mut DialogTracker::default(), &other, &[]);
        let ids: HashSet<Uuid> = first.iter().chain(&other).map(|s| s.id).collect();
        assert_eq!(ids.len(), 8);
    }

    /// SIPp's built-in `uac`/`uas` scenarios through the Kamailio rig (`shared/rigs/kamailio-hep-proxy.cfg`),
    /// with both mirror copies: the forwarded copy has the proxy's Via and, on the INVITE, its
    /// Record-Route.
    #[test]
    fn sipp_default_scenario_through_the_proxy() {
        let invite = "INVITE sip:service@127.0.0.1:5060 SIP/2.0\r\n\
            Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-4242-1-0\r\n\
            From: sipp <sip:sipp@127.0.0.1:5080>;tag=4242SIPpTag001\r\n\
            To: service <sip:service@127.0.0.1:5060>\r\n\
            Call-ID: 1-4242@127.0.0.1\r\n\
            CSeq: 1 INVITE\r\n\
            Contact: sip:sipp@127.0.0.1:5080\r\n\
            Max-Forwards: 70\r\n\
            Subject: Performance Test\r\n\
            Content-Type: application/sdp\r\n\
            Content-Length:   129\r\n\r\n\
            v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
            m=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
        let response = |status: &str, cseq: &str| {
            format!(
                "SIP/2.0 {status}\r\n\
                 Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKkam.0, SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-4242-1-0\r\n\
                 Record-Route: <sip:127.0.0.1;lr>\r\n\
                 From: sipp <sip:sipp@127.0.0.1:5080>;tag=4242SIPpTag001\r\n\
                 To: service <sip:service@127.0.0.1:5060>;tag=4243SIPpTag011\r\n\
                 Call-ID: 1-4242@127.0.0.1\r\n\
                 CSeq: {cseq}\r\n\
                 Contact: <sip:127.0.0.1:5070;transport=UDP>\r\n\
                 Content-Length: 0\r\n\r\n"
            )
        };
        let bye = "BYE sip:127.0.0.1:5070;transport=UDP SIP/2.0\r\n\
            Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-4242-1-5\r\n\
            Route: <sip:127.0.0.1;lr>\r\n\
            From: sipp <sip:sipp@127.0.0.1:5080>;tag=4242SIPpTag001\r\n\
            To: service <sip:service@127.0.0.1:5060>;tag=4243SIPpTag011\r\n\
            Call-ID: 1-4242@127.0.0.1\r\n\
            CSeq: 2 BYE\r\n\
            Contact: sip:sipp@127.0.0.1:5080\r\n\
            Max-Forwards: 70\r\n\
            Content-Length: 0\r\n\r\n";
        let forwarded = |raw: &str| {
            let (start, rest) = raw.split_once("\r\n").expect("start line");
            if start.starts_with("SIP/2.0") {
                // Going back, the proxy removes its own Via.
                let rest = rest.replacen("Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKkam.0, ", "Via: ", 1);
                format!("{start}\r\n{rest}")
            } else {
                format!("{start}\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKkam.1\r\nRecord-Route: <sip:127.0.0.1;lr>\r\n{rest}")
            }
        };
        let mut steps = Vec::new();
        for (second, raw) in [
            (0, invite.to_owned()),
            (0, response("100 Trying", "1 INVITE")),
            (0, response("180 Ringing", "1 INVITE")),
            (1, response("200 OK", "1 INVITE")),
            (61, bye.to_owned()),
            (61, response("200 OK", "2 BYE")),
        ] {
            steps.push((second, raw.clone()));
            steps.push((second, forwarded(&raw)));
        }
        check(
            &steps,
            &["@0 offered sipp->service corr=-", "@0 ringing service", "@1 answered service", "@61 ended by caller"],
        );
    }

    proptest! {
        /// Duplicating any messages (retransmissions, mirror copies) never changes the signals.
        #[test]
        fn duplicates_never_change_the_signals(copies in proptest::collection::vec(1usize..4, 7)) {
            let steps = answered_call();
            let duplicated: Vec<(i64, String)> =
                steps.iter().zip(&copies).flat_map(|(step, n)| std::iter::repeat_n(step.clone(), *n)).collect();
            let expected = run(&mut DialogTracker::default(), &steps, &[]);
            prop_assert_eq!(run(&mut DialogTracker::default(), &duplicated, &[]), expected);
        }

        /// Any order of the call's messages gives each signal at most once, and never panics.
        #[test]
        fn any_order_gives_each_signal_once(order in Just((0..7).collect::<Vec<usize>>()).prop_shuffle()) {
            let steps = answered_call();
            let shuffled: Vec<(i64, String)> = order.iter().map(|i| steps[*i].clone()).collect();
            let signals = run(&mut DialogTracker::default(), &shuffled, &[10_000]);
            let ids: HashSet<Uuid> = signals.iter().map(|s| s.id).collect();
            prop_assert_eq!(ids.len(), signals.len());
        }
    }
}
