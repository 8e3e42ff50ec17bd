//! The wire identity of events, and upcasting of old versions.
//!
//! Every event enum serializes as `{"event_type": "...", "payload": {...}}` with an explicit
//! `#[serde(rename = "...")]` on each variant, so the stored `event_type` never follows a Rust
//! rename. [`EventCodec::decode`] first runs the category's upcasters, which turn an older
//! `schema_version` of a payload into the current one; stored events are never rewritten.

use serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Value};

/// An event ready to be stored: its wire identity and payload.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedEvent {
    /// Past-tense wire name, e.g. `TicketDispatched`.
    pub event_type: String,
    /// The payload's version; bumped together with a new upcaster.
    pub schema_version: u32,
    /// The event's data.
    pub payload: Value,
}

/// Why a stored event could not be turned back into a domain event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The category has no event of this type.
    #[error("unknown event type {event_type} (schema version {schema_version})")]
    UnknownEventType {
        /// The stored type.
        event_type: String,
        /// The stored version.
        schema_version: u32,
    },
    /// The version is newer than this build knows, or no upcaster covers it.
    #[error("no upcaster for {event_type} from schema version {schema_version}")]
    UnsupportedVersion {
        /// The stored type.
        event_type: String,
        /// The stored version.
        schema_version: u32,
    },
    /// The payload does not match the event's shape.
    #[error("malformed payload of {event_type}: {reason}")]
    MalformedPayload {
        /// The stored type.
        event_type: String,
        /// What serde said.
        reason: String,
    },
}

/// Encoding and decoding of one category's events.
pub trait EventCodec: Sized {
    /// The wire form of this event at its current schema version.
    fn encode(&self) -> EncodedEvent;

    /// Decodes a stored event, upcasting older schema versions first.
    fn decode(event_type: &str, schema_version: u32, payload: Value) -> Result<Self, DecodeError>;

    /// Decodes a stored event from its payload's text, as [`EventCodec::decode`] does: the same
    /// result and errors. Categories implement it with [`decode_tagged_text`], which reads an
    /// event at its current schema version straight from the text, with no `Value` in between
    /// (rehydration's hot path).
    fn decode_text(event_type: &str, schema_version: u32, payload: &str) -> Result<Self, DecodeError> {
        let value = serde_json::from_str(payload).map_err(|error| DecodeError::MalformedPayload {
            event_type: event_type.to_owned(),
            reason: error.to_string(),
        })?;
        Self::decode(event_type, schema_version, value)
    }
}

/// The one way event enums implement [`EventCodec`]: serde's adjacently tagged form, a table of
/// current versions (absent means 1) and an upcaster for older ones.
pub(crate) fn encode_tagged<E: Serialize>(event: &E, versions: &[(&str, u32)]) -> EncodedEvent {
    let value = serde_json::to_value(event).expect("domain events serialize to JSON");
    let Value::Object(mut map) = value else { unreachable!("event enums are adjacently tagged objects") };
    let event_type = match map.remove("event_type") {
        Some(Value::String(name)) => name,
        _ => unreachable!("event enums carry an event_type tag"),
    };
    let payload = map.remove("payload").unwrap_or_else(|| json!({}));
    let schema_version = current_version(versions, &event_type);
    EncodedEvent { event_type, schema_version, payload }
}

/// Decodes with `upcast(event_type, from_version, payload) -> Option<payload at from_version + 1>`.
pub(crate) fn decode_tagged<E: DeserializeOwned>(
    event_type: &str,
    schema_version: u32,
    mut payload: Value,
    versions: &[(&str, u32)],
    upcast: fn(&str, u32, Value) -> Option<Value>,
) -> Result<E, DecodeError> {
    let current = current_version(versions, event_type);
    let unsupported = || DecodeError::UnsupportedVersion { event_type: event_type.to_owned(), schema_version };
    if schema_version == 0 || schema_version > current {
        return Err(unsupported());
    }
    for version in schema_version..current {
        payload = upcast(event_type, version, payload).ok_or_else(unsupported)?;
    }
    serde_json::from_value(json!({ "event_type": event_type, "payload": payload })).map_err(|error| {
        let reason = error.to_string();
        // Only an unknown *event type* is that; an unknown enum value inside a payload is malformed.
        if reason.starts_with(&format!("unknown variant `{event_type}`")) {
            DecodeError::UnknownEventType { event_type: event_type.to_owned(), schema_version }
        } else {
            DecodeError::MalformedPayload { event_type: event_type.to_owned(), reason }
        }
    })
}

/// [`decode_tagged`] from the payload's text: at the current schema version it deserializes the
/// text itself; an older version is parsed and upcast as [`decode_tagged`] does.
pub(crate) fn decode_tagged_text<E: DeserializeOwned>(
    event_type: &str,
    schema_version: u32,
    payload: &str,
    versions: &[(&str, u32)],
    upcast: fn(&str, u32, Value) -> Option<Value>,
) -> Result<E, DecodeError> {
    let malformed = |error: serde_json::Error| DecodeError::MalformedPayload {
        event_type: event_type.to_owned(),
        reason: error.to_string(),
    };
    if schema_version != current_version(versions, event_type) {
        let value = serde_json::from_str(payload).map_err(malformed)?;
        return decode_tagged(event_type, schema_version, value, versions, upcast);
    }
    let tag = serde_json::to_string(event_type).expect("a string serializes");
    let wrapped = format!("{{\"event_type\":{tag},\"payload\":{payload}}}");
    serde_json::from_str(&wrapped).map_err(|error| {
        let reason = error.to_string();
        if reason.starts_with(&format!("unknown variant `{event_type}`")) {
            DecodeError::UnknownEventType { event_type: event_type.to_owned(), schema_version }
        } else {
            DecodeError::MalformedPayload { event_type: event_type.to_owned(), reason }
        }
    })
}

fn current_version(versions: &[(&str, u32)], event_type: &str) -> u32 {
    versions.iter().find(|(name, _)| *name == event_type).map_or(1, |(_, v)| *v)
}

/// Upcasters that have nothing to do: categories whose events are all at version 1.
pub(crate) fn no_upcasters(_: &str, _: u32, _: Value) -> Option<Value> {
    None
}
