//! Tamper evidence: canonical bytes of an event and the per-stream hash chain.
//!
//! `stream_hash(n) = SHA-256(stream_hash(n-1) ‖ canonical(n))`, with 32 zero bytes before the
//! first event. The canonical bytes frame every stored field with its length, so no change to any
//! field can be offset by a change to a neighbour. JSON is written with sorted keys and no spaces
//! ([`canonical_json`]) and stored as exactly that text.
//!
//! [`ChainVerifier`] replays these rules over the log in global order; `hotline verify` uses it,
//! hashing on every core ([`ChainVerifier::link`], [`Recomputer::check`]).

use super::{format_recorded_at, LogEntry, RecordedEvent, StoredEvent};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// JSON with object keys sorted and no insignificant whitespace.
pub fn canonical_json(value: &Value) -> String {
    let mut out = Vec::new();
    write_canonical_json(value, &mut out);
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// [`canonical_json`] appended to `out`, so that a caller hashing many events reuses one buffer.
pub fn write_canonical_json(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            out.push(b'{');
            // serde_json's map iterates in key order unless its `preserve_order` feature is on;
            // sort only when it does not.
            if map.keys().zip(map.keys().skip(1)).all(|(a, b)| a < b) {
                write_members(map.iter(), out);
            } else {
                let mut members: Vec<(&String, &Value)> = map.iter().collect();
                members.sort_by_key(|(key, _)| *key);
                write_members(members.into_iter(), out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical_json(item, out);
            }
            out.push(b']');
        }
        // Scalars as serde_json writes them (strings escaped, numbers in their shortest form).
        scalar => serde_json::to_writer(&mut *out, scalar).expect("writing JSON to memory cannot fail"),
    }
}

fn write_members<'a>(members: impl Iterator<Item = (&'a String, &'a Value)>, out: &mut Vec<u8>) {
    for (i, (key, value)) in members.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, key).expect("writing JSON to memory cannot fail");
        out.push(b':');
        write_canonical_json(value, out);
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
    hex::encode(input_digest(previous, input))
}

/// [`stream_hash`] before it is written as hex: every field framed with its length.
fn input_digest(previous: Option<&str>, input: &HashInput<'_>) -> [u8; 32] {
    digest(
        previous,
        [
            &input.global_position.to_be_bytes(),
            input.stream_id.as_bytes(),
            &input.stream_version.to_be_bytes(),
            input.event_id.as_bytes(),
            input.event_type.as_bytes(),
            &input.schema_version.to_be_bytes(),
            input.payload.as_bytes(),
            input.metadata.as_bytes(),
            input.recorded_at.as_bytes(),
        ],
    )
}

/// JSON that serde_json wrote, as text.
fn utf8(json: &[u8]) -> &str {
    std::str::from_utf8(json).expect("serde_json writes UTF-8")
}

/// SHA-256 of the previous hash (32 zero bytes when there is none, or when it is not hex) and
/// each field framed with its length.
fn digest(previous: Option<&str>, framed: [&[u8]; 9]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    let mut previous_bytes = [0u8; 32];
    match previous {
        Some(hex_hash) if hex::decode_to_slice(hex_hash, &mut previous_bytes).is_ok() => {
            hasher.update(previous_bytes);
        }
        // Not 64 hex digits: decoded as it is, whatever its length, or zeros when it is not hex.
        Some(hex_hash) => hasher.update(hex::decode(hex_hash).unwrap_or_else(|_| vec![0; 32])),
        None => hasher.update(previous_bytes),
    }
    for field in framed {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field);
    }
    hasher.finalize().into()
}

/// Recomputes a recorded event's hash from its fields.
pub fn recompute(previous: Option<&str>, event: &RecordedEvent) -> String {
    hex::encode(Recomputer::default().digest(previous, event))
}

/// Recomputes stored events' hashes, reusing its buffers from one event to the next; one per
/// thread.
#[derive(Debug, Default)]
pub struct Recomputer {
    payload: Vec<u8>,
    metadata: Vec<u8>,
}

impl Recomputer {
    /// The content half of [`ChainVerifier::check`]: whether the event's stored hash is the one
    /// its fields and `previous_hash` (from [`ChainVerifier::link`]) give, as [`recompute`]
    /// writes it.
    pub fn check(&mut self, previous_hash: Option<&str>, event: &RecordedEvent) -> Result<(), ChainViolation> {
        let mut hex_hash = [0u8; 64];
        hex::encode_to_slice(self.digest(previous_hash, event), &mut hex_hash).expect("64 hex digits hold 32 bytes");
        if hex_hash == event.stream_hash.as_bytes() {
            Ok(())
        } else {
            Err(ChainViolation::HashMismatch {
                position: event.global_position,
                stream: event.stream_id.to_string(),
                version: event.stream_version,
                event_id: event.event_id.to_string(),
            })
        }
    }

    /// [`Recomputer::check`] of an event as stored: its fields' bytes are hashed as they are, so
    /// nothing is parsed or written again (stored JSON is the canonical text the hash covers; text
    /// that is not would not give the stored hash either way).
    pub fn check_stored(&mut self, previous_hash: Option<&str>, event: &StoredEvent) -> Result<(), ChainViolation> {
        let digest = input_digest(
            previous_hash,
            &HashInput {
                global_position: event.global_position,
                stream_id: &event.stream_id,
                stream_version: event.stream_version,
                event_id: &event.event_id,
                event_type: &event.event_type,
                schema_version: event.schema_version,
                payload: &event.payload,
                metadata: &event.metadata,
                recorded_at: &event.recorded_at,
            },
        );
        let mut hex_hash = [0u8; 64];
        hex::encode_to_slice(digest, &mut hex_hash).expect("64 hex digits hold 32 bytes");
        if hex_hash == event.stream_hash.as_bytes() {
            Ok(())
        } else {
            Err(ChainViolation::HashMismatch {
                position: event.global_position,
                stream: event.stream_id.clone(),
                version: event.stream_version,
                event_id: event.event_id.clone(),
            })
        }
    }

    fn digest(&mut self, previous: Option<&str>, event: &RecordedEvent) -> [u8; 32] {
        let mut event_id = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let event_id = event.event_id.hyphenated().encode_lower(&mut event_id);
        self.payload.clear();
        write_canonical_json(&event.payload, &mut self.payload);
        self.metadata.clear();
        write_canonical_json(&event.metadata, &mut self.metadata);
        let recorded_at = format_recorded_at(&event.recorded_at);
        input_digest(
            previous,
            &HashInput {
                global_position: event.global_position,
                stream_id: event.stream_id.as_str(),
                stream_version: event.stream_version,
                event_id,
                event_type: &event.event_type,
                schema_version: event.schema_version,
                payload: utf8(&self.payload),
                metadata: utf8(&self.metadata),
                recorded_at: &recorded_at,
            },
        )
    }
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
///
/// [`ChainVerifier::check`] does all of it for one event. Its two halves can also run apart, so
/// that the costly one runs on every core: [`ChainVerifier::link`] (position and version, in
/// global order, cheap) hands each event the stored hash it chains from, and
/// [`Recomputer::check`] (the canonical bytes and SHA-256) needs nothing else, so events
/// can be hashed in any order on any thread — also several of one stream at once.
#[derive(Debug, Default)]
pub struct ChainVerifier {
    last_position: u64,
    streams: HashMap<String, (u64, String)>,
    checked: u64,
    recomputer: Recomputer,
}

impl ChainVerifier {
    /// Checks the next event.
    pub fn check(&mut self, event: &RecordedEvent) -> Result<(), ChainViolation> {
        let previous_hash = previous_hash(self.last_position, &self.streams, event)?;
        self.recomputer.check(previous_hash, event)?;
        self.advance(event);
        self.checked += 1;
        Ok(())
    }

    /// The order half of [`ChainVerifier::check`], for the next event: its position and stream
    /// version. Returns the stored hash its own must chain from (`None` for a stream's first
    /// event), to give [`Recomputer::check`]. The event is then taken as its stream's
    /// latest, as if its hash held: stop at the first event where either half fails. Not counted
    /// in [`ChainVerifier::checked`].
    pub fn link(&mut self, event: &impl LogEntry) -> Result<Option<String>, ChainViolation> {
        let previous_hash = previous_hash(self.last_position, &self.streams, event)?.map(str::to_owned);
        self.advance(event);
        Ok(previous_hash)
    }

    /// Events checked so far by [`ChainVerifier::check`].
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// Takes the event as its stream's latest.
    fn advance(&mut self, event: &impl LogEntry) {
        self.last_position = event.position();
        match self.streams.get_mut(event.stream()) {
            Some(last) => {
                last.0 = event.version();
                last.1.clear();
                last.1.push_str(event.stored_hash());
            }
            None => {
                self.streams.insert(event.stream().to_owned(), (event.version(), event.stored_hash().to_owned()));
            }
        }
    }
}

/// Checks the event's position and version against the last ones; returns its stream's last
/// stored hash.
fn previous_hash<'a>(
    last_position: u64,
    streams: &'a HashMap<String, (u64, String)>,
    event: &impl LogEntry,
) -> Result<Option<&'a str>, ChainViolation> {
    if event.position() != last_position + 1 {
        return Err(ChainViolation::PositionGap { previous: last_position, found: event.position() });
    }
    let (previous_version, previous_hash) = match streams.get(event.stream()) {
        Some((version, hash)) => (*version, Some(hash.as_str())),
        None => (0, None),
    };
    if event.version() != previous_version + 1 {
        return Err(ChainViolation::VersionGap {
            stream: event.stream().to_owned(),
            previous: previous_version,
            found: event.version(),
            position: event.position(),
        });
    }
    Ok(previous_hash)
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
