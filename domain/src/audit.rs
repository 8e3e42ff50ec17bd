//! Reads that are themselves facts: who looked at a ticket's full history or at unmasked phone
//! numbers (of tickets or of calls), or at the SIP adapter's rejected datagrams, and when. Since
//! issue 12 one request is one `SensitiveRead` listing all it was shown; the three older kinds,
//! one per field, stay readable in old logs. Stream `audit-<yyyymmdd>` (UTC day), appended with no version check: there
//! is nothing to decide, only to record.

use crate::codec::{decode_tagged, encode_tagged, no_upcasters, EncodedEvent};
use crate::values::TicketId;
use crate::{DecodeError, EventCodec};
use serde::{Deserialize, Serialize};

/// The stream category.
pub const CATEGORY: &str = "audit";

/// Facts of the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "payload")]
pub enum AuditEvent {
    /// A user read a ticket's full history.
    #[serde(rename = "TicketHistoryRead")]
    TicketHistoryRead {
        /// The ticket.
        ticket_id: TicketId,
        /// The user id of whoever read it (from their token).
        reader: String,
    },
    /// A user was shown the unmasked phone numbers of these tickets.
    #[serde(rename = "UnmaskedNumbersRead")]
    UnmaskedNumbersRead {
        /// The tickets.
        ticket_ids: Vec<TicketId>,
        /// The user id of whoever read it (from their token).
        reader: String,
    },
    /// A user was shown the unmasked caller numbers of these calls.
    #[serde(rename = "UnmaskedCallersRead")]
    UnmaskedCallersRead {
        /// The calls (their keys).
        calls: Vec<String>,
        /// The user id of whoever read it (from their token).
        reader: String,
    },
    /// Everything audited that one request showed a user.
    #[serde(rename = "SensitiveRead")]
    SensitiveRead {
        /// The user id of whoever read it (from their token).
        reader: String,
        /// The GraphQL operation's name, if it had one (`GET /telephony/rejected` for that route).
        #[serde(default)]
        operation: Option<String>,
        /// Tickets whose full history, or state at an instant, was read.
        #[serde(default)]
        ticket_histories: Vec<TicketId>,
        /// Tickets whose caller's number was shown unmasked.
        #[serde(default)]
        unmasked_tickets: Vec<TicketId>,
        /// Calls (their keys) whose caller's number was shown unmasked.
        #[serde(default)]
        unmasked_calls: Vec<String>,
        /// How many datagrams the SIP adapter rejected were shown (numbers masked).
        #[serde(default)]
        rejected_datagrams: u32,
    },
}

const AUDIT_VERSIONS: &[(&str, u32)] = &[];

impl EventCodec for AuditEvent {
    fn encode(&self) -> EncodedEvent {
        encode_tagged(self, AUDIT_VERSIONS)
    }

    fn decode(event_type: &str, schema_version: u32, payload: serde_json::Value) -> Result<Self, DecodeError> {
        decode_tagged(event_type, schema_version, payload, AUDIT_VERSIONS, no_upcasters)
    }

    fn decode_text(event_type: &str, schema_version: u32, payload: &str) -> Result<Self, DecodeError> {
        crate::codec::decode_tagged_text(event_type, schema_version, payload, AUDIT_VERSIONS, no_upcasters)
    }
}
