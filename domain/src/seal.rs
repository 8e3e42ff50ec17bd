//! Signed checkpoints of the log (the sealer's facts). Stream `seal-log`.
//!
//! A checkpoint commits to every event before it (other than checkpoints): the number of events
//! (`tree_size`), the RFC 9162 Merkle root over their stream hashes, and a chain hash over them in
//! global order, signed with Ed25519. Anyone with the public key can check it offline.

use crate::codec::{decode_tagged, encode_tagged, no_upcasters, EncodedEvent};
use crate::{DecodeError, EventCodec};
use serde::{Deserialize, Serialize};

/// The stream category.
pub const CATEGORY: &str = "seal";

/// What a checkpoint commits to, and its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// 1, 2, 3, …
    pub checkpoint_no: u64,
    /// Events covered (checkpoints themselves excluded).
    pub tree_size: u64,
    /// Log position of the last event covered.
    pub last_position: u64,
    /// Chain over the covered events' stream hashes in global order, lowercase hex.
    pub chain_hash: String,
    /// Merkle root over the covered events' stream hashes, lowercase hex.
    pub merkle_root: String,
    /// Short id of the signing key (first 8 bytes of SHA-256 of the public key, hex).
    pub key_id: String,
    /// The Ed25519 public key, hex.
    pub public_key: String,
    /// The Ed25519 signature over [`Checkpoint::signed_message`], hex.
    pub signature: String,
}

impl Checkpoint {
    /// The bytes that are signed: every field but the signature, in a fixed, versioned layout.
    pub fn signed_message(&self) -> Vec<u8> {
        format!(
            "hotline-checkpoint-v1\n{}\n{}\n{}\n{}\n{}\n{}",
            self.checkpoint_no, self.tree_size, self.last_position, self.chain_hash, self.merkle_root, self.key_id
        )
        .into_bytes()
    }
}

/// Facts of the seal stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "payload")]
pub enum SealEvent {
    /// A checkpoint was signed.
    #[serde(rename = "CheckpointSealed")]
    CheckpointSealed(Checkpoint),
}

const SEAL_VERSIONS: &[(&str, u32)] = &[];

impl EventCodec for SealEvent {
    fn encode(&self) -> EncodedEvent {
        encode_tagged(self, SEAL_VERSIONS)
    }

    fn decode(event_type: &str, schema_version: u32, payload: serde_json::Value) -> Result<Self, DecodeError> {
        decode_tagged(event_type, schema_version, payload, SEAL_VERSIONS, no_upcasters)
    }

    fn decode_text(event_type: &str, schema_version: u32, payload: &str) -> Result<Self, DecodeError> {
        crate::codec::decode_tagged_text(event_type, schema_version, payload, SEAL_VERSIONS, no_upcasters)
    }
}
