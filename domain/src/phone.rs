//! An IP phone by its extension: online while its SIP registration lasts. Stream
//! `phone-<tenant>-<extension>` (see [`PhoneKey`]).
//!
//! The adapter turns REGISTER traffic into [`PhoneCommand::Register`] and
//! [`PhoneCommand::Unregister`]; a registration that is never refreshed runs out, and a process
//! manager that wakes at `expires_at` sends [`PhoneCommand::ExpireRegistration`], which takes effect
//! only if the phone did not register again meanwhile.
//!
//! # Decisions
//! - `Register` with `expires_seconds` 0 is SIP's way to remove a binding: it unregisters a
//!   registered phone and decides nothing for one that is not.
//! - A re-registration records a new `expires_at` (`refreshed: true` when the contact is the same);
//!   a retransmission with the same contact and expiry decides nothing.

use crate::codec::{decode_tagged, encode_tagged, no_upcasters, EncodedEvent};
use crate::telephony::Extension;
use crate::text::{Text, CODE, URI};
use crate::values::TenantId;
use crate::{Decider, DecodeError, EventCodec};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Marker type of the phone decider.
pub struct Phone;

/// The longest registration accepted, in seconds (one week).
pub const MAX_EXPIRES_SECONDS: u32 = 7 * 24 * 3600;

/// The id part of a phone's stream name: `<tenant>-<extension>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneKey {
    /// The tenant.
    pub tenant: TenantId,
    /// The extension.
    pub extension: Extension,
}

impl fmt::Display for PhoneKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.tenant, self.extension)
    }
}

/// Commands on a phone.
#[derive(Debug, Clone, PartialEq)]
pub enum PhoneCommand {
    /// A REGISTER was accepted.
    Register {
        /// The tenant.
        tenant: TenantId,
        /// The phone.
        extension: Extension,
        /// The Contact URI it registered.
        contact: String,
        /// The granted expiry; 0 removes the registration.
        expires_seconds: u32,
        /// When it happened: the SIP capture time, or the expiry instant for an expiry (UTC).
        at: DateTime<Utc>,
    },
    /// A REGISTER removed the binding (or the phone said goodbye).
    Unregister {
        /// When it happened: the SIP capture time, or the expiry instant for an expiry (UTC).
        at: DateTime<Utc>,
    },
    /// The registration's time is up (sent by a process manager at `expires_at`).
    ExpireRegistration {
        /// When it happened: the SIP capture time, or the expiry instant for an expiry (UTC).
        at: DateTime<Utc>,
    },
}

/// Facts of a phone stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "payload")]
pub enum PhoneEvent {
    /// The phone registered (online).
    #[serde(rename = "PhoneRegistered")]
    Registered {
        /// The subsidiary whose telephony configuration the phone belongs to.
        tenant: TenantId,
        /// The phone's extension (SIP user of its address of record).
        extension: Extension,
        /// Contact URI.
        contact: String,
        /// Granted expiry.
        expires_seconds: u32,
        /// When it runs out unless refreshed.
        expires_at: DateTime<Utc>,
        /// Whether it refreshes a live registration of the same contact.
        refreshed: bool,
        /// When it happened: the SIP capture time, or the expiry instant for an expiry (UTC).
        at: DateTime<Utc>,
    },
    /// The phone unregistered (offline).
    #[serde(rename = "PhoneUnregistered")]
    Unregistered {
        /// The subsidiary whose telephony configuration the phone belongs to.
        tenant: TenantId,
        /// The phone's extension (SIP user of its address of record).
        extension: Extension,
        /// The contact it had.
        contact: String,
        /// When it happened: the SIP capture time, or the expiry instant for an expiry (UTC).
        at: DateTime<Utc>,
    },
    /// The registration ran out (offline).
    #[serde(rename = "PhoneRegistrationExpired")]
    RegistrationExpired {
        /// The subsidiary whose telephony configuration the phone belongs to.
        tenant: TenantId,
        /// The phone's extension (SIP user of its address of record).
        extension: Extension,
        /// The contact it had.
        contact: String,
        /// When it ran out.
        expires_at: DateTime<Utc>,
        /// When that was noticed.
        at: DateTime<Utc>,
    },
}

const PHONE_VERSIONS: &[(&str, u32)] = &[];

impl EventCodec for PhoneEvent {
    fn encode(&self) -> EncodedEvent {
        encode_tagged(self, PHONE_VERSIONS)
    }

    fn decode(event_type: &str, schema_version: u32, payload: serde_json::Value) -> Result<Self, DecodeError> {
        decode_tagged(event_type, schema_version, payload, PHONE_VERSIONS, no_upcasters)
    }

    fn decode_text(event_type: &str, schema_version: u32, payload: &str) -> Result<Self, DecodeError> {
        crate::codec::decode_tagged_text(event_type, schema_version, payload, PHONE_VERSIONS, no_upcasters)
    }
}

/// State of a phone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhoneState {
    /// Tenant, once seen.
    pub tenant: Option<TenantId>,
    /// Extension, once seen.
    pub extension: Option<Extension>,
    /// Whether registered now.
    pub registered: bool,
    /// The registered contact.
    pub contact: String,
    /// When the registration runs out.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Why a phone command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, strum::IntoStaticStr)]
pub enum PhoneError {
    /// Nothing to unregister or expire.
    #[error("phone is not registered")]
    PhoneNotRegistered,
    /// The registration was refreshed and lasts longer.
    #[error("registration lasts until {expires_at}")]
    RegistrationNotExpired {
        /// When it runs out now.
        expires_at: DateTime<Utc>,
    },
    /// Expiries are 0 to [`MAX_EXPIRES_SECONDS`].
    #[error("expiry of {0} seconds is longer than a week")]
    InvalidExpiry(u32),
    /// A mandatory text is empty.
    #[error("{0} is required")]
    Required(&'static str),
}

impl PhoneError {
    /// The rule's stable name (the variant name), for `extensions.rule` and sync results.
    pub fn rule(&self) -> &'static str {
        self.into()
    }
}

impl Decider for Phone {
    type State = PhoneState;
    type Command = PhoneCommand;
    type Event = PhoneEvent;
    type Error = PhoneError;
    const CATEGORY: &'static str = "phone";

    fn texts(command: &PhoneCommand) -> Vec<Text<'_>> {
        match command {
            PhoneCommand::Register { tenant, extension, contact, .. } => vec![
                Text::new("tenant", CODE, &tenant.0),
                Text::new("extension", CODE, &extension.0),
                Text::new("contact", URI, contact),
            ],
            PhoneCommand::Unregister { .. } | PhoneCommand::ExpireRegistration { .. } => Vec::new(),
        }
    }

    fn decide(state: &PhoneState, command: &PhoneCommand) -> Result<Vec<PhoneEvent>, PhoneError> {
        let unregistered = |at: DateTime<Utc>| -> Result<Vec<PhoneEvent>, PhoneError> {
            match (state.registered, &state.tenant, &state.extension) {
                (true, Some(tenant), Some(extension)) => Ok(vec![PhoneEvent::Unregistered {
                    tenant: tenant.clone(),
                    extension: extension.clone(),
                    contact: state.contact.clone(),
                    at,
                }]),
                _ => Err(PhoneError::PhoneNotRegistered),
            }
        };
        match command {
            PhoneCommand::Register { tenant, extension, contact, expires_seconds, at } => {
                if contact.trim().is_empty() {
                    return Err(PhoneError::Required("contact"));
                }
                if *expires_seconds > MAX_EXPIRES_SECONDS {
                    return Err(PhoneError::InvalidExpiry(*expires_seconds));
                }
                if *expires_seconds == 0 {
                    return if state.registered { unregistered(*at) } else { Ok(vec![]) };
                }
                let expires_at = *at + Duration::seconds(i64::from(*expires_seconds));
                let same_contact = state.registered && state.contact == *contact;
                if same_contact && state.expires_at == Some(expires_at) {
                    return Ok(vec![]);
                }
                Ok(vec![PhoneEvent::Registered {
                    tenant: tenant.clone(),
                    extension: extension.clone(),
                    contact: contact.clone(),
                    expires_seconds: *expires_seconds,
                    expires_at,
                    refreshed: same_contact,
                    at: *at,
                }])
            }
            PhoneCommand::Unregister { at } => unregistered(*at),
            PhoneCommand::ExpireRegistration { at } => {
                let (true, Some(tenant), Some(extension), Some(expires_at)) =
                    (state.registered, &state.tenant, &state.extension, state.expires_at)
                else {
                    return Err(PhoneError::PhoneNotRegistered);
                };
                if *at < expires_at {
                    return Err(PhoneError::RegistrationNotExpired { expires_at });
                }
                Ok(vec![PhoneEvent::RegistrationExpired {
                    tenant: tenant.clone(),
                    extension: extension.clone(),
                    contact: state.contact.clone(),
                    expires_at,
                    at: *at,
                }])
            }
        }
    }

    fn evolve(mut state: PhoneState, event: &PhoneEvent) -> PhoneState {
        match event {
            PhoneEvent::Registered { tenant, extension, contact, expires_at, .. } => {
                state.tenant = Some(tenant.clone());
                state.extension = Some(extension.clone());
                state.registered = true;
                state.contact = contact.clone();
                state.expires_at = Some(*expires_at);
            }
            PhoneEvent::Unregistered { .. } | PhoneEvent::RegistrationExpired { .. } => {
                state.registered = false;
                state.expires_at = None;
            }
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::given;
    use chrono::TimeZone;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap() + Duration::seconds(s)
    }

    fn tenant() -> TenantId {
        TenantId("tj01".into())
    }

    fn ext() -> Extension {
        Extension("8001".into())
    }

    fn register(contact: &str, expires_seconds: u32, s: i64) -> PhoneCommand {
        PhoneCommand::Register {
            tenant: tenant(),
            extension: ext(),
            contact: contact.into(),
            expires_seconds,
            at: at(s),
        }
    }

    fn registered(contact: &str, s: i64, refreshed: bool) -> PhoneEvent {
        PhoneEvent::Registered {
            tenant: tenant(),
            extension: ext(),
            contact: contact.into(),
            expires_seconds: 3600,
            expires_at: at(s + 3600),
            refreshed,
            at: at(s),
        }
    }

    const CONTACT: &str = "sip:8001@10.0.0.21:5060";

    fn unregistered(s: i64) -> PhoneEvent {
        PhoneEvent::Unregistered { tenant: tenant(), extension: ext(), contact: CONTACT.into(), at: at(s) }
    }

    #[test]
    fn phone_key_names_tenant_and_extension() {
        assert_eq!(PhoneKey { tenant: tenant(), extension: ext() }.to_string(), "tj01-8001");
    }

    #[test]
    fn register_accepted() {
        given::<Phone>(vec![]).when(register(CONTACT, 3600, 0)).then(vec![registered(CONTACT, 0, false)]);
    }

    #[test]
    fn register_again_refreshes_the_expiry() {
        given::<Phone>(vec![registered(CONTACT, 0, false)])
            .when(register(CONTACT, 3600, 1800))
            .then(vec![registered(CONTACT, 1800, true)]);
        given::<Phone>(vec![registered(CONTACT, 0, false)])
            .when(register("sip:8001@10.0.0.99:5060", 3600, 1800))
            .then(vec![registered("sip:8001@10.0.0.99:5060", 1800, false)]);
    }

    #[test]
    fn register_retransmitted_decides_nothing() {
        given::<Phone>(vec![registered(CONTACT, 0, false)]).when(register(CONTACT, 3600, 0)).then(vec![]);
    }

    #[test]
    fn register_with_zero_expiry_unregisters() {
        given::<Phone>(vec![registered(CONTACT, 0, false)]).when(register(CONTACT, 0, 60)).then(vec![unregistered(60)]);
        given::<Phone>(vec![]).when(register(CONTACT, 0, 60)).then(vec![]);
    }

    #[test]
    fn register_rejected_without_contact_or_with_too_long_expiry() {
        given::<Phone>(vec![]).when(register(" ", 3600, 0)).then_err(PhoneError::Required("contact"));
        given::<Phone>(vec![])
            .when(register(CONTACT, MAX_EXPIRES_SECONDS + 1, 0))
            .then_err(PhoneError::InvalidExpiry(MAX_EXPIRES_SECONDS + 1));
    }

    #[test]
    fn unregister_accepted() {
        given::<Phone>(vec![registered(CONTACT, 0, false)])
            .when(PhoneCommand::Unregister { at: at(60) })
            .then(vec![unregistered(60)]);
    }

    #[test]
    fn unregister_rejected_when_not_registered() {
        given::<Phone>(vec![]).when(PhoneCommand::Unregister { at: at(60) }).then_err(PhoneError::PhoneNotRegistered);
        given::<Phone>(vec![registered(CONTACT, 0, false), unregistered(10)])
            .when(PhoneCommand::Unregister { at: at(60) })
            .then_err(PhoneError::PhoneNotRegistered);
    }

    #[test]
    fn expire_registration_accepted_at_expiry() {
        given::<Phone>(vec![registered(CONTACT, 0, false)])
            .when(PhoneCommand::ExpireRegistration { at: at(3600) })
            .then(vec![PhoneEvent::RegistrationExpired {
                tenant: tenant(),
                extension: ext(),
                contact: CONTACT.into(),
                expires_at: at(3600),
                at: at(3600),
            }]);
    }

    #[test]
    fn expire_registration_rejected_after_a_refresh() {
        given::<Phone>(vec![registered(CONTACT, 0, false), registered(CONTACT, 1800, true)])
            .when(PhoneCommand::ExpireRegistration { at: at(3600) })
            .then_err(PhoneError::RegistrationNotExpired { expires_at: at(5400) });
    }

    #[test]
    fn expire_registration_rejected_when_not_registered() {
        given::<Phone>(vec![registered(CONTACT, 0, false), unregistered(10)])
            .when(PhoneCommand::ExpireRegistration { at: at(3600) })
            .then_err(PhoneError::PhoneNotRegistered);
    }

    #[test]
    fn codec_round_trips_every_event() {
        let events = vec![
            registered(CONTACT, 0, false),
            unregistered(60),
            PhoneEvent::RegistrationExpired {
                tenant: tenant(),
                extension: ext(),
                contact: CONTACT.into(),
                expires_at: at(3600),
                at: at(3601),
            },
        ];
        let names: Vec<String> = events.iter().map(|e| e.encode().event_type).collect();
        assert_eq!(names, ["PhoneRegistered", "PhoneUnregistered", "PhoneRegistrationExpired"]);
        for event in events {
            let encoded = event.encode();
            assert_eq!(encoded.schema_version, 1);
            assert_eq!(PhoneEvent::decode(&encoded.event_type, 1, encoded.payload.clone()), Ok(event), "{encoded:?}");
        }
    }
}
