//! Witnesses: copies of the signed checkpoints kept outside the database.
//!
//! A checkpoint in the log proves the events before it only to someone who trusts the log to be
//! complete: whoever holds the database can cut off its tail, checkpoints included, or rewrite
//! and re-hash the events after the last checkpoint. So the sealer also hands every checkpoint to
//! each [`Witness`] — a [`WitnessFile`] (one JSON line per checkpoint, appended and fsync'd, in a
//! directory kept apart from the data), and with NATS a JetStream subject of its own
//! (`hotline_projections::bus::NatsWitness`) — and `hotline verify --witness` checks the log
//! against what they hold: a log shorter than, or different from, a witnessed checkpoint fails.
//!
//! A [`WitnessRecord`] is the checkpoint as signed, where it sits in the log (`position`) and when
//! it was sealed. Witnesses are keyed by that position, which only grows along the log, so each
//! one knows what it already holds ([`Witness::last_position`]) and a restarted sealer hands it
//! only what is missing.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hotline_domain::seal::Checkpoint;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The file a witness directory holds.
pub const WITNESS_FILE: &str = "witness.jsonl";

/// One witnessed checkpoint: a line of a witness file, a message on the witness subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessRecord {
    /// The log position of the `CheckpointSealed` event itself.
    pub position: u64,
    /// When it was sealed (server clock).
    pub sealed_at: DateTime<Utc>,
    /// The checkpoint as signed: number, size, last position covered, roots, key id, signature.
    #[serde(flatten)]
    pub checkpoint: Checkpoint,
}

/// Why a witness could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// The witness file could not be read or written.
    #[error("witness file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// A remote witness (NATS) refused or is unreachable.
    #[error("witness {witness}: {reason}")]
    Remote {
        /// Which witness.
        witness: String,
        /// What went wrong.
        reason: String,
    },
}

/// Somewhere checkpoints are kept that whoever holds the database cannot rewrite.
#[async_trait]
pub trait Witness: Send + Sync {
    /// Where it is, for logs and reports.
    fn describe(&self) -> String;
    /// The log position of the last checkpoint it holds (0: none).
    async fn last_position(&self) -> Result<u64, WitnessError>;
    /// Keeps one more checkpoint; returns once it is durable.
    async fn append(&self, record: &WitnessRecord) -> Result<(), WitnessError>;
}

/// A witness file: one [`WitnessRecord`] as JSON per line, only ever appended to, each line
/// fsync'd before the sealer moves on. Keep it on another disk or machine than the database (a
/// mount of a log host, a directory only the hotline user may append to: `chattr +a`).
#[derive(Debug, Clone)]
pub struct WitnessFile {
    path: PathBuf,
}

impl WitnessFile {
    /// The witness file of a directory (`DIR/witness.jsonl`), or the file itself when `path` is
    /// not a directory.
    pub fn at(path: &Path) -> WitnessFile {
        let path = if path.is_dir() { path.join(WITNESS_FILE) } else { path.to_owned() };
        WitnessFile { path }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every record in the file, in order, and the numbers (1-based) of the lines that are not
    /// records: a line cut short by a crash while it was written (the next record then starts a
    /// line of its own). Only a file that cannot be read at all is an error.
    pub fn read(&self) -> Result<(Vec<WitnessRecord>, Vec<usize>), WitnessError> {
        let text = std::fs::read_to_string(&self.path)
            .map_err(|source| WitnessError::Io { path: self.path.clone(), source })?;
        let mut records = Vec::new();
        let mut unreadable = Vec::new();
        for (i, line) in text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()) {
            match serde_json::from_str(line) {
                Ok(record) => records.push(record),
                Err(_) => unreadable.push(i + 1),
            }
        }
        Ok((records, unreadable))
    }
}

#[async_trait]
impl Witness for WitnessFile {
    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }

    async fn last_position(&self) -> Result<u64, WitnessError> {
        match self.read() {
            Ok((records, _)) => Ok(records.iter().map(|r| r.position).max().unwrap_or(0)),
            Err(WitnessError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(error) => Err(error),
        }
    }

    async fn append(&self, record: &WitnessRecord) -> Result<(), WitnessError> {
        use std::io::{Read, Seek, Write};
        let io = |source| WitnessError::Io { path: self.path.clone(), source };
        let mut line = serde_json::to_string(record).expect("witness records serialize");
        line.push('\n');
        let mut file = std::fs::OpenOptions::new().read(true).append(true).create(true).open(&self.path).map_err(io)?;
        // A line cut short by a crash is closed first, so this record starts a line of its own.
        let length = file.metadata().map_err(io)?.len();
        if length > 0 {
            let mut last = [0u8; 1];
            file.seek(std::io::SeekFrom::Start(length - 1)).map_err(io)?;
            file.read_exact(&mut last).map_err(io)?;
            if last[0] != b'\n' {
                line.insert(0, '\n');
            }
        }
        file.write_all(line.as_bytes()).map_err(io)?;
        file.sync_data().map_err(io)
    }
}
