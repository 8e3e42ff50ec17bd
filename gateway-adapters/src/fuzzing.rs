//! The bodies of the fuzz targets in `gateway-adapters/fuzz/`. They live here so the ordinary test
//! suite can run them over the checked-in corpus (`tests/fuzz_corpus.rs`) on stable Rust, while
//! `cargo fuzz` (nightly) explores further. Each returns the invariant it found broken, if any;
//! the fuzz target turns that into a crash.

use chrono::{DateTime, Utc};

use crate::dialog::DialogTracker;
use crate::hep::HepPacket;
use crate::sip::{normalise, SipParser};

/// An invariant a fuzz target found broken on some input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invariant broken: {0}")]
pub struct InvariantBroken(pub String);

/// Decodes arbitrary bytes as HEP3 (with and without an authentication key); whatever decodes must
/// encode and decode back to itself.
pub fn hep_decode(data: &[u8]) -> Result<(), InvariantBroken> {
    let _ = HepPacket::decode(data, Some(b"fuzz-key"));
    let Ok(packet) = HepPacket::decode(data, None) else { return Ok(()) };
    let encoded = packet.encode(None).map_err(|e| InvariantBroken(format!("decoded packet does not encode: {e}")))?;
    match HepPacket::decode(&encoded, None) {
        Ok(again) if again == packet => Ok(()),
        other => Err(InvariantBroken(format!("re-encoded packet decodes differently: {other:?}"))),
    }
}

/// Normalises and parses arbitrary bytes as SIP and feeds what parses to a dialog tracker (then
/// ticks it far into the future); normalising must be idempotent.
pub fn sip_parse(data: &[u8]) -> Result<(), InvariantBroken> {
    if let Ok(Some(once)) = normalise(data) {
        match normalise(&once) {
            Ok(Some(twice)) if twice == once => {}
            other => return Err(InvariantBroken(format!("normalising twice differs: {other:?}"))),
        }
    }
    let parser = SipParser::new(vec!["X-CID".to_owned()]);
    let mut tracker = DialogTracker::default();
    let at = DateTime::<Utc>::UNIX_EPOCH;
    // The same message twice, as a mirroring proxy would send it, and split at NUL bytes so
    // one input exercises several messages of one dialog (NUL bytes separate messages).
    // The tracker recognises at most 256 duplicates per call, so stay below that.
    for part in data.split(|b| *b == 0).take(100) {
        if let Ok(Some(message)) = parser.parse(part) {
            let first = tracker.observe(at, &message);
            let second = tracker.observe(at, &message);
            if !second.is_empty() {
                return Err(InvariantBroken(format!("a duplicate produced signals: {second:?} after {first:?}")));
            }
        }
    }
    let _ = tracker.tick(at + chrono::Duration::days(1));
    Ok(())
}
