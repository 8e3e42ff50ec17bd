//! Tamper evidence: canonical bytes of an event and the per-stream hash chain.
//!
//! `stream_hash(n) = SHA-256(stream_hash(n-1) ‖ canonical(n))`, with 32 zero bytes before the
//! first event. The canonical bytes frame every stored field with its length, so no change to any
//! field can be offset by a change to a neighbour. JSON is written with sorted keys and no spaces
//! ([`canonical_json`]) and stored as exactly that text.
//!
//! [`ChainVerifier`] replays these rules over the log in global order; `hotline verify` uses it.

use super::{format_recorded_at, RecordedEvent, StreamId};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// JSON with object keys sorted and no insignificant whitespace.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The fields a stream hash covers, as stored.
#[derive(Debug, Clone, Copy)]
pub struct HashInput<'a> {
    /// Position in the whole log.
    pub global_position: u64,
    /// The stream's name, `<category>-<id>`.
    pub stream_id: &'a str,
    /// Version within the stream, from 1.
    pub stream_version: u64,
    /// Event id, hyphenated lowercase.
    pub event_id: &'a str,
    /// Wire name.
    pub event_type: &'a str,
    /// The payload's schema version, as stored (before any upcast).
    pub schema_version: u32,
    /// Canonical JSON of the payload.
    pub payload: &'a str,
    /// Canonical JSON of the metadata.
    pub metadata: &'a str,
    /// [`format_recorded_at`] of the commit time.
    pub recorded_at: &'a str,
}

/// The chained hash of one event, lowercase hex; `previous` is `None` for a stream's first event.
pub fn stream_hash(previous: Option<&str>, input: &HashInput<'_>) -> String {
    let mut hasher = Sha256::new();
    let previous_bytes = previous.and_then(|hex_hash| hex::decode(hex_hash).ok()).unwrap_or_else(|| vec![0; 32]);
    hasher.update(&previous_bytes);
    let framed: [&[u8]; 9] = [
        &input.global_position.to_be_bytes(),
        input.stream_id.as_bytes(),
        &input.stream_version.to_be_bytes(),
        input.event_id.as_bytes(),
        input.event_type.as_bytes(),
        &input.schema_version.to_be_bytes(),
        input.payload.as_bytes(),
        input.metadata.as_bytes(),
        input.recorded_at.as_bytes(),
    ];
    for field in framed {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field);
    }
    hex::encode(hasher.finalize())
}

/// Recomputes a recorded event's hash from its fields.
pub fn recompute(previous: Option<&str>, event: &RecordedEvent) -> String {
    let event_id = event.event_id.hyphenated().to_string();
    let payload = canonical_json(&event.payload);
    let metadata = canonical_json(&event.metadata);
    let recorded_at = format_recorded_at(&event.recorded_at);
    stream_hash(
        previous,
        &HashInput {
            global_position: event.global_position,
            stream_id: event.stream_id.as_str(),
            stream_version: event.stream_version,
            event_id: &event_id,
            event_type: &event.event_type,
            schema_version: event.schema_version,
            payload: &payload,
            metadata: &metadata,
            recorded_at: &recorded_at,
        },
    )
}

/// The first thing found wrong in the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainViolation {
    /// A position is missing or out of order (a deleted or inserted row).
    #[error("position {found} follows {previous}: events are missing or reordered")]
    PositionGap {
        /// Last position seen.
        previous: u64,
        /// The next one found.
        found: u64,
    },
    /// A stream version is missing or out of order.
    #[error("stream {stream} jumps from version {previous} to {found} at position {position}")]
    VersionGap {
        /// The stream whose chain breaks there.
        stream: String,
        /// Last version seen.
        previous: u64,
        /// Version found.
        found: u64,
        /// The global position of the offending event.
        position: u64,
    },
    /// The stored hash does not match the event's content and its predecessor.
    #[error("event {event_id} at position {position} (stream {stream} version {version}) was altered: hash mismatch")]
    HashMismatch {
        /// The global position of the offending event.
        position: u64,
        /// The stream whose chain breaks there.
        stream: String,
        /// The offending event's version in its stream.
        version: u64,
        /// Event id as stored.
        event_id: String,
    },
}

/// Checks the log event by event, in global order.
#[derive(Debug, Default)]
pub struct ChainVerifier {
    last_position: u64,
    streams: HashMap<StreamId, (u64, String)>,
    checked: u64,
}

impl ChainVerifier {
    /// Checks the next event.
    pub fn check(&mut self, event: &RecordedEvent) -> Result<(), ChainViolation> {
        if event.global_position != self.last_position + 1 {
            return Err(ChainViolation::PositionGap { previous: self.last_position, found: event.global_position });
        }
        let (previous_version, previous_hash) = match self.streams.get(&event.stream_id) {
            Some((version, hash)) => (*version, Some(hash.as_str())),
            None => (0, None),
        };
        if event.stream_version != previous_version + 1 {
            return Err(ChainViolation::VersionGap {
                stream: event.stream_id.to_string(),
                previous: previous_version,
                found: event.stream_version,
                position: event.global_position,
            });
        }
        if recompute(previous_hash, event) != event.stream_hash {
            return Err(ChainViolation::HashMismatch {
                position: event.global_position,
                stream: event.stream_id.to_string(),
                version: event.stream_version,
                event_id: event.event_id.to_string(),
            });
        }
        self.last_position = event.global_position;
        self.streams.insert(event.stream_id.clone(), (event.stream_version, event.stream_hash.clone()));
        self.checked += 1;
        Ok(())
    }

    /// Events checked so far.
    pub fn checked(&self) -> u64 {
        self.checked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let value = json!({"b": 1, "a": {"d": [1, {"z": null, "y": "中"}], "c": 2.5}});
        assert_eq!(canonical_json(&value), r#"{"a":{"c":2.5,"d":[1,{"y":"中","z":null}]},"b":1}"#);
    }

    #[test]
    fn stream_hash_changes_with_every_field_and_the_predecessor() {
        let base = HashInput {
            global_position: 1,
            stream_id: "ticket-1",
            stream_version: 1,
            event_id: "e",
            event_type: "TicketCreated",
            schema_version: 2,
            payload: "{}",
            metadata: "{}",
            recorded_at: "2026-11-23T09:00:00.000000Z",
        };
        let h = stream_hash(None, &base);
        let variants = [
            HashInput { global_position: 2, ..base },
            HashInput { stream_id: "ticket-2", ..base },
            HashInput { stream_version: 2, ..base },
            HashInput { event_id: "f", ..base },
            HashInput { event_type: "TicketClosed", ..base },
            HashInput { schema_version: 1, ..base },
            HashInput { payload: "{\"a\":1}", ..base },
            HashInput { metadata: "{\"a\":1}", ..base },
            HashInput { recorded_at: "2026-11-23T09:00:00.000001Z", ..base },
            // Framing: moving a byte between neighbouring fields changes the hash.
            HashInput { event_id: "eT", event_type: "icketCreated", ..base },
        ];
        for variant in variants {
            assert_ne!(stream_hash(None, &variant), h, "{variant:?}");
        }
        assert_ne!(stream_hash(Some(&h), &base), h);
    }
}

#[cfg(test)]
mod roundtrip {
    use super::canonical_json;
    use proptest::prelude::*;

    proptest! {
        // Regression: GPS floats re-parsed one ULP off broke verification of stored events;
        // canonical text must survive a parse unchanged for every float.
        #[test]
        fn canonical_json_survives_parsing(latitude in -90.0f64..90.0, celsius in proptest::num::f64::NORMAL, n in any::<i64>()) {
            let value = serde_json::json!({ "latitude": latitude, "celsius": celsius, "n": n, "s": "中文" });
            let text = canonical_json(&value);
            let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(canonical_json(&parsed), text);
        }
    }
}
