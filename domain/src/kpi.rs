//! KPI formulas: pure functions over the counters read models keep. Projections count facts
//! (per bucket, scope and dimension) and call these to turn the counts into the figures boards
//! show, so every board computes a KPI the same way.
//!
//! Every ratio and mean is `None` when its denominator is 0: no calls offered means no answer
//! rate, not 0 % or 100 %.
//!
//! ```
//! use hotline_domain::kpi;
//! assert_eq!(kpi::answer_rate(45, 50), Some(0.9));
//! assert_eq!(kpi::answer_rate(0, 0), None);
//! ```
//!
//! # Tickets
//! - 响应时长 response time: [`mean_seconds`] of first acceptance − first dispatch
//!   ([`elapsed_seconds`]); on-site time likewise to the first check-in.
//! - 一次解决率 [`first_time_fix_rate`], 办结率 [`closure_rate`], 满意率 [`satisfaction_rate`]
//!   (a rating counts when [`counts_as_satisfied`]), 超时率 [`overdue_rate`]; which tickets are
//!   due, closed and breached in a bucket: [`due_ticket`].
//!
//! # Calls
//! 接通率 [`answer_rate`] (an agent's: [`presented_answer_rate`]), 呼损率 [`abandon_rate`], ASA
//! [`average_speed_of_answer`], [`service_level`], AHT [`average_handling_time`] and
//! [`average_talk_time`].

use crate::ticket::vocabulary::{Satisfaction, TicketStatus};
use chrono::{DateTime, Utc};

/// `part ÷ whole`, or `None` for an empty whole.
fn ratio(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| part / whole)
}

/// Seconds from `from` to `to`, to the millisecond (negative if `to` is earlier).
pub fn elapsed_seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds() as f64 / 1_000.0
}

/// The mean of `count` durations summing to `sum_seconds`, in seconds (响应时长, on-site time).
pub fn mean_seconds(sum_seconds: f64, count: u64) -> Option<f64> {
    ratio(sum_seconds, count as f64)
}

/// 一次解决率: tickets closed with no return, redispatch or reopen ÷ tickets closed.
pub fn first_time_fix_rate(first_time_fixed: u64, closed: u64) -> Option<f64> {
    ratio(first_time_fixed as f64, closed as f64)
}

/// 办结率: tickets due (deadline in the bucket) that are closed ÷ tickets due.
pub fn closure_rate(due_closed: u64, due: u64) -> Option<f64> {
    ratio(due_closed as f64, due as f64)
}

/// 满意率: callbacks rated satisfied or basically satisfied ÷ callbacks rated.
pub fn satisfaction_rate(satisfied: u64, rated: u64) -> Option<f64> {
    ratio(satisfied as f64, rated as f64)
}

/// 超时率: tickets due that breached their deadline ÷ tickets due.
pub fn overdue_rate(due_overdue: u64, due: u64) -> Option<f64> {
    ratio(due_overdue as f64, due as f64)
}

/// Whether a callback rating counts as satisfied for 满意率: satisfied or basically satisfied.
pub fn counts_as_satisfied(satisfaction: Satisfaction) -> bool {
    matches!(satisfaction, Satisfaction::Satisfied | Satisfaction::BasicallySatisfied)
}

/// How a ticket whose deadline falls in a bucket counts toward 办结率 and 超时率.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueTicket {
    /// Closed (办结): counts toward 办结率.
    pub closed: bool,
    /// Breached its deadline: closed late, or still open past it. Counts toward 超时率.
    pub breached: bool,
}

/// How a ticket in `status` with deadline `deadline_at` counts as due at `now`; `None` for voided
/// and cancelled tickets, which are never due. `closed_overdue` is what `TicketClosed` recorded
/// (closed after the deadline); it is only looked at for closed tickets.
pub fn due_ticket(
    status: TicketStatus,
    closed_overdue: bool,
    deadline_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<DueTicket> {
    match status {
        TicketStatus::Voided | TicketStatus::Cancelled => None,
        TicketStatus::Closed => Some(DueTicket { closed: true, breached: closed_overdue }),
        _ => Some(DueTicket { closed: false, breached: deadline_at < now }),
    }
}

/// 接通率: calls answered ÷ calls offered (blacklisted calls are not offered). Calls completed
/// elsewhere (another leg answered them) are connected and count as answered here.
pub fn answer_rate(answered: i64, offered: i64) -> Option<f64> {
    ratio(answered as f64, offered as f64)
}

/// An agent's answer rate: calls answered ÷ calls that rang at the agent. Calls are offered to a
/// queue, not to an agent, so an agent's 接通率 is over what was presented to them.
pub fn presented_answer_rate(answered: i64, presented: i64) -> Option<f64> {
    ratio(answered as f64, presented as f64)
}

/// 呼损率: calls abandoned (short abandons included) ÷ calls offered.
pub fn abandon_rate(abandoned: i64, offered: i64) -> Option<f64> {
    ratio(abandoned as f64, offered as f64)
}

/// ASA (average speed of answer): seconds waited by the answered calls ÷ calls answered.
pub fn average_speed_of_answer(answered_wait_seconds: i64, answered: i64) -> Option<f64> {
    ratio(answered_wait_seconds as f64, answered as f64)
}

/// Service level: calls answered within the queue's threshold T ÷ calls answered.
pub fn service_level(answered_within_service_level: i64, answered: i64) -> Option<f64> {
    ratio(answered_within_service_level as f64, answered as f64)
}

/// AHT (average handling time): (talk + hold + wrap-up seconds) ÷ calls handled (answered and
/// hung up). Wrap-up names no queue, so a queue's AHT is given 0 wrap-up seconds.
pub fn average_handling_time(talk_seconds: i64, hold_seconds: i64, wrap_up_seconds: i64, handled: i64) -> Option<f64> {
    ratio((talk_seconds + hold_seconds + wrap_up_seconds) as f64, handled as f64)
}

/// Mean talk time of the calls handled, seconds.
pub fn average_talk_time(talk_seconds: i64, handled: i64) -> Option<f64> {
    ratio(talk_seconds as f64, handled as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, hour, 0, 0).unwrap()
    }

    #[test]
    fn ratios_are_none_over_nothing() {
        assert_eq!(first_time_fix_rate(0, 0), None);
        assert_eq!(closure_rate(0, 0), None);
        assert_eq!(satisfaction_rate(0, 0), None);
        assert_eq!(overdue_rate(0, 0), None);
        assert_eq!(mean_seconds(0.0, 0), None);
        assert_eq!(answer_rate(0, 0), None);
        assert_eq!(presented_answer_rate(0, 0), None);
        assert_eq!(abandon_rate(0, 0), None);
        assert_eq!(average_speed_of_answer(0, 0), None);
        assert_eq!(service_level(0, 0), None);
        assert_eq!(average_handling_time(0, 0, 0, 0), None);
        assert_eq!(average_talk_time(0, 0), None);
    }

    #[test]
    fn ticket_ratios_divide_the_part_by_the_whole() {
        assert_eq!(first_time_fix_rate(3, 4), Some(0.75));
        assert_eq!(closure_rate(1, 4), Some(0.25));
        assert_eq!(satisfaction_rate(2, 2), Some(1.0));
        assert_eq!(overdue_rate(0, 5), Some(0.0));
        assert_eq!(mean_seconds(90.0, 3), Some(30.0));
    }

    #[test]
    fn call_ratios_divide_the_part_by_the_whole() {
        assert_eq!(answer_rate(45, 50), Some(0.9));
        assert_eq!(presented_answer_rate(3, 4), Some(0.75));
        assert_eq!(abandon_rate(5, 50), Some(0.1));
        assert_eq!(average_speed_of_answer(120, 4), Some(30.0));
        assert_eq!(service_level(3, 4), Some(0.75));
        assert_eq!(average_handling_time(200, 40, 60, 3), Some(100.0));
        assert_eq!(average_talk_time(200, 4), Some(50.0));
    }

    #[test]
    fn elapsed_seconds_keeps_milliseconds() {
        assert_eq!(elapsed_seconds(at(9), at(9) + Duration::milliseconds(1_500)), 1.5);
        assert_eq!(elapsed_seconds(at(10), at(9)), -3_600.0);
    }

    #[test]
    fn satisfied_and_basically_satisfied_count_as_satisfied() {
        assert!(counts_as_satisfied(Satisfaction::Satisfied));
        assert!(counts_as_satisfied(Satisfaction::BasicallySatisfied));
        assert!(!counts_as_satisfied(Satisfaction::Dissatisfied));
    }

    #[test]
    fn due_ticket_counts_closed_late_or_open_past_the_deadline_as_breached() {
        let deadline = at(9);
        let due = |status, closed_overdue, now| due_ticket(status, closed_overdue, deadline, now);
        assert_eq!(due(TicketStatus::Closed, true, at(8)), Some(DueTicket { closed: true, breached: true }));
        assert_eq!(due(TicketStatus::Closed, false, at(10)), Some(DueTicket { closed: true, breached: false }));
        assert_eq!(due(TicketStatus::OnSite, false, at(10)), Some(DueTicket { closed: false, breached: true }));
        assert_eq!(due(TicketStatus::OnSite, false, at(9)), Some(DueTicket { closed: false, breached: false }));
        assert_eq!(due(TicketStatus::Voided, false, at(10)), None);
        assert_eq!(due(TicketStatus::Cancelled, true, at(10)), None);
    }
}
