//! Work on site, by the assigned worker: check-in with GPS, evidence, room temperatures (测温),
//! the result (回填), the customer's signature and completion. Completion and signature need a
//! result recorded during the current visit.

use crate::ticket::decide::guard::{require_text, OpenTicket};
use crate::ticket::error::TicketError;
use crate::ticket::event::TicketEvent;
use crate::ticket::vocabulary::{CoreNode, EvidenceKind, Part, Satisfaction, TicketStatus};
use crate::values::{is_sha256_hex, GeoPoint};
use chrono::{DateTime, Utc};

/// The coldest and hottest readings (°C) a room can plausibly give.
const ROOM_TEMPERATURE_RANGE: std::ops::RangeInclusive<f64> = -50.0..=100.0;

/// The worker checks in on site with a valid GPS fix, once the nodes before processing are done.
pub(super) fn check_in(ticket: &OpenTicket, location: &GeoPoint) -> Result<Vec<TicketEvent>, TicketError> {
    if !matches!(ticket.status, TicketStatus::Accepted | TicketStatus::OnSite) {
        return Err(ticket.invalid("check in on"));
    }
    ticket.require_assigned()?;
    if !location.is_valid() {
        return Err(TicketError::InvalidLocation);
    }
    ticket.require_nodes_before(CoreNode::Process)?;
    Ok(vec![TicketEvent::CheckedIn { worker: ticket.by(), location: *location }])
}

/// Attaches a photo, video or recording by its URI and SHA-256.
pub(super) fn attach_evidence(
    ticket: &OpenTicket,
    kind: EvidenceKind,
    uri: &str,
    sha256: &str,
    taken_at: DateTime<Utc>,
    location: &Option<GeoPoint>,
) -> Result<Vec<TicketEvent>, TicketError> {
    require_on_site(ticket, "attach evidence to")?;
    require_text("uri", uri)?;
    if !is_sha256_hex(sha256) {
        return Err(TicketError::InvalidDigest);
    }
    if location.is_some_and(|l| !l.is_valid()) {
        return Err(TicketError::InvalidLocation);
    }
    Ok(vec![TicketEvent::EvidenceAttached {
        by: ticket.by(),
        kind,
        uri: uri.to_owned(),
        sha256: sha256.to_owned(),
        taken_at,
        location: *location,
    }])
}

/// Records a room temperature (测温) within [`ROOM_TEMPERATURE_RANGE`].
pub(super) fn record_temperature(
    ticket: &OpenTicket,
    room: &str,
    celsius: f64,
    taken_at: DateTime<Utc>,
) -> Result<Vec<TicketEvent>, TicketError> {
    require_on_site(ticket, "record a temperature on")?;
    require_text("room", room)?;
    if !ROOM_TEMPERATURE_RANGE.contains(&celsius) {
        return Err(TicketError::TemperatureOutOfRange(celsius));
    }
    Ok(vec![TicketEvent::TemperatureRecorded { by: ticket.by(), room: room.to_owned(), celsius, taken_at }])
}

/// Records what was done (回填), with parts counted from 1.
pub(super) fn record_result(
    ticket: &OpenTicket,
    result: &str,
    parts: &[Part],
    duration_minutes: u32,
) -> Result<Vec<TicketEvent>, TicketError> {
    require_on_site(ticket, "record a result on")?;
    require_text("result", result)?;
    if let Some(part) = parts.iter().find(|p| p.quantity == 0) {
        return Err(TicketError::InvalidPartQuantity(part.code.clone()));
    }
    Ok(vec![TicketEvent::WorkResultRecorded {
        by: ticket.by(),
        result: result.to_owned(),
        parts: parts.to_vec(),
        duration_minutes,
    }])
}

/// The customer signs and rates on the worker's phone, after the result is recorded.
pub(super) fn collect_signature(
    ticket: &OpenTicket,
    signature_uri: &str,
    sha256: &str,
    satisfaction: Satisfaction,
) -> Result<Vec<TicketEvent>, TicketError> {
    require_on_site(ticket, "collect a signature on")?;
    if !ticket.state.result_recorded {
        return Err(TicketError::ResultMissing);
    }
    require_text("signature_uri", signature_uri)?;
    if !is_sha256_hex(sha256) {
        return Err(TicketError::InvalidDigest);
    }
    Ok(vec![TicketEvent::CustomerSigned {
        by: ticket.by(),
        signature_uri: signature_uri.to_owned(),
        sha256: sha256.to_owned(),
        satisfaction,
    }])
}

/// Field work is done, once a result is recorded; the callback comes next.
pub(super) fn complete_work(ticket: &OpenTicket) -> Result<Vec<TicketEvent>, TicketError> {
    require_on_site(ticket, "complete work on")?;
    if !ticket.state.result_recorded {
        return Err(TicketError::ResultMissing);
    }
    Ok(vec![TicketEvent::WorkCompleted { by: ticket.by(), station: ticket.current_station() }])
}

/// What happens on site is recorded only while the assigned worker is checked in.
fn require_on_site(ticket: &OpenTicket, action: &'static str) -> Result<(), TicketError> {
    if ticket.status != TicketStatus::OnSite {
        return Err(ticket.invalid(action));
    }
    ticket.require_assigned()
}
