//! Golden event histories (JSONL under `fixtures/`) replayed through the domain's upcasters and
//! deciders, snapshotted with insta. Old schema versions stay in the fixtures for ever: decoding
//! them must never fail.
//!
//! A fixture line is one stored event: `stream_id`, `stream_version`, `event_type`,
//! `schema_version`, `payload` and `metadata`. [`load`] reads a fixture; the tests decode it,
//! fold it per stream and replay it into every projection. [`scenarios`] records new fixtures
//! through the real command path (`cargo run -p hotline-replay-tests --bin record-fixtures`).
//!
//! # Architecture Invariants
//! - No network, no database: fixtures in, snapshots out.

pub mod scenarios;

use serde_json::Value;
use std::path::{Path, PathBuf};

/// One event of a fixture.
#[derive(Debug, Clone, PartialEq)]
pub struct FixtureEvent {
    /// `<category>-<id>`.
    pub stream_id: String,
    /// 1-based.
    pub stream_version: u64,
    /// Wire name.
    pub event_type: String,
    /// As recorded.
    pub schema_version: u32,
    /// As recorded.
    pub payload: Value,
    /// As recorded.
    pub metadata: Value,
}

/// Why a fixture could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// Which file.
        path: PathBuf,
        /// The I/O error reading it.
        source: std::io::Error,
    },
    /// A line is not an event.
    #[error("{path}:{line}: {reason}")]
    Line {
        /// Which file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// The folder of the fixtures.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Reads a fixture; blank lines and lines starting with `#` are skipped.
pub fn load(path: &Path) -> Result<Vec<FixtureEvent>, FixtureError> {
    let text = std::fs::read_to_string(path).map_err(|source| FixtureError::Io { path: path.to_owned(), source })?;
    let mut events = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let error = |reason: String| FixtureError::Line { path: path.to_owned(), line: index + 1, reason };
        let value: Value = serde_json::from_str(line).map_err(|e| error(e.to_string()))?;
        let text_field = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
        let number_field = |name: &str| value.get(name).and_then(Value::as_u64);
        events.push(FixtureEvent {
            stream_id: text_field("stream_id").ok_or_else(|| error("stream_id missing".into()))?,
            stream_version: number_field("stream_version").ok_or_else(|| error("stream_version missing".into()))?,
            event_type: text_field("event_type").ok_or_else(|| error("event_type missing".into()))?,
            schema_version: number_field("schema_version").ok_or_else(|| error("schema_version missing".into()))?
                as u32,
            payload: value.get("payload").cloned().ok_or_else(|| error("payload missing".into()))?,
            metadata: value.get("metadata").cloned().ok_or_else(|| error("metadata missing".into()))?,
        });
    }
    Ok(events)
}
