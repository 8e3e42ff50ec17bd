//! The sealer: signed checkpoints over the whole log, and their verification.
//!
//! [`Sealer`] is a process manager: it feeds every event's stream hash into an RFC 9162 Merkle
//! frontier and a global chain (`chain = SHA-256(chain ‖ stream_hash)`), and every
//! `every_events` events or `every` time, whichever comes first, appends a
//! `CheckpointSealed` signed with Ed25519 to `seal-log`. Checkpoints live in the log itself, so
//! they are as immutable and as exported as what they cover. A checkpoint's command id derives
//! from its size, so two nodes sealing the same range make one event, and replay never re-seals.
//! [`CheckpointChecker`] recomputes all of it; `hotline verify` uses it.

use crate::handler::CommandContext;
use crate::process::ProcessManager;
use crate::service::ServiceError;
use crate::store::merkle::{leaf_hash, Frontier, Hash};
use crate::store::{LogEntry, RecordedEvent, StoreError};
use crate::witness::{Witness, WitnessRecord};
use crate::Hotline;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use hotline_domain::seal::{self, Checkpoint, SealEvent};
use hotline_domain::EventCodec;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The account the sealer acts as.
pub const SEALER: &str = "system:sealer";

const NAMESPACE: Uuid = Uuid::from_u128(0x5ea1_0000_8d3a_4c55_9a0e_d1ad_1e00_0002);

/// A signing key and its id.
#[derive(Clone)]
pub struct SealKey {
    signing: SigningKey,
}

impl SealKey {
    /// A key from its 32 secret bytes.
    pub fn from_bytes(secret: &[u8; 32]) -> SealKey {
        SealKey { signing: SigningKey::from_bytes(secret) }
    }

    /// A new random key.
    pub fn generate() -> SealKey {
        SealKey { signing: SigningKey::generate(&mut rand::rngs::OsRng) }
    }

    /// The 32 secret bytes (to store in the data dir).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The public key, hex.
    pub fn public_hex(&self) -> String {
        hex::encode(self.signing.verifying_key().to_bytes())
    }

    /// The key id: the first 8 bytes of SHA-256 of the public key, hex.
    pub fn key_id(&self) -> String {
        key_id(&self.signing.verifying_key().to_bytes())
    }

    /// An Ed25519 signature of `message`, hex.
    pub fn sign(&self, message: &[u8]) -> String {
        hex::encode(self.signing.sign(message).to_bytes())
    }
}

/// Checks an Ed25519 signature (hex) of `message` by `public_key` (hex).
pub fn verify_signature(public_key: &str, message: &[u8], signature: &str) -> Result<(), String> {
    let public: [u8; 32] = hex::decode(public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "malformed public key".to_owned())?;
    let key = VerifyingKey::from_bytes(&public).map_err(|e| e.to_string())?;
    let signature: [u8; 64] =
        hex::decode(signature).ok().and_then(|b| b.try_into().ok()).ok_or_else(|| "malformed signature".to_owned())?;
    key.verify(message, &Signature::from_bytes(&signature)).map_err(|e| e.to_string())
}

/// Checks a checkpoint's signature, key id and, when given, that the trusted key signed it.
pub fn verify_checkpoint_signature(checkpoint: &Checkpoint, trusted_key: Option<&str>) -> Result<(), String> {
    if trusted_key.is_some_and(|trusted| trusted != checkpoint.public_key) {
        return Err("signed by a key that is not the trusted one".into());
    }
    let public = hex::decode(&checkpoint.public_key).map_err(|_| "malformed public key".to_owned())?;
    if checkpoint.key_id != key_id(&public) {
        return Err("key id does not match the public key".into());
    }
    verify_signature(&checkpoint.public_key, &checkpoint.signed_message(), &checkpoint.signature)
}

/// Signs a checkpoint over the first `frontier.size()` events (up to `last_position`, with the
/// chain hash `chain`) and appends it to `seal-log`; returns it as a witness keeps it. The command
/// id derives from the size, so sealing the same prefix twice (two nodes, a replay) makes one
/// event (and the first one's position is returned).
pub(crate) async fn seal(
    hotline: &Hotline,
    key: &SealKey,
    checkpoint_no: u64,
    frontier: &Frontier,
    chain: [u8; 32],
    last_position: u64,
) -> Result<WitnessRecord, ServiceError> {
    let mut checkpoint = Checkpoint {
        checkpoint_no,
        tree_size: frontier.size(),
        last_position,
        chain_hash: hex::encode(chain),
        merkle_root: hex::encode(frontier.root()),
        key_id: key.key_id(),
        public_key: key.public_hex(),
        signature: String::new(),
    };
    checkpoint.signature = key.sign(&checkpoint.signed_message());
    let name = format!("checkpoint/{}", checkpoint.tree_size);
    let context = CommandContext {
        command_id: Uuid::new_v5(&NAMESPACE, name.as_bytes()),
        actor: SEALER.to_owned(),
        tenant: None,
        correlation_id: Uuid::new_v5(&NAMESPACE, name.as_bytes()),
        causation_id: None,
        source: "timer".to_owned(),
        occurred_at: hotline.clock().now(),
        fingerprint: None,
    };
    let sealed_at = context.occurred_at;
    let outcome = hotline.record_checkpoint(&context, SealEvent::CheckpointSealed(checkpoint.clone())).await?;
    let position = outcome.last_position.ok_or_else(|| {
        ServiceError::Store(StoreError::Corrupt {
            position: 0,
            reason: format!("checkpoint {checkpoint_no} was recorded without an event"),
        })
    })?;
    Ok(WitnessRecord { position, sealed_at, checkpoint })
}

/// The key id of a public key given as hex.
pub fn key_id_of(public_key: &str) -> Result<String, String> {
    let public: [u8; 32] = hex::decode(public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "malformed public key: 32 bytes of hex expected".to_owned())?;
    VerifyingKey::from_bytes(&public).map_err(|e| format!("malformed public key: {e}"))?;
    Ok(key_id(&public))
}

fn key_id(public: &[u8]) -> String {
    hex::encode(&Sha256::digest(public)[..8])
}

/// What the sealer and the checker fold: the frontier and the chain of the events seen.
#[derive(Debug, Clone, Default)]
pub(crate) struct Covered {
    pub(crate) frontier: Frontier,
    pub(crate) chain: [u8; 32],
    pub(crate) last_position: u64,
}

/// What one event adds to [`Covered`].
enum Observed {
    /// A covered event, and its Merkle leaf.
    Leaf(Hash),
    /// A checkpoint, which covers events but is not one of them.
    Checkpoint(Checkpoint),
}

impl Covered {
    /// Takes one event; returns the checkpoint if it is one.
    pub(crate) fn observe(&mut self, event: &RecordedEvent) -> Result<Option<Checkpoint>, String> {
        Ok(match self.observe_leaf(event)? {
            Observed::Leaf(_) => None,
            Observed::Checkpoint(checkpoint) => Some(checkpoint),
        })
    }

    /// Takes one event; returns its leaf, or the checkpoint if it is one.
    fn observe_leaf(&mut self, event: &impl LogEntry) -> Result<Observed, String> {
        if event.category() == seal::CATEGORY {
            let payload = event.payload_value()?.into_owned();
            let SealEvent::CheckpointSealed(checkpoint) =
                SealEvent::decode(event.event_type(), event.schema_version(), payload).map_err(|e| e.to_string())?;
            return Ok(Observed::Checkpoint(checkpoint));
        }
        let stream_hash =
            hex::decode(event.stored_hash()).map_err(|e| format!("stream hash at {}: {e}", event.position()))?;
        let leaf = leaf_hash(&stream_hash);
        self.frontier.push(leaf);
        let mut hasher = Sha256::new();
        hasher.update(self.chain);
        hasher.update(&stream_hash);
        self.chain = hasher.finalize().into();
        self.last_position = event.position();
        Ok(Observed::Leaf(leaf))
    }
}

/// A witness and what it is known to hold.
struct WitnessSlot {
    witness: Box<dyn Witness>,
    /// Position of the last checkpoint it holds; `None` until it has been asked.
    holds: Option<u64>,
}

/// Seals the log, and hands every checkpoint to its witnesses.
pub struct Sealer {
    key: SealKey,
    every_events: u64,
    every: Duration,
    covered: Covered,
    sealed_size: u64,
    sealed_count: u64,
    /// When the last checkpoint was sealed, or the first event committed (server clock).
    since: Option<DateTime<Utc>>,
    /// Position of the last event observed (checkpoints included).
    observed: u64,
    witnesses: Vec<WitnessSlot>,
    /// Checkpoints of the log not yet held by every witness, by position.
    unwitnessed: std::collections::VecDeque<WitnessRecord>,
    /// When the witnesses were last handed checkpoints (server clock).
    witnessed_at: Option<DateTime<Utc>>,
}

impl Sealer {
    /// A sealer that checkpoints every `every_events` events or `every`, whichever comes first;
    /// an idle tail is sealed `every` after the last checkpoint (or its first event) at the latest.
    pub fn new(key: SealKey, every_events: u64, every: Duration) -> Sealer {
        Sealer {
            key,
            every_events,
            every,
            covered: Covered::default(),
            sealed_size: 0,
            sealed_count: 0,
            since: None,
            observed: 0,
            witnesses: Vec::new(),
            unwitnessed: std::collections::VecDeque::new(),
            witnessed_at: None,
        }
    }

    /// Also hands every checkpoint of the log to `witness`, beginning with those it lacks.
    pub fn with_witness(mut self, witness: Box<dyn Witness>) -> Sealer {
        self.witnesses.push(WitnessSlot { witness, holds: None });
        self
    }

    /// Checkpoints seen or written so far.
    pub fn checkpoints(&self) -> u64 {
        self.sealed_count
    }

    /// Seals whatever the log holds beyond the last checkpoint, now, whatever the thresholds, and
    /// hands it to the witnesses: what `hotline serve` does when it stops, so that the
    /// unwitnessed tail is empty. Reads the log from where this sealer stands first.
    pub async fn seal_now(&mut self, hotline: &Hotline) -> Result<Option<Checkpoint>, ServiceError> {
        let mut sealed = None;
        // Appends sent before the writers stopped may still commit, before this checkpoint: seal
        // again until it is the last word (a few rounds at most).
        for _ in 0..5 {
            loop {
                let events = hotline.store().read_all(self.observed, 1_000).await?;
                if events.is_empty() {
                    break;
                }
                for event in &events {
                    self.observe(event)?;
                }
            }
            if self.covered.frontier.size() == self.sealed_size {
                break;
            }
            sealed = Some(self.seal_pending(hotline).await?);
        }
        if let Err(error) = self.witness().await {
            return Err(ServiceError::Store(StoreError::Corrupt { position: self.observed, reason: error }));
        }
        Ok(sealed)
    }

    async fn seal_pending(&mut self, hotline: &Hotline) -> Result<Checkpoint, ServiceError> {
        let covered = &self.covered;
        let record =
            seal(hotline, &self.key, self.sealed_count + 1, &covered.frontier, covered.chain, covered.last_position)
                .await?;
        self.sealed_size = record.checkpoint.tree_size;
        self.sealed_count = record.checkpoint.checkpoint_no;
        self.since = Some(hotline.clock().now());
        let checkpoint = record.checkpoint.clone();
        self.remember(record);
        Ok(checkpoint)
    }

    /// Keeps a checkpoint for the witnesses, once.
    fn remember(&mut self, record: WitnessRecord) {
        let newer = self.unwitnessed.back().is_none_or(|last| record.position > last.position);
        if !self.witnesses.is_empty() && newer {
            self.unwitnessed.push_back(record);
        }
    }

    /// Hands each witness the checkpoints it lacks, in order. A witness that fails is tried again
    /// on the next round; the others go on. Returns what failed, for the log.
    async fn witness(&mut self) -> Result<(), String> {
        let mut failures = Vec::new();
        for slot in &mut self.witnesses {
            let holds = match slot.holds {
                Some(holds) => holds,
                None => match slot.witness.last_position().await {
                    Ok(holds) => *slot.holds.insert(holds),
                    Err(error) => {
                        failures.push(error.to_string());
                        continue;
                    }
                },
            };
            for record in self.unwitnessed.iter().filter(|r| r.position > holds) {
                if let Err(error) = slot.witness.append(record).await {
                    failures.push(error.to_string());
                    break;
                }
                slot.holds = Some(record.position);
            }
        }
        // What every witness holds is not needed any more.
        let held_by_all = self.witnesses.iter().map(|w| w.holds.unwrap_or(0)).min().unwrap_or(u64::MAX);
        while self.unwitnessed.front().is_some_and(|r| r.position <= held_by_all) {
            self.unwitnessed.pop_front();
        }
        match failures.is_empty() {
            true => Ok(()),
            false => Err(failures.join("; ")),
        }
    }
}

#[async_trait]
impl ProcessManager for Sealer {
    fn name(&self) -> &'static str {
        "sealer"
    }

    fn observe(&mut self, event: &RecordedEvent) -> Result<(), ServiceError> {
        let sealed = self
            .covered
            .observe(event)
            .map_err(|reason| ServiceError::Store(StoreError::Corrupt { position: event.global_position, reason }))?;
        self.observed = self.observed.max(event.global_position);
        match sealed {
            Some(checkpoint) => {
                self.sealed_size = self.sealed_size.max(checkpoint.tree_size);
                self.sealed_count = self.sealed_count.max(checkpoint.checkpoint_no);
                self.since = Some(event.recorded_at);
                // When the sealer signed it, as the sealer that appended it also tells its witnesses.
                let sealed_at = event.meta().map_or(event.recorded_at, |meta| meta.occurred_at);
                self.remember(WitnessRecord { position: event.global_position, sealed_at, checkpoint });
            }
            // Time counts from the first event not yet sealed.
            None if self.since.is_none() => self.since = Some(event.recorded_at),
            None => {}
        }
        Ok(())
    }

    async fn act(&mut self, hotline: &Hotline) -> Result<usize, ServiceError> {
        let now = hotline.clock().now();
        let pending = self.covered.frontier.size() - self.sealed_size;
        let due_by_time = self.since.is_some_and(|at| now - at >= self.every);
        let sealed = match pending == 0 || (pending < self.every_events && !due_by_time) {
            true => 0,
            false => {
                self.seal_pending(hotline).await?;
                1
            }
        };
        // A witness that is down does not stop sealing: it gets what it lacks when it is back.
        self.witnessed_at = Some(now);
        if let Err(error) = self.witness().await {
            tracing::warn!(%error, "a checkpoint could not be witnessed; retrying");
        }
        Ok(sealed)
    }

    fn next_wake(&self) -> Option<DateTime<Utc>> {
        let pending = self.covered.frontier.size() > self.sealed_size;
        // A witness that failed is tried again a second later.
        let retry = match self.unwitnessed.is_empty() {
            true => None,
            false => Some(self.witnessed_at.map_or(DateTime::<Utc>::MIN_UTC, |at| at + Duration::seconds(1))),
        };
        let seal = pending.then(|| self.since.map_or(DateTime::<Utc>::MIN_UTC, |at| at + self.every));
        seal.into_iter().chain(retry).min()
    }
}

/// Why a checkpoint does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointViolation {
    /// The checkpoint's content disagrees with the events before it.
    #[error("checkpoint {checkpoint_no} at position {position} does not match the log: {reason}")]
    Mismatch {
        /// Which checkpoint.
        checkpoint_no: u64,
        /// Where it is in the log.
        position: u64,
        /// What differs.
        reason: String,
    },
    /// The log is shorter than, or differs from, a checkpoint a witness holds.
    #[error("witnessed checkpoint {checkpoint_no} (sealed at position {position}): {reason}")]
    Witness {
        /// Which checkpoint.
        checkpoint_no: u64,
        /// Where the witness says it sits in the log.
        position: u64,
        /// What the log lacks or holds differently.
        reason: String,
    },
    /// The signature does not verify, or the key is not the trusted one.
    #[error("checkpoint {checkpoint_no} at position {position} has a bad signature: {reason}")]
    BadSignature {
        /// Which checkpoint.
        checkpoint_no: u64,
        /// Where it is.
        position: u64,
        /// What is wrong with it, for the operator.
        reason: String,
    },
}

/// How many events may be committed between the last event a checkpoint covers and the
/// checkpoint itself. A sealer appends what it observed, and other writers may commit meanwhile,
/// so a checkpoint covers a prefix of the events before it, named by its `last_position`.
pub const CHECKPOINT_WINDOW: usize = 10_000;

/// How often the checker keeps a copy of its Merkle frontier: a checkpoint covering up to an
/// earlier event is checked from the nearest copy at or before it, adding at most this many
/// leaves again.
const FRONTIER_EVERY: u64 = 64;

/// One covered event among the last [`CHECKPOINT_WINDOW`]: where it is, its Merkle leaf and the
/// chain hash up to it (72 bytes, where a frontier would be up to 64 hashes).
#[derive(Debug, Clone, Copy)]
struct Recent {
    position: u64,
    leaf: Hash,
    chain: [u8; 32],
}

/// The frontier after the first `size` covered events.
#[derive(Debug, Clone)]
struct FrontierCopy {
    size: u64,
    frontier: Frontier,
}

/// Recomputes every checkpoint while reading the log in order, and holds the log to the
/// checkpoints its witnesses keep.
///
/// Its memory is bounded whatever the log's length: one frontier (O(log n) hashes), the leaf and
/// chain hash of the last [`CHECKPOINT_WINDOW`] events (plus [`FRONTIER_EVERY`]), and a frontier
/// copy every [`FRONTIER_EVERY`] of them — about 1 MB.
#[derive(Debug, Default)]
pub struct CheckpointChecker {
    covered: Covered,
    /// The covered events a checkpoint may still name, oldest first; the last one is
    /// `covered.frontier.size()`.
    recent: std::collections::VecDeque<Recent>,
    /// Frontier copies at multiples of [`FRONTIER_EVERY`], oldest first; the first is at or
    /// before the oldest event a checkpoint may still name.
    copies: std::collections::VecDeque<FrontierCopy>,
    trusted_key: Option<String>,
    checked: u64,
    /// Witnessed checkpoints not yet met, by the last position they cover.
    witnessed_cover: std::collections::VecDeque<WitnessRecord>,
    /// The same, by their own position in the log.
    witnessed_at: std::collections::VecDeque<WitnessRecord>,
    witnessed_checked: u64,
}

impl CheckpointChecker {
    /// A checker that accepts only checkpoints signed by this public key (hex), if given.
    pub fn new(trusted_key: Option<String>) -> CheckpointChecker {
        CheckpointChecker { trusted_key, ..CheckpointChecker::default() }
    }

    /// Also holds the log to these witnessed checkpoints (from any number of witnesses; the same
    /// checkpoint twice counts once): the log must hold each at its position, and the events it
    /// covers must give its size, Merkle root and chain hash. Each must be signed by the trusted
    /// key.
    pub fn with_witnessed(mut self, records: Vec<WitnessRecord>) -> Result<CheckpointChecker, CheckpointViolation> {
        let mut records = records;
        records.sort_by(|a, b| (a.position, &a.checkpoint.signature).cmp(&(b.position, &b.checkpoint.signature)));
        records.dedup();
        for record in &records {
            verify_checkpoint_signature(&record.checkpoint, self.trusted_key.as_deref()).map_err(|reason| {
                CheckpointViolation::Witness {
                    checkpoint_no: record.checkpoint.checkpoint_no,
                    position: record.position,
                    reason: format!("the witness's copy has a bad signature: {reason}"),
                }
            })?;
        }
        self.witnessed_at = records.iter().cloned().collect();
        records.sort_by_key(|r| r.checkpoint.last_position);
        self.witnessed_cover = records.into();
        Ok(self)
    }

    /// Checkpoints verified so far.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// Witnessed checkpoints the log was found to hold so far.
    pub fn witnessed_checked(&self) -> u64 {
        self.witnessed_checked
    }

    /// After the last event of the log (at `last_position`): a witnessed checkpoint not met means
    /// the log was cut off.
    pub fn finish(&self, last_position: u64) -> Result<(), CheckpointViolation> {
        let missing = self.witnessed_at.iter().chain(&self.witnessed_cover).max_by_key(|r| r.position);
        match missing {
            None => Ok(()),
            Some(record) => Err(CheckpointViolation::Witness {
                checkpoint_no: record.checkpoint.checkpoint_no,
                position: record.position,
                reason: format!(
                    "the log ends at position {last_position}, but a witness holds this checkpoint over {} events up \
                     to position {}: the log was cut off",
                    record.checkpoint.tree_size, record.checkpoint.last_position
                ),
            }),
        }
    }

    /// Holds the event at `position` to the witnessed checkpoints: one sealed there must be this
    /// checkpoint, one covering up to it must match what the log gives.
    fn check_witnessed(&mut self, position: u64, sealed: Option<&Checkpoint>) -> Result<(), CheckpointViolation> {
        let violation = |record: &WitnessRecord, reason: String| CheckpointViolation::Witness {
            checkpoint_no: record.checkpoint.checkpoint_no,
            position: record.position,
            reason,
        };
        while let Some(record) = self.witnessed_at.front().filter(|r| r.position <= position) {
            if record.position < position {
                return Err(violation(record, "the log does not hold it at that position".into()));
            }
            match sealed {
                Some(checkpoint) if *checkpoint == record.checkpoint => {}
                Some(checkpoint) => {
                    return Err(violation(
                        record,
                        format!("the log holds checkpoint {} there, not the witnessed one", checkpoint.checkpoint_no),
                    ))
                }
                None => return Err(violation(record, "the log holds another event there".into())),
            }
            self.witnessed_at.pop_front();
            self.witnessed_checked += 1;
        }
        if sealed.is_some() {
            return Ok(());
        }
        while let Some(record) = self.witnessed_cover.front().filter(|r| r.checkpoint.last_position <= position) {
            let checkpoint = &record.checkpoint;
            if checkpoint.last_position < position {
                return Err(violation(
                    record,
                    format!("it covers up to position {}, which the log does not hold", checkpoint.last_position),
                ));
            }
            let covered = &self.covered;
            let differs = if checkpoint.tree_size != covered.frontier.size() {
                Some(format!(
                    "{} events up to position {position}, the log has {}",
                    checkpoint.tree_size,
                    covered.frontier.size()
                ))
            } else if checkpoint.merkle_root != hex::encode(covered.frontier.root()) {
                Some("its Merkle root".to_owned())
            } else if checkpoint.chain_hash != hex::encode(covered.chain) {
                Some("its chain hash".to_owned())
            } else {
                None
            };
            if let Some(what) = differs {
                return Err(violation(
                    record,
                    format!(
                        "the log up to position {position} differs from what was witnessed ({what}): events up to \
                         there were altered, removed or re-hashed after the witness kept it"
                    ),
                ));
            }
            self.witnessed_cover.pop_front();
        }
        Ok(())
    }

    /// Checks the next event of the log.
    pub fn check(&mut self, event: &impl LogEntry) -> Result<(), CheckpointViolation> {
        let position = event.position();
        let observed = self.covered.observe_leaf(event);
        if let Ok(observed) = &observed {
            let sealed = match observed {
                Observed::Checkpoint(checkpoint) => Some(checkpoint),
                Observed::Leaf(_) => None,
            };
            self.check_witnessed(position, sealed)?;
        }
        let checkpoint = match observed {
            Ok(Observed::Leaf(leaf)) => {
                self.remember(position, leaf);
                return Ok(());
            }
            Ok(Observed::Checkpoint(checkpoint)) => checkpoint,
            Err(reason) => return Err(CheckpointViolation::Mismatch { checkpoint_no: 0, position, reason }),
        };
        let no = checkpoint.checkpoint_no;
        let mismatch = |reason: String| CheckpointViolation::Mismatch { checkpoint_no: no, position, reason };
        let Some((size, frontier, chain)) = self.covered_up_to(checkpoint.last_position) else {
            return Err(mismatch(format!(
                "covers up to position {}, which is not one of the last {CHECKPOINT_WINDOW} events before it",
                checkpoint.last_position
            )));
        };
        if checkpoint.tree_size != size {
            return Err(mismatch(format!(
                "covers {} events, the log has {} up to position {}",
                checkpoint.tree_size, size, checkpoint.last_position
            )));
        }
        if checkpoint.merkle_root != hex::encode(frontier.root()) {
            return Err(mismatch("Merkle root differs".into()));
        }
        if checkpoint.chain_hash != hex::encode(chain) {
            return Err(mismatch("chain hash differs".into()));
        }
        verify_checkpoint_signature(&checkpoint, self.trusted_key.as_deref())
            .map_err(|reason| CheckpointViolation::BadSignature { checkpoint_no: no, position, reason })?;
        self.checked += 1;
        Ok(())
    }

    /// Keeps what a later checkpoint needs of the covered event just observed, and forgets what
    /// no checkpoint may name any more.
    fn remember(&mut self, position: u64, leaf: Hash) {
        let size = self.covered.frontier.size();
        if self.copies.is_empty() {
            self.copies.push_back(FrontierCopy { size: 0, frontier: Frontier::default() });
        }
        if size % FRONTIER_EVERY == 0 {
            self.copies.push_back(FrontierCopy { size, frontier: self.covered.frontier.clone() });
        }
        self.recent.push_back(Recent { position, leaf, chain: self.covered.chain });
        if self.recent.len() > CHECKPOINT_WINDOW + FRONTIER_EVERY as usize {
            self.recent.pop_front();
        }
        // The oldest size a checkpoint may name; the copy at or before it must stay.
        let oldest = (size + 1).saturating_sub(CHECKPOINT_WINDOW as u64);
        while self.copies.get(1).is_some_and(|copy| copy.size <= oldest) {
            self.copies.pop_front();
        }
    }

    /// The size, frontier and chain hash of the log up to `last_position`, if it is one of the
    /// last [`CHECKPOINT_WINDOW`] covered events.
    fn covered_up_to(&self, last_position: u64) -> Option<(u64, Frontier, [u8; 32])> {
        let first = self.recent.len().saturating_sub(CHECKPOINT_WINDOW);
        let index = self.recent.binary_search_by_key(&last_position, |r| r.position).ok().filter(|&i| i >= first)?;
        let newest = self.covered.frontier.size();
        // `recent[i]` is the event that made the size `oldest_kept + i`.
        let oldest_kept = newest + 1 - self.recent.len() as u64;
        let size = oldest_kept + index as u64;
        if size == newest {
            return Some((size, self.covered.frontier.clone(), self.covered.chain));
        }
        let copy = &self.copies[self.copies.partition_point(|copy| copy.size <= size) - 1];
        let mut frontier = copy.frontier.clone();
        for s in copy.size + 1..=size {
            frontier.push(self.recent[(s - oldest_kept) as usize].leaf);
        }
        Some((size, frontier, self.recent[index].chain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::merkle::root;
    use crate::store::StreamId;

    fn event(position: u64, stream_id: StreamId, event_type: &str, payload: serde_json::Value) -> RecordedEvent {
        RecordedEvent {
            global_position: position,
            stream_id,
            stream_version: position,
            event_id: Uuid::nil(),
            event_type: event_type.into(),
            schema_version: 1,
            payload,
            metadata: serde_json::json!({}),
            recorded_at: DateTime::<Utc>::MIN_UTC,
            stream_hash: hex::encode(Sha256::digest(position.to_be_bytes())),
        }
    }

    /// A checkpoint over the first `size` covered events of `hashes`, sealed by `key`.
    fn checkpoint(key: &SealKey, checkpoint_no: u64, hashes: &[(u64, Vec<u8>)], size: usize) -> Checkpoint {
        let leaves: Vec<Hash> = hashes[..size].iter().map(|(_, h)| leaf_hash(h)).collect();
        let chain = hashes[..size].iter().fold([0u8; 32], |chain, (_, h)| {
            let mut hasher = Sha256::new();
            hasher.update(chain);
            hasher.update(h);
            hasher.finalize().into()
        });
        let mut checkpoint = Checkpoint {
            checkpoint_no,
            tree_size: size as u64,
            last_position: hashes[size - 1].0,
            chain_hash: hex::encode(chain),
            merkle_root: hex::encode(root(&leaves)),
            key_id: key.key_id(),
            public_key: key.public_hex(),
            signature: String::new(),
        };
        checkpoint.signature = key.sign(&checkpoint.signed_message());
        checkpoint
    }

    /// The checker keeps a frontier copy every `FRONTIER_EVERY` events instead of one per event
    /// (which held ~10 MB and cloned a frontier per event): a checkpoint naming any of the last
    /// `CHECKPOINT_WINDOW` events, on either side of a copy, still verifies, and one naming an
    /// older event is still refused.
    #[test]
    fn checkpoints_naming_any_event_of_the_window_verify() {
        let key = SealKey::generate();
        let mut checker = CheckpointChecker::new(Some(key.public_hex()));
        let mut hashes: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut position = 0;
        let mut checkpoint_no = 0;
        // How far back from the newest event each checkpoint reaches, at growing log sizes.
        let reaches = [0, 1, 63, 64, 65, 127, 500, CHECKPOINT_WINDOW - 1];
        for (round, events) in [70, 3, 200, 1, 12_000, 64, 129, 5].into_iter().enumerate() {
            for _ in 0..events {
                position += 1;
                let e = event(position, StreamId::new("ticket", position % 5), "TicketUrged", serde_json::json!({}));
                hashes.push((position, hex::decode(&e.stream_hash).unwrap()));
                checker.check(&e).unwrap();
            }
            for reach in reaches.iter().copied().filter(|&r| r < hashes.len()).chain([round]) {
                position += 1;
                checkpoint_no += 1;
                let sealed = checkpoint(&key, checkpoint_no, &hashes, hashes.len() - reach);
                let encoded = SealEvent::CheckpointSealed(sealed).encode();
                let e = event(position, StreamId::new(seal::CATEGORY, "log"), &encoded.event_type, encoded.payload);
                assert_eq!(checker.check(&e), Ok(()), "{} events, reaching back {reach}", hashes.len());
            }
        }
        assert_eq!(checker.checked(), checkpoint_no);
        let too_old = checkpoint(&key, checkpoint_no + 1, &hashes, hashes.len() - CHECKPOINT_WINDOW);
        let encoded = SealEvent::CheckpointSealed(too_old).encode();
        let e = event(position + 1, StreamId::new(seal::CATEGORY, "log"), &encoded.event_type, encoded.payload);
        let refused = checker.check(&e).unwrap_err().to_string();
        assert!(refused.contains("which is not one of the last 10000 events before it"), "{refused}");
        assert!(checker.recent.len() <= CHECKPOINT_WINDOW + FRONTIER_EVERY as usize);
        assert!(
            checker.copies.len() as u64 <= CHECKPOINT_WINDOW as u64 / FRONTIER_EVERY + 2,
            "{}",
            checker.copies.len()
        );
    }
}
