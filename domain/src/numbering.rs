//! Human ticket numbers, unique per tenant and year: `<tenant>-<year>-<sequence>`, e.g.
//! `tj01-2026-000042`. Stream `ticketno-<tenant>-<year>`.
//!
//! The sequence is the stream version of the [`NumberingEvent::Allocated`] event. The command
//! layer appends it with `ExpectedVersion::Any`, so the log itself hands out versions one by one:
//! agents creating tickets at the same instant never conflict and never share a number. A number
//! whose ticket was never created (a crash between the two appends) stays allocated to that
//! ticket id: a visible gap, never a duplicate.

use crate::codec::{decode_tagged, encode_tagged, no_upcasters, EncodedEvent};
use crate::values::{TenantId, TicketId};
use crate::{DecodeError, EventCodec};
use serde::{Deserialize, Serialize};

/// The stream category.
pub const CATEGORY: &str = "ticketno";

/// Facts of a numbering stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "payload")]
pub enum NumberingEvent {
    /// The next number (this event's stream version) was given to a ticket.
    #[serde(rename = "TicketNumberAllocated")]
    Allocated {
        /// The ticket.
        ticket_id: TicketId,
    },
}

const NUMBERING_VERSIONS: &[(&str, u32)] = &[];

impl EventCodec for NumberingEvent {
    fn encode(&self) -> EncodedEvent {
        encode_tagged(self, NUMBERING_VERSIONS)
    }

    fn decode(event_type: &str, schema_version: u32, payload: serde_json::Value) -> Result<Self, DecodeError> {
        decode_tagged(event_type, schema_version, payload, NUMBERING_VERSIONS, no_upcasters)
    }

    fn decode_text(event_type: &str, schema_version: u32, payload: &str) -> Result<Self, DecodeError> {
        crate::codec::decode_tagged_text(event_type, schema_version, payload, NUMBERING_VERSIONS, no_upcasters)
    }
}

/// Formats a ticket number.
pub fn format_ticket_no(tenant: &TenantId, year: i32, sequence: u64) -> String {
    format!("{}-{year}-{sequence:06}", tenant.0)
}

/// The stream id part (`<tenant>-<year>`) of a tenant's year.
pub fn numbering_stream_key(tenant: &TenantId, year: i32) -> String {
    format!("{}-{year}", tenant.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_ticket_no_pads_the_sequence() {
        assert_eq!(format_ticket_no(&TenantId("tj01".into()), 2026, 42), "tj01-2026-000042");
        assert_eq!(format_ticket_no(&TenantId("tj01".into()), 2026, 1_234_567), "tj01-2026-1234567");
    }
}
