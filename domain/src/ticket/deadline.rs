//! How close an open ticket is to its deadline, as boards and lists flag it: red when overdue,
//! yellow when due within [`NEAR_DUE`]. Read models and the API compute the flag at query time
//! from the deadline the events recorded, with [`deadline_state`].
//!
//! ```
//! use chrono::{Duration, TimeZone, Utc};
//! use hotline_domain::ticket::deadline::{deadline_state, DeadlineState};
//! use hotline_domain::ticket::TicketStatus;
//! let now = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
//! let due = now + Duration::minutes(30);
//! assert_eq!(deadline_state(due, TicketStatus::Accepted, now), DeadlineState::NearDue);
//! assert_eq!(deadline_state(due, TicketStatus::Closed, now), DeadlineState::OnTrack);
//! ```

use crate::ticket::vocabulary::TicketStatus;
use chrono::{DateTime, Duration, Utc};

/// How soon a deadline must fall for an open ticket to be flagged near due (黄色): 2 hours.
pub const NEAR_DUE: Duration = Duration::hours(2);

/// Where an open ticket stands against its deadline at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeadlineState {
    /// Not flagged: due later than [`NEAR_DUE`] from now, or no longer open.
    OnTrack,
    /// Open and due within [`NEAR_DUE`], the deadline not yet passed (黄色).
    NearDue,
    /// Open and past its deadline (红色).
    Overdue,
}

/// The flag of a ticket in `status` with deadline `deadline_at`, at `now`. Only open tickets
/// ([`TicketStatus::is_open`]) are flagged. A deadline at `now` exactly is near due, not overdue:
/// it is overdue once `now` is later.
pub fn deadline_state(deadline_at: DateTime<Utc>, status: TicketStatus, now: DateTime<Utc>) -> DeadlineState {
    if !status.is_open() {
        DeadlineState::OnTrack
    } else if deadline_at < now {
        DeadlineState::Overdue
    } else if deadline_at < now + NEAR_DUE {
        DeadlineState::NearDue
    } else {
        DeadlineState::OnTrack
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn check(deadline_in_minutes: i64, status: TicketStatus, expected: DeadlineState) {
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let deadline_at = now + Duration::minutes(deadline_in_minutes);
        assert_eq!(deadline_state(deadline_at, status, now), expected, "{deadline_in_minutes} min, {status:?}");
    }

    #[test]
    fn deadline_state_flags_open_tickets_only() {
        use DeadlineState::*;
        use TicketStatus::*;
        check(-1, Accepted, Overdue);
        check(0, Accepted, NearDue);
        check(119, Registered, NearDue);
        check(120, Registered, OnTrack);
        check(-60, CallbackDone, Overdue);
        check(-60, ReworkRequired, Overdue);
        for terminal in [Closed, Voided, Cancelled] {
            check(-60, terminal, OnTrack);
            check(30, terminal, OnTrack);
        }
    }
}
