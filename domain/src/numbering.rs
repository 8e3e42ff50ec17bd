//! Human ticket numbers, unique per tenant and year: `<tenant>-<year>-<sequence>`, e.g.
//! `tj01-2026-000042`. Stream `ticketno-<tenant>-<year>`.
//!
//! Uniqueness comes from the log's optimistic concurrency: the number is the stream's next
//! version, and two agents allocating at once conflict and retry. A number whose ticket was never
//! created (a crash between the two appends) stays allocated to that ticket id: a visible gap,
//! never a duplicate.

use crate::codec::{decode_tagged, encode_tagged, no_upcasters, EncodedEvent};
use crate::values::{TenantId, TicketId};
use crate::{Decider, DecodeError, EventCodec};
use serde::{Deserialize, Serialize};

/// Marker type of the numbering decider.
pub struct TicketNumbering;

/// Allocates the next number of a tenant's year.
#[derive(Debug, Clone, PartialEq)]
pub struct AllocateTicketNumber {
    /// Tenant.
    pub tenant: TenantId,
    /// Year.
    pub year: i32,
    /// The ticket that gets it.
    pub ticket_id: TicketId,
}

/// Facts of a numbering stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "payload")]
pub enum NumberingEvent {
    /// A number was given to a ticket.
    #[serde(rename = "TicketNumberAllocated")]
    Allocated {
        /// The ticket.
        ticket_id: TicketId,
        /// Sequence within the tenant's year, from 1.
        sequence: u64,
        /// The formatted number.
        ticket_no: String,
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
}

/// The last sequence given out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NumberingState {
    /// 0 before the first allocation.
    pub last_sequence: u64,
}

/// Numbering never refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberingError {}

/// Formats a ticket number.
pub fn format_ticket_no(tenant: &TenantId, year: i32, sequence: u64) -> String {
    format!("{}-{year}-{sequence:06}", tenant.0)
}

/// The stream id part (`<tenant>-<year>`) of a tenant's year.
pub fn numbering_stream_key(tenant: &TenantId, year: i32) -> String {
    format!("{}-{year}", tenant.0)
}

impl Decider for TicketNumbering {
    type State = NumberingState;
    type Command = AllocateTicketNumber;
    type Event = NumberingEvent;
    type Error = NumberingError;
    const CATEGORY: &'static str = "ticketno";

    fn decide(state: &NumberingState, command: &AllocateTicketNumber) -> Result<Vec<NumberingEvent>, NumberingError> {
        let sequence = state.last_sequence + 1;
        Ok(vec![NumberingEvent::Allocated {
            ticket_id: command.ticket_id,
            sequence,
            ticket_no: format_ticket_no(&command.tenant, command.year, sequence),
        }])
    }

    fn evolve(_: NumberingState, event: &NumberingEvent) -> NumberingState {
        match event {
            NumberingEvent::Allocated { sequence, .. } => NumberingState { last_sequence: *sequence },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::given;
    use uuid::Uuid;

    #[test]
    fn allocate_ticket_number_accepted_after_the_last_one() {
        let tenant = TenantId("tj01".into());
        let previous =
            NumberingEvent::Allocated { ticket_id: TicketId(Uuid::from_u128(1)), sequence: 41, ticket_no: "x".into() };
        given::<TicketNumbering>(vec![previous])
            .when(AllocateTicketNumber { tenant, year: 2026, ticket_id: TicketId(Uuid::from_u128(2)) })
            .then(vec![NumberingEvent::Allocated {
                ticket_id: TicketId(Uuid::from_u128(2)),
                sequence: 42,
                ticket_no: "tj01-2026-000042".into(),
            }]);
    }
}
