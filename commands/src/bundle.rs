//! Compliance export bundles: what `hotline export` writes and `hotline verify-export` checks
//! offline, with nothing but the bundle and the seal's public key.
//!
//! A bundle is a directory of six files:
//! - `events.jsonl`: the exported events in global order, one JSON object a line, with every
//!   stored field and the stream hash of the event before it in its stream, so each event's
//!   stream hash can be recomputed.
//! - `proofs.jsonl`: per event, its leaf index in the log's Merkle tree and the RFC 9162
//!   inclusion path up to the checkpoint's root.
//! - `checkpoint.json`: the signed checkpoint that covers every exported event, as in the log.
//! - `summary.csv`: a row per event with zh-CN column labels, UTF-8 with BOM (opens in Chinese
//!   Excel).
//! - `manifest.json`: what was exported, under which request (who asked, why, who approved), the
//!   counts and the SHA-256 of every other file.
//! - `manifest.sig`: the Ed25519 signature of `manifest.json` by the seal key, hex.
//!
//! Why an event in a bundle is genuine: its recomputed stream hash, hashed as a leaf, is proved
//! to lie under the Merkle root that the checkpoint signs. Changing any field of an event changes
//! its hash and breaks the proof; the manifest's signature covers the files around it. A ticket
//! bundle also proves completeness: its streams start at version 1 and have no gaps.
//!
//! Exporting is a command: [`export`] refuses a request that is not approved or names another
//! scope, and records `ExportProduced` with the manifest's hash.

use crate::handler::CommandContext;
use crate::seal::{self, verify_checkpoint_signature, verify_signature, Covered, SealKey};
use crate::service::ServiceError;
use crate::store::hash::{canonical_json, stream_hash, HashInput};
use crate::store::merkle::{inclusion_proofs, leaf_hash, verify_inclusion, Hash};
use crate::store::{format_recorded_at, RecordedEvent, StoreError, StreamId};
use crate::Hotline;
use chrono::{DateTime, Utc};
use hotline_domain::approval::{Approval, ApprovalEvent};
use hotline_domain::export::{ExportAction, ExportError, ExportScope, ExportStatus};
use hotline_domain::seal::Checkpoint;
use hotline_domain::ticket::Ticket;
use hotline_domain::values::{TicketId, CHINA_STANDARD_TIME};
use hotline_domain::{Decider, EventCodec};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use uuid::Uuid;

/// The bundle format this build writes and reads.
pub const FORMAT: &str = "hotline-export/1";

/// The files of a bundle, in the order the manifest lists them.
pub const FILES: [&str; 4] = ["events.jsonl", "proofs.jsonl", "checkpoint.json", "summary.csv"];

/// Events read from the log per page while exporting.
const PAGE: u32 = 5_000;

/// One exported event: every stored field, and the hash it chains from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedEvent {
    /// Position in the log.
    pub global_position: u64,
    /// The stream it belongs to, `<category>-<id>`.
    pub stream_id: String,
    /// Version in the stream.
    pub stream_version: u64,
    /// Event id.
    pub event_id: Uuid,
    /// Wire name.
    pub event_type: String,
    /// Payload version.
    pub schema_version: u32,
    /// Payload as stored.
    pub payload: serde_json::Value,
    /// Metadata as stored.
    pub metadata: serde_json::Value,
    /// Commit time, exactly as hashed.
    pub recorded_at: String,
    /// The stream hash of the stream's previous event; `None` for version 1.
    pub previous_hash: Option<String>,
    /// This event's stream hash.
    pub stream_hash: String,
}

impl ExportedEvent {
    /// Recomputes the stream hash from the fields.
    pub fn recompute_hash(&self) -> String {
        let event_id = self.event_id.hyphenated().to_string();
        stream_hash(
            self.previous_hash.as_deref(),
            &HashInput {
                global_position: self.global_position,
                stream_id: &self.stream_id,
                stream_version: self.stream_version,
                event_id: &event_id,
                event_type: &self.event_type,
                schema_version: self.schema_version,
                payload: &canonical_json(&self.payload),
                metadata: &canonical_json(&self.metadata),
                recorded_at: &self.recorded_at,
            },
        )
    }
}

/// One event's proof of inclusion in the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    /// The event's position (ties the proof to its line in `events.jsonl`).
    pub global_position: u64,
    /// Its leaf index: events before it in the log, checkpoints not counted.
    pub leaf_index: u64,
    /// Sibling hashes from the leaf up, hex.
    pub path: Vec<String>,
}

/// What the manifest says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// The approved export request.
    pub request_id: Uuid,
    /// What was exported.
    pub scope: ExportScope,
    /// Why the export was requested, as the requester wrote it.
    pub reason: String,
    /// Who asked.
    pub requested_by: String,
    /// Who approved.
    pub approved_by: String,
    /// Who wrote the bundle.
    pub produced_by: String,
    /// When the bundle was written (UTC, server clock).
    pub produced_at: DateTime<Utc>,
    /// Events in `events.jsonl`.
    pub events: u64,
    /// Streams they belong to.
    pub streams: Vec<String>,
    /// The covering checkpoint's number, size and key id.
    pub checkpoint_no: u64,
    /// Events the checkpoint covers.
    pub tree_size: u64,
    /// Key id of the seal key.
    pub key_id: String,
    /// SHA-256 of each file, hex, in [`FILES`] order.
    pub files: Vec<(String, String)>,
}

/// A bundle in memory, ready to write.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The manifest.
    pub manifest: Manifest,
    /// File name → bytes, every file including `manifest.json` and `manifest.sig`.
    pub files: Vec<(String, Vec<u8>)>,
    /// SHA-256 of `manifest.json`, hex (recorded in `ExportProduced`).
    pub manifest_sha256: String,
}

impl Bundle {
    /// Writes the files into `dir` (created; must not hold a bundle already).
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        if dir.join("manifest.json").exists() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} holds a bundle already", dir.display()),
            ));
        }
        for (name, bytes) in &self.files {
            std::fs::write(dir.join(name), bytes)?;
        }
        Ok(())
    }
}

/// Why an export was not written.
#[derive(Debug, thiserror::Error)]
pub enum ExportFailure {
    /// The request does not allow it (not approved, unknown), or a service call failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The scope asked for differs from the approved request's.
    #[error("the approved request covers {approved}, not {asked}")]
    ScopeMismatch {
        /// The request's scope.
        approved: String,
        /// What was asked for.
        asked: String,
    },
    /// Nothing in the log matches the scope.
    #[error("no events in the log match {0}")]
    Empty(String),
}

impl From<StoreError> for ExportFailure {
    fn from(error: StoreError) -> Self {
        ExportFailure::Service(ServiceError::Store(error))
    }
}

/// Builds the bundle of an approved request and records `ExportProduced`; the caller writes it.
///
/// The request must be approved and name exactly `scope`. Where no checkpoint covers the last
/// exported event yet, one is sealed now with `key` (the same key the sealer uses).
pub async fn export(
    hotline: &Hotline,
    context: &CommandContext,
    request_id: Uuid,
    scope: &ExportScope,
    key: &SealKey,
) -> Result<Bundle, ExportFailure> {
    let request = hotline.export_state(request_id).await?;
    let status = request.status.ok_or(ServiceError::Export(ExportError::ExportRequestNotFound))?;
    if status != ExportStatus::Approved {
        return Err(ServiceError::Export(ExportError::NotApproved(status)).into());
    }
    let approved = request.scope.as_ref().expect("a requested export has a scope");
    if approved != scope {
        return Err(ExportFailure::ScopeMismatch { approved: approved.to_string(), asked: scope.to_string() });
    }
    let selector = match scope {
        ExportScope::Ticket { ticket_no } => {
            let ticket_id =
                hotline.ticket_id_by_number(ticket_no).await?.ok_or_else(|| ExportFailure::Empty(scope.to_string()))?;
            Selector::Ticket { stream: StreamId::new(Ticket::CATEGORY, ticket_id), id: ticket_id }
        }
        ExportScope::Tenant { tenant, from, to } => Selector::Tenant { tenant: tenant.0.clone(), from: *from, to: *to },
    };
    let scan = scan(hotline, &selector).await?;
    if scan.selected.is_empty() {
        return Err(ExportFailure::Empty(scope.to_string()));
    }
    let last_selected_leaf = scan.selected.last().map_or(0, |e| e.1);
    let checkpoint = match scan.checkpoints.iter().rev().find(|c| c.tree_size > last_selected_leaf) {
        Some(checkpoint) => checkpoint.clone(),
        None => {
            let next_no = scan.checkpoints.iter().map(|c| c.checkpoint_no).max().unwrap_or(0) + 1;
            let covered = &scan.covered;
            seal::seal(hotline, key, next_no, &covered.frontier, covered.chain, covered.last_position).await?.checkpoint
        }
    };
    let indexes: Vec<usize> = scan.selected.iter().map(|(_, leaf)| *leaf as usize).collect();
    let proofs = inclusion_proofs(&scan.leaves[..checkpoint.tree_size as usize], &indexes);

    let mut events_jsonl = Vec::new();
    let mut proofs_jsonl = Vec::new();
    let mut streams = BTreeSet::new();
    for ((event, leaf), path) in scan.selected.iter().zip(proofs) {
        streams.insert(event.stream_id.clone());
        events_jsonl.extend(serde_json::to_vec(event).expect("events serialize"));
        events_jsonl.push(b'\n');
        let proof = InclusionProof {
            global_position: event.global_position,
            leaf_index: *leaf,
            path: path.iter().map(hex::encode).collect(),
        };
        proofs_jsonl.extend(serde_json::to_vec(&proof).expect("proofs serialize"));
        proofs_jsonl.push(b'\n');
    }
    let checkpoint_json = serde_json::to_vec_pretty(&checkpoint).expect("checkpoints serialize");
    let summary = summary_csv(scan.selected.iter().map(|(e, _)| e));
    let contents = [events_jsonl, proofs_jsonl, checkpoint_json, summary];
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        request_id,
        scope: scope.clone(),
        reason: request.reason.clone(),
        requested_by: request.requested_by.map(|u| u.0).unwrap_or_default(),
        approved_by: request.decided_by.map(|u| u.0).unwrap_or_default(),
        produced_by: context.actor.clone(),
        produced_at: context.occurred_at,
        events: scan.selected.len() as u64,
        streams: streams.into_iter().collect(),
        checkpoint_no: checkpoint.checkpoint_no,
        tree_size: checkpoint.tree_size,
        key_id: checkpoint.key_id.clone(),
        files: FILES.iter().zip(&contents).map(|(name, bytes)| (name.to_string(), sha256_hex(bytes))).collect(),
    };
    let manifest_json = serde_json::to_vec_pretty(&manifest).expect("manifests serialize");
    let manifest_sha256 = sha256_hex(&manifest_json);
    let signature = key.sign(&manifest_json);
    hotline
        .export(
            context,
            request_id,
            ExportAction::RecordProduced {
                manifest_sha256: manifest_sha256.clone(),
                events: manifest.events,
                checkpoint_no: checkpoint.checkpoint_no,
            },
        )
        .await?;
    let mut files: Vec<(String, Vec<u8>)> = FILES.iter().map(|n| n.to_string()).zip(contents).collect();
    files.push(("manifest.json".into(), manifest_json));
    files.push(("manifest.sig".into(), signature.into_bytes()));
    Ok(Bundle { manifest, files, manifest_sha256 })
}

/// Which events a scope selects.
enum Selector {
    /// The ticket's stream and the approval streams requested for it.
    Ticket { stream: StreamId, id: TicketId },
    /// The tenant's events recorded in `[from, to)`.
    Tenant { tenant: String, from: DateTime<Utc>, to: DateTime<Utc> },
}

/// What one pass over the log gathers.
struct Scan {
    /// Selected events with their leaf index.
    selected: Vec<(ExportedEvent, u64)>,
    /// Every leaf of the log.
    leaves: Vec<Hash>,
    /// Every checkpoint in the log.
    checkpoints: Vec<Checkpoint>,
    /// The frontier and chain over every leaf.
    covered: Covered,
}

async fn scan(hotline: &Hotline, selector: &Selector) -> Result<Scan, ExportFailure> {
    let store = hotline.store();
    let mut scan =
        Scan { selected: Vec::new(), leaves: Vec::new(), checkpoints: Vec::new(), covered: Covered::default() };
    let mut previous: HashMap<String, String> = HashMap::new();
    let mut approvals: BTreeSet<StreamId> = BTreeSet::new();
    let mut after = 0;
    loop {
        let page = store.read_all(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.global_position;
        for event in page {
            let corrupt = |reason: String| StoreError::Corrupt { position: event.global_position, reason };
            if let Some(checkpoint) = scan.covered.observe(&event).map_err(corrupt)? {
                scan.checkpoints.push(checkpoint);
                continue;
            }
            let leaf_index = scan.leaves.len() as u64;
            let stream_hash = hex::decode(&event.stream_hash).map_err(|e| corrupt(e.to_string()))?;
            scan.leaves.push(leaf_hash(&stream_hash));
            let chosen = match selector {
                Selector::Ticket { stream: ticket, id } => {
                    if event.stream_id.category() == Approval::CATEGORY {
                        let decoded =
                            ApprovalEvent::decode(&event.event_type, event.schema_version, event.payload.clone())
                                .map_err(|source| ServiceError::Decode { position: event.global_position, source })?;
                        if matches!(decoded, ApprovalEvent::Requested { ticket_id, .. } if ticket_id == *id) {
                            approvals.insert(event.stream_id.clone());
                        }
                    }
                    &event.stream_id == ticket || approvals.contains(&event.stream_id)
                }
                Selector::Tenant { tenant, from, to } => {
                    event.metadata.get("tenant").and_then(|v| v.as_str()) == Some(tenant)
                        && event.recorded_at >= *from
                        && event.recorded_at < *to
                }
            };
            let previous_hash = previous.insert(event.stream_id.as_str().to_owned(), event.stream_hash.clone());
            if chosen {
                scan.selected.push((exported(&event, previous_hash), leaf_index));
            }
        }
    }
    Ok(scan)
}

fn exported(event: &RecordedEvent, previous_hash: Option<String>) -> ExportedEvent {
    ExportedEvent {
        global_position: event.global_position,
        stream_id: event.stream_id.as_str().to_owned(),
        stream_version: event.stream_version,
        event_id: event.event_id,
        event_type: event.event_type.clone(),
        schema_version: event.schema_version,
        payload: event.payload.clone(),
        metadata: event.metadata.clone(),
        recorded_at: format_recorded_at(&event.recorded_at),
        previous_hash,
        stream_hash: event.stream_hash.clone(),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The zh-CN column labels of `summary.csv`.
pub const SUMMARY_COLUMNS: [&str; 9] =
    ["日志位置", "记录时间(北京时间)", "业务流", "版本", "事件类型", "操作人", "所属单位", "来源", "哈希"];

/// The CSV summary: UTF-8 with BOM, CRLF line ends, zh-CN headers, times in China Standard Time.
pub fn summary_csv<'a>(events: impl Iterator<Item = &'a ExportedEvent>) -> Vec<u8> {
    let mut out = String::from("\u{feff}");
    out.push_str(&SUMMARY_COLUMNS.join(","));
    out.push_str("\r\n");
    for event in events {
        let meta = |key: &str| event.metadata.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        let recorded = DateTime::parse_from_rfc3339(&event.recorded_at)
            .map(|t| t.with_timezone(&CHINA_STANDARD_TIME).format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|_| event.recorded_at.clone());
        let row = [
            event.global_position.to_string(),
            recorded,
            event.stream_id.clone(),
            event.stream_version.to_string(),
            event.event_type.clone(),
            meta("actor"),
            meta("tenant"),
            meta("source"),
            event.stream_hash.clone(),
        ];
        let row: Vec<String> = row.iter().map(|field| csv_field(field)).collect();
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out.into_bytes()
}

fn csv_field(field: &str) -> String {
    // A leading =, +, - or @ would be a formula in Excel: quote-prefix it.
    let field = if field.starts_with(['=', '+', '-', '@']) { format!("'{field}") } else { field.to_owned() };
    if field.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field
    }
}

/// What an intact bundle holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The manifest.
    pub manifest: Manifest,
    /// The checkpoint its proofs lead to.
    pub checkpoint: Checkpoint,
}

/// The first thing found wrong in a bundle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleViolation {
    /// A file is missing or unreadable.
    #[error("{file}: {reason}")]
    Unreadable {
        /// The bundle file, relative to the bundle's folder.
        file: String,
        /// Why it failed, in words an auditor can act on.
        reason: String,
    },
    /// The manifest's signature does not verify with the trusted key.
    #[error("manifest.json is not signed by the trusted key: {0}")]
    ManifestSignature(String),
    /// A file differs from the hash the manifest lists.
    #[error("{0} was changed: its SHA-256 differs from the manifest's")]
    FileChanged(String),
    /// The checkpoint's signature does not verify with the trusted key.
    #[error("checkpoint {checkpoint_no} does not verify: {reason}")]
    CheckpointSignature {
        /// The checkpoint's number in `seal-log`.
        checkpoint_no: u64,
        /// Why it failed, in words an auditor can act on.
        reason: String,
    },
    /// The manifest and the files disagree (counts, checkpoint, format).
    #[error("manifest disagrees with the bundle: {0}")]
    Inconsistent(String),
    /// An event's fields do not give its stream hash.
    #[error("event at position {position} (line {line} of events.jsonl) was altered: hash mismatch")]
    EventAltered {
        /// Line, from 1.
        line: usize,
        /// Position it claims.
        position: u64,
    },
    /// An event is not under the checkpoint's Merkle root.
    #[error("event at position {position} is not in the signed log: its inclusion proof fails")]
    NotIncluded {
        /// Position it claims.
        position: u64,
    },
    /// A stream in the bundle has a gap, does not start at version 1 (ticket bundles), or its
    /// chain is broken.
    #[error("stream {stream} is incomplete at version {version}: {reason}")]
    Incomplete {
        /// The stream whose events are incomplete.
        stream: String,
        /// The first stream version missing or out of chain.
        version: u64,
        /// Why it failed, in words an auditor can act on.
        reason: String,
    },
}

/// Checks a bundle offline against the seal's public key (hex).
pub fn verify_bundle(dir: &Path, public_key: &str) -> Result<Verified, BundleViolation> {
    let read = |file: &str| {
        std::fs::read(dir.join(file))
            .map_err(|e| BundleViolation::Unreadable { file: file.into(), reason: e.to_string() })
    };
    let manifest_bytes = read("manifest.json")?;
    let signature = String::from_utf8(read("manifest.sig")?)
        .map_err(|e| BundleViolation::Unreadable { file: "manifest.sig".into(), reason: e.to_string() })?;
    verify_signature(public_key, &manifest_bytes, signature.trim()).map_err(BundleViolation::ManifestSignature)?;
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| BundleViolation::Unreadable { file: "manifest.json".into(), reason: e.to_string() })?;
    if manifest.format != FORMAT {
        return Err(BundleViolation::Inconsistent(format!("format {} (this build reads {FORMAT})", manifest.format)));
    }
    let mut contents = HashMap::new();
    for file in FILES {
        let bytes = read(file)?;
        let listed = manifest.files.iter().find(|(name, _)| name == file).map(|(_, hash)| hash.as_str());
        if listed != Some(sha256_hex(&bytes).as_str()) {
            return Err(BundleViolation::FileChanged(file.into()));
        }
        contents.insert(file, bytes);
    }
    let unreadable = |file: &str, line: usize, e: serde_json::Error| BundleViolation::Unreadable {
        file: file.into(),
        reason: format!("line {line}: {e}"),
    };
    let checkpoint: Checkpoint =
        serde_json::from_slice(&contents["checkpoint.json"]).map_err(|e| unreadable("checkpoint.json", 1, e))?;
    verify_checkpoint_signature(&checkpoint, Some(public_key))
        .map_err(|reason| BundleViolation::CheckpointSignature { checkpoint_no: checkpoint.checkpoint_no, reason })?;
    if (checkpoint.checkpoint_no, checkpoint.tree_size) != (manifest.checkpoint_no, manifest.tree_size) {
        return Err(BundleViolation::Inconsistent("the checkpoint is not the one the manifest names".into()));
    }
    let root: Hash = hex::decode(&checkpoint.merkle_root)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| BundleViolation::Inconsistent("malformed Merkle root".into()))?;

    let events_text = String::from_utf8_lossy(&contents["events.jsonl"]).into_owned();
    let proofs_text = String::from_utf8_lossy(&contents["proofs.jsonl"]).into_owned();
    let (events, proofs): (Vec<&str>, Vec<&str>) = (events_text.lines().collect(), proofs_text.lines().collect());
    if events.len() as u64 != manifest.events || proofs.len() != events.len() {
        return Err(BundleViolation::Inconsistent(format!(
            "{} events and {} proofs, the manifest says {}",
            events.len(),
            proofs.len(),
            manifest.events
        )));
    }
    let mut heads: HashMap<String, (u64, String)> = HashMap::new();
    let mut last_position = 0;
    for (i, (event_line, proof_line)) in events.iter().zip(&proofs).enumerate() {
        let line = i + 1;
        let event: ExportedEvent = serde_json::from_str(event_line).map_err(|e| unreadable("events.jsonl", line, e))?;
        let proof: InclusionProof =
            serde_json::from_str(proof_line).map_err(|e| unreadable("proofs.jsonl", line, e))?;
        let position = event.global_position;
        if position <= last_position || proof.global_position != position {
            return Err(BundleViolation::Inconsistent(format!("line {line}: events out of order or unpaired")));
        }
        last_position = position;
        let recomputed = event.recompute_hash();
        if recomputed != event.stream_hash {
            return Err(BundleViolation::EventAltered { line, position });
        }
        let leaf = leaf_hash(&hex::decode(&recomputed).expect("a recomputed hash is hex"));
        let path: Option<Vec<Hash>> =
            proof.path.iter().map(|h| hex::decode(h).ok().and_then(|b| b.try_into().ok())).collect();
        let included =
            path.is_some_and(|path| verify_inclusion(&leaf, proof.leaf_index, checkpoint.tree_size, &path, &root));
        if !included {
            return Err(BundleViolation::NotIncluded { position });
        }
        let incomplete = |reason: &str| BundleViolation::Incomplete {
            stream: event.stream_id.clone(),
            version: event.stream_version,
            reason: reason.into(),
        };
        match heads.get(&event.stream_id) {
            Some((version, hash)) => {
                if event.stream_version != version + 1 {
                    return Err(incomplete("a version is missing before it"));
                }
                if event.previous_hash.as_ref() != Some(hash) {
                    return Err(incomplete("it does not chain from the event before it"));
                }
            }
            None if matches!(manifest.scope, ExportScope::Ticket { .. }) && event.stream_version != 1 => {
                return Err(incomplete("a ticket bundle must hold the stream from version 1"));
            }
            None => {}
        }
        heads.insert(event.stream_id.clone(), (event.stream_version, event.stream_hash.clone()));
    }
    let streams: BTreeSet<&String> = heads.keys().collect();
    if streams != manifest.streams.iter().collect() {
        return Err(BundleViolation::Inconsistent("the streams differ from the manifest's".into()));
    }
    Ok(Verified { manifest, checkpoint })
}
