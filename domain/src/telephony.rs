//! A tenant's telephony configuration, changed by admins without code: queues and the dialled
//! numbers routed to them, seats and the IP phone (extension) bound to each, and the blacklist of
//! caller numbers. Stream `telephony-<tenant>`.
//!
//! The command layer folds this stream into a [`TelephonyConfig`] and asks it, for every new call,
//! where the call goes ([`TelephonyConfig::route`]): the queue of the dialled number with its
//! service-level and short-abandon thresholds, and whether the caller is blacklisted. Those facts
//! travel in [`crate::call::CallAction::Offer`], so a later configuration change never rewrites a
//! call under way and the call's events record the thresholds they were judged by.
//!
//! Configuring a queue exactly as it is, or routing a number to the queue it already goes to,
//! decides nothing; every other repeat (a second seat with the same id, binding a bound seat or
//! phone, blacklisting a blacklisted number) is refused with a typed [`TelephonyError`].
//!
//! Numbers are matched exactly as [`PhoneNumber::parse`] left them; the adapter normalises what the
//! signalling carries (prefixes, `+86`) before it asks.

use crate::codec::{decode_tagged, encode_tagged, no_upcasters, EncodedEvent};
use crate::text::{Text, CODE, NAME, NOTE, PHONE_NUMBER};
use crate::values::PhoneNumber;
use crate::{Decider, DecodeError, EventCodec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Marker type of the telephony configuration decider.
pub struct Telephony;

macro_rules! code_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

code_id!(
    /// A call queue (技能组/队列), e.g. `repair`.
    QueueId
);
code_id!(
    /// An agent seat (坐席位), e.g. `A-01`.
    SeatId
);
code_id!(
    /// An IP phone's extension (分机号), e.g. `8001`: the SIP user part it registers with.
    Extension
);

/// Seconds within which an answer counts towards the service level, where none is configured.
pub const DEFAULT_SERVICE_LEVEL_SECONDS: u32 = 20;
/// Waits shorter than this count as short abandons (短时放弃), where none is configured.
pub const DEFAULT_SHORT_ABANDON_SECONDS: u32 = 5;
/// Seconds a seat rings before the call returns to the queue, where none is configured.
pub const DEFAULT_RING_TIMEOUT_SECONDS: u32 = 30;

/// A queue and its thresholds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueConfig {
    /// Its id.
    pub queue_id: QueueId,
    /// What Chinese users see, e.g. `报修专线`.
    pub name_zh: String,
    /// T of the service level: an answer within this many seconds counts (default 20).
    pub service_level_seconds: u32,
    /// A wait shorter than this many seconds is a short abandon (default 5).
    pub short_abandon_seconds: u32,
    /// Seconds a seat rings before the call goes back to the queue (default 30).
    pub ring_timeout_seconds: u32,
}

impl QueueConfig {
    /// A queue with the default thresholds.
    pub fn new(queue_id: QueueId, name_zh: impl Into<String>) -> QueueConfig {
        QueueConfig {
            queue_id,
            name_zh: name_zh.into(),
            service_level_seconds: DEFAULT_SERVICE_LEVEL_SECONDS,
            short_abandon_seconds: DEFAULT_SHORT_ABANDON_SECONDS,
            ring_timeout_seconds: DEFAULT_RING_TIMEOUT_SECONDS,
        }
    }
}

/// Where a new call goes and what it is judged by: the answer of [`TelephonyConfig::route`],
/// carried into [`crate::call::CallAction::Offer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRouting {
    /// The dialled number's queue; `None` when the number is not routed.
    pub queue: Option<QueueId>,
    /// The queue's service-level T, or the default.
    pub service_level_seconds: u32,
    /// The queue's short-abandon threshold, or the default.
    pub short_abandon_seconds: u32,
    /// Whether the caller's number is on the tenant's blacklist.
    pub blacklisted: bool,
}

/// Admin commands on a tenant's telephony configuration.
#[derive(Debug, Clone, PartialEq)]
pub enum TelephonyCommand {
    /// Creates a queue or replaces its name and thresholds.
    ConfigureQueue(QueueConfig),
    /// Routes calls to a dialled number (e.g. the hotline `96069`) to a queue; a later route for the
    /// same number replaces it.
    RouteNumber {
        /// The number callers dial.
        dialled: PhoneNumber,
        /// An existing queue.
        queue: QueueId,
    },
    /// Stops routing a dialled number.
    UnrouteNumber {
        /// The number.
        dialled: PhoneNumber,
    },
    /// Creates a seat.
    DefineSeat {
        /// Its id.
        seat: SeatId,
        /// What users see, e.g. `一号坐席`.
        name_zh: String,
    },
    /// Binds an IP phone to a seat; both must be free (one-to-one).
    BindPhone {
        /// An existing seat with no phone.
        seat: SeatId,
        /// An extension bound to no seat.
        extension: Extension,
    },
    /// Frees a seat's phone.
    UnbindPhone {
        /// A seat with a phone.
        seat: SeatId,
    },
    /// Puts a caller number on the blacklist (黑名单).
    BlacklistNumber {
        /// The caller number.
        number: PhoneNumber,
        /// Why (mandatory, shown to supervisors).
        reason: String,
    },
    /// Takes a number off the blacklist.
    RemoveFromBlacklist {
        /// The caller number.
        number: PhoneNumber,
        /// Why (mandatory).
        reason: String,
    },
}

/// Facts of a tenant's telephony configuration stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "payload")]
pub enum TelephonyEvent {
    /// A queue was created or reconfigured.
    #[serde(rename = "QueueConfigured")]
    QueueConfigured(QueueConfig),
    /// A dialled number now goes to a queue.
    #[serde(rename = "NumberRouted")]
    NumberRouted {
        /// The number.
        dialled: String,
        /// The queue.
        queue: QueueId,
    },
    /// A dialled number no longer goes to a queue.
    #[serde(rename = "NumberUnrouted")]
    NumberUnrouted {
        /// The number.
        dialled: String,
        /// The queue it went to.
        queue: QueueId,
    },
    /// A seat was created.
    #[serde(rename = "SeatDefined")]
    SeatDefined {
        /// Its id.
        seat: SeatId,
        /// Its name.
        name_zh: String,
    },
    /// A phone was bound to a seat.
    #[serde(rename = "PhoneBound")]
    PhoneBound {
        /// The seat.
        seat: SeatId,
        /// The phone.
        extension: Extension,
    },
    /// A seat's phone was unbound.
    #[serde(rename = "PhoneUnbound")]
    PhoneUnbound {
        /// The seat.
        seat: SeatId,
        /// The phone it had.
        extension: Extension,
    },
    /// A number was blacklisted.
    #[serde(rename = "NumberBlacklisted")]
    NumberBlacklisted {
        /// The caller number.
        number: String,
        /// Why the number is blocked or unblocked, for the audit trail (mandatory).
        reason: String,
    },
    /// A number was taken off the blacklist.
    #[serde(rename = "NumberRemovedFromBlacklist")]
    NumberRemovedFromBlacklist {
        /// The caller number.
        number: String,
        /// Why the number is blocked or unblocked, for the audit trail (mandatory).
        reason: String,
    },
}

const TELEPHONY_VERSIONS: &[(&str, u32)] = &[];

impl EventCodec for TelephonyEvent {
    fn encode(&self) -> EncodedEvent {
        encode_tagged(self, TELEPHONY_VERSIONS)
    }

    fn decode(event_type: &str, schema_version: u32, payload: serde_json::Value) -> Result<Self, DecodeError> {
        decode_tagged(event_type, schema_version, payload, TELEPHONY_VERSIONS, no_upcasters)
    }

    fn decode_text(event_type: &str, schema_version: u32, payload: &str) -> Result<Self, DecodeError> {
        crate::codec::decode_tagged_text(event_type, schema_version, payload, TELEPHONY_VERSIONS, no_upcasters)
    }
}

/// A seat and its phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatConfig {
    /// What users see.
    pub name_zh: String,
    /// The bound phone, if any.
    pub extension: Option<Extension>,
}

/// A tenant's telephony configuration, folded from its stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TelephonyConfig {
    /// Queues by id.
    pub queues: BTreeMap<QueueId, QueueConfig>,
    /// Dialled number → queue.
    pub routes: BTreeMap<String, QueueId>,
    /// Seats by id.
    pub seats: BTreeMap<SeatId, SeatConfig>,
    /// Extension → seat: the other half of the one-to-one binding.
    pub extensions: BTreeMap<Extension, SeatId>,
    /// Blacklisted caller number → reason.
    pub blacklist: BTreeMap<String, String>,
}

impl TelephonyConfig {
    /// The queue calls to `dialled` go to.
    pub fn queue_for(&self, dialled: &PhoneNumber) -> Option<&QueueConfig> {
        self.routes.get(&dialled.0).and_then(|queue| self.queues.get(queue))
    }

    /// The seat a phone is bound to.
    pub fn seat_for(&self, extension: &Extension) -> Option<&SeatId> {
        self.extensions.get(extension)
    }

    /// The phone bound to a seat.
    pub fn extension_of(&self, seat: &SeatId) -> Option<&Extension> {
        self.seats.get(seat).and_then(|s| s.extension.as_ref())
    }

    /// Whether calls from `number` are refused.
    pub fn is_blacklisted(&self, number: &PhoneNumber) -> bool {
        self.blacklist.contains_key(&number.0)
    }

    /// Where a call from `caller` to `dialled` goes and the thresholds it is judged by; an unrouted
    /// number gets the default thresholds and no queue.
    pub fn route(&self, caller: &PhoneNumber, dialled: &PhoneNumber) -> CallRouting {
        let queue = self.queue_for(dialled);
        CallRouting {
            queue: queue.map(|q| q.queue_id.clone()),
            service_level_seconds: queue.map_or(DEFAULT_SERVICE_LEVEL_SECONDS, |q| q.service_level_seconds),
            short_abandon_seconds: queue.map_or(DEFAULT_SHORT_ABANDON_SECONDS, |q| q.short_abandon_seconds),
            blacklisted: self.is_blacklisted(caller),
        }
    }
}

/// Why a telephony configuration command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, strum::IntoStaticStr)]
pub enum TelephonyError {
    /// Ids and extensions are 1 to 32 of ASCII letters, digits, `-`, `_` and `.`.
    #[error("invalid {kind} {value:?}: use 1 to 32 of a-z, A-Z, 0-9, -, _ and .")]
    InvalidId {
        /// Which id: `queue`, `seat` or `extension`.
        kind: &'static str,
        /// What was given.
        value: String,
    },
    /// A mandatory text is empty.
    #[error("{0} is required")]
    Required(&'static str),
    /// A threshold is out of its range.
    #[error("{name} of {value} seconds is outside {min} to {max}")]
    InvalidThreshold {
        /// Which threshold.
        name: &'static str,
        /// What was given.
        value: u32,
        /// Smallest allowed.
        min: u32,
        /// Largest allowed.
        max: u32,
    },
    /// No queue with this id.
    #[error("unknown queue {0}")]
    UnknownQueue(String),
    /// The number is not routed.
    #[error("number {0} is not routed")]
    NumberNotRouted(String),
    /// No seat with this id.
    #[error("unknown seat {0}")]
    UnknownSeat(String),
    /// The seat exists already.
    #[error("seat {0} exists already")]
    SeatExists(String),
    /// The seat has a phone already; unbind it first.
    #[error("seat {seat} is bound to extension {extension} already")]
    SeatAlreadyBound {
        /// The seat.
        seat: String,
        /// Its phone.
        extension: String,
    },
    /// The phone is bound to a seat already; unbind it first.
    #[error("extension {extension} is bound to seat {seat} already")]
    ExtensionAlreadyBound {
        /// The phone.
        extension: String,
        /// Its seat.
        seat: String,
    },
    /// The seat has no phone to unbind.
    #[error("seat {0} has no phone")]
    SeatNotBound(String),
    /// The number is on the blacklist already.
    #[error("number {0} is blacklisted already")]
    NumberAlreadyBlacklisted(String),
    /// The number is not on the blacklist.
    #[error("number {0} is not blacklisted")]
    NumberNotBlacklisted(String),
}

impl TelephonyError {
    /// The rule's stable name (the variant name), for `extensions.rule` and sync results.
    pub fn rule(&self) -> &'static str {
        self.into()
    }
}

impl Decider for Telephony {
    type State = TelephonyConfig;
    type Command = TelephonyCommand;
    type Event = TelephonyEvent;
    type Error = TelephonyError;
    const CATEGORY: &'static str = "telephony";

    fn texts(command: &TelephonyCommand) -> Vec<Text<'_>> {
        use TelephonyCommand as C;
        match command {
            C::ConfigureQueue(queue) => {
                vec![Text::new("queueId", CODE, &queue.queue_id.0), Text::new("nameZh", NAME, &queue.name_zh)]
            }
            C::RouteNumber { dialled, queue } => {
                vec![Text::new("dialled", PHONE_NUMBER, &dialled.0), Text::new("queue", CODE, &queue.0)]
            }
            C::UnrouteNumber { dialled } => vec![Text::new("dialled", PHONE_NUMBER, &dialled.0)],
            C::DefineSeat { seat, name_zh } => {
                vec![Text::new("seat", CODE, &seat.0), Text::new("nameZh", NAME, name_zh)]
            }
            C::BindPhone { seat, extension } => {
                vec![Text::new("seat", CODE, &seat.0), Text::new("extension", CODE, &extension.0)]
            }
            C::UnbindPhone { seat } => vec![Text::new("seat", CODE, &seat.0)],
            C::BlacklistNumber { number, reason } | C::RemoveFromBlacklist { number, reason } => {
                vec![Text::new("number", PHONE_NUMBER, &number.0), Text::new("reason", NOTE, reason)]
            }
        }
    }

    fn decide(config: &TelephonyConfig, command: &TelephonyCommand) -> Result<Vec<TelephonyEvent>, TelephonyError> {
        match command {
            TelephonyCommand::ConfigureQueue(queue) => {
                check_id("queue", &queue.queue_id.0)?;
                check_text("name_zh", &queue.name_zh)?;
                check_threshold("service_level_seconds", queue.service_level_seconds, 1, 3600)?;
                check_threshold("short_abandon_seconds", queue.short_abandon_seconds, 0, 600)?;
                check_threshold("ring_timeout_seconds", queue.ring_timeout_seconds, 1, 600)?;
                if config.queues.get(&queue.queue_id) == Some(queue) {
                    return Ok(vec![]);
                }
                Ok(vec![TelephonyEvent::QueueConfigured(queue.clone())])
            }
            TelephonyCommand::RouteNumber { dialled, queue } => {
                if !config.queues.contains_key(queue) {
                    return Err(TelephonyError::UnknownQueue(queue.0.clone()));
                }
                if config.routes.get(&dialled.0) == Some(queue) {
                    return Ok(vec![]);
                }
                Ok(vec![TelephonyEvent::NumberRouted { dialled: dialled.0.clone(), queue: queue.clone() }])
            }
            TelephonyCommand::UnrouteNumber { dialled } => {
                let queue =
                    config.routes.get(&dialled.0).ok_or_else(|| TelephonyError::NumberNotRouted(dialled.0.clone()))?;
                Ok(vec![TelephonyEvent::NumberUnrouted { dialled: dialled.0.clone(), queue: queue.clone() }])
            }
            TelephonyCommand::DefineSeat { seat, name_zh } => {
                check_id("seat", &seat.0)?;
                check_text("name_zh", name_zh)?;
                if config.seats.contains_key(seat) {
                    return Err(TelephonyError::SeatExists(seat.0.clone()));
                }
                Ok(vec![TelephonyEvent::SeatDefined { seat: seat.clone(), name_zh: name_zh.clone() }])
            }
            TelephonyCommand::BindPhone { seat, extension } => {
                check_id("extension", &extension.0)?;
                let current = config.seats.get(seat).ok_or_else(|| TelephonyError::UnknownSeat(seat.0.clone()))?;
                if let Some(bound) = &current.extension {
                    return Err(TelephonyError::SeatAlreadyBound { seat: seat.0.clone(), extension: bound.0.clone() });
                }
                if let Some(other) = config.extensions.get(extension) {
                    return Err(TelephonyError::ExtensionAlreadyBound {
                        extension: extension.0.clone(),
                        seat: other.0.clone(),
                    });
                }
                Ok(vec![TelephonyEvent::PhoneBound { seat: seat.clone(), extension: extension.clone() }])
            }
            TelephonyCommand::UnbindPhone { seat } => {
                let current = config.seats.get(seat).ok_or_else(|| TelephonyError::UnknownSeat(seat.0.clone()))?;
                let extension =
                    current.extension.clone().ok_or_else(|| TelephonyError::SeatNotBound(seat.0.clone()))?;
                Ok(vec![TelephonyEvent::PhoneUnbound { seat: seat.clone(), extension }])
            }
            TelephonyCommand::BlacklistNumber { number, reason } => {
                check_text("reason", reason)?;
                if config.is_blacklisted(number) {
                    return Err(TelephonyError::NumberAlreadyBlacklisted(number.0.clone()));
                }
                Ok(vec![TelephonyEvent::NumberBlacklisted { number: number.0.clone(), reason: reason.clone() }])
            }
            TelephonyCommand::RemoveFromBlacklist { number, reason } => {
                check_text("reason", reason)?;
                if !config.is_blacklisted(number) {
                    return Err(TelephonyError::NumberNotBlacklisted(number.0.clone()));
                }
                Ok(vec![TelephonyEvent::NumberRemovedFromBlacklist {
                    number: number.0.clone(),
                    reason: reason.clone(),
                }])
            }
        }
    }

    fn evolve(mut config: TelephonyConfig, event: &TelephonyEvent) -> TelephonyConfig {
        match event {
            TelephonyEvent::QueueConfigured(queue) => {
                config.queues.insert(queue.queue_id.clone(), queue.clone());
            }
            TelephonyEvent::NumberRouted { dialled, queue } => {
                config.routes.insert(dialled.clone(), queue.clone());
            }
            TelephonyEvent::NumberUnrouted { dialled, .. } => {
                config.routes.remove(dialled);
            }
            TelephonyEvent::SeatDefined { seat, name_zh } => {
                config.seats.insert(seat.clone(), SeatConfig { name_zh: name_zh.clone(), extension: None });
            }
            TelephonyEvent::PhoneBound { seat, extension } => {
                if let Some(current) = config.seats.get_mut(seat) {
                    current.extension = Some(extension.clone());
                }
                config.extensions.insert(extension.clone(), seat.clone());
            }
            TelephonyEvent::PhoneUnbound { seat, extension } => {
                if let Some(current) = config.seats.get_mut(seat) {
                    current.extension = None;
                }
                config.extensions.remove(extension);
            }
            TelephonyEvent::NumberBlacklisted { number, reason } => {
                config.blacklist.insert(number.clone(), reason.clone());
            }
            TelephonyEvent::NumberRemovedFromBlacklist { number, .. } => {
                config.blacklist.remove(number);
            }
        }
        config
    }
}

fn check_id(kind: &'static str, value: &str) -> Result<(), TelephonyError> {
    let valid = (1..=32).contains(&value.len())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(TelephonyError::InvalidId { kind, value: value.to_owned() })
    }
}

fn check_text(name: &'static str, value: &str) -> Result<(), TelephonyError> {
    if value.trim().is_empty() {
        Err(TelephonyError::Required(name))
    } else {
        Ok(())
    }
}

fn check_threshold(name: &'static str, value: u32, min: u32, max: u32) -> Result<(), TelephonyError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(TelephonyError::InvalidThreshold { name, value, min, max })
    }
}

#[cfg(test)]
mod tests;
