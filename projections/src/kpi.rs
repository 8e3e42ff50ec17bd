//! Ticket KPIs (DESIGN.md, "KPIs"), from the facts `TicketProjection` keeps per ticket. This
//! module counts; the formulas (and which tickets are due or breached, which ratings satisfied)
//! are [`hotline_domain::kpi`]'s.
//!
//! Definitions, per bucket of China Standard Time (hour or day), for the tickets in scope:
//! - 响应时长 response time: mean of first acceptance − first dispatch, over tickets first
//!   accepted in the bucket; on-site time likewise to the first check-in.
//! - 一次解决率 first-time fix: tickets closed in the bucket with no return, redispatch or reopen
//!   ÷ tickets closed in the bucket.
//! - 办结率 closure rate: tickets due in the bucket (deadline in it; voided and cancelled ones
//!   excluded) that are closed ÷ tickets due in the bucket.
//! - 满意率 satisfaction: callbacks in the bucket rated satisfied or basically satisfied ÷
//!   callbacks in the bucket (a ticket's latest callback).
//! - 超时率 overdue rate: tickets due in the bucket that breached their deadline (closed late, or
//!   still open past it) ÷ tickets due in the bucket.

use crate::columns::timestamp;
use crate::store::WhereClause;
use chrono::{DateTime, Utc};
use hotline_domain::kpi;
use hotline_domain::ticket::{Satisfaction, TicketStatus};
use hotline_domain::values::CHINA_STANDARD_TIME;
use sqlx::{AnyPool, Row};
use std::collections::BTreeMap;

/// Whose figures.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KpiScope {
    /// The whole group.
    Group,
    /// Tickets of one subsidiary.
    Tenant(String),
    /// Tickets handled by one station.
    Station(String),
    /// Tickets handled by one worker.
    Worker(String),
}

/// Time buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// `YYYY-MM-DDTHH`, China Standard Time.
    Hour,
    /// `YYYY-MM-DD`, China Standard Time.
    Day,
}

/// The ticket KPIs of one bucket.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct TicketKpis {
    /// Bucket key.
    pub bucket: String,
    /// Tickets first accepted in the bucket.
    pub responded: u64,
    /// Mean response time, seconds.
    pub response_seconds: Option<f64>,
    /// Tickets first on site in the bucket.
    pub on_site: u64,
    /// Mean dispatch → on-site time, seconds.
    pub on_site_seconds: Option<f64>,
    /// Tickets closed in the bucket.
    pub closed: u64,
    /// Of those, closed at the first attempt.
    pub first_time_fixed: u64,
    /// Tickets due in the bucket.
    pub due: u64,
    /// Of those, closed.
    pub due_closed: u64,
    /// Of those, breached.
    pub due_overdue: u64,
    /// Callbacks in the bucket.
    pub rated: u64,
    /// Of those, satisfied or basically satisfied.
    pub satisfied: u64,
}

impl TicketKpis {
    /// 一次解决率 ([`kpi::first_time_fix_rate`]).
    pub fn first_time_fix_rate(&self) -> Option<f64> {
        kpi::first_time_fix_rate(self.first_time_fixed, self.closed)
    }
    /// 办结率 ([`kpi::closure_rate`]).
    pub fn closure_rate(&self) -> Option<f64> {
        kpi::closure_rate(self.due_closed, self.due)
    }
    /// 满意率 ([`kpi::satisfaction_rate`]).
    pub fn satisfaction_rate(&self) -> Option<f64> {
        kpi::satisfaction_rate(self.satisfied, self.rated)
    }
    /// 超时率 ([`kpi::overdue_rate`]).
    pub fn overdue_rate(&self) -> Option<f64> {
        kpi::overdue_rate(self.due_overdue, self.due)
    }
}

/// The satisfaction a stored code names (its serde name, as `TicketProjection` stores it).
fn satisfaction(code: Option<&str>) -> Option<Satisfaction> {
    code.and_then(|code| serde_json::from_value(serde_json::Value::from(code)).ok())
}

fn parse(at: &Option<String>) -> Option<DateTime<Utc>> {
    at.as_deref().and_then(|s| DateTime::parse_from_rfc3339(s).ok()).map(|t| t.with_timezone(&Utc))
}

pub(crate) fn bucket_key(at: &DateTime<Utc>, bucket: Bucket) -> String {
    let china = at.with_timezone(&CHINA_STANDARD_TIME);
    match bucket {
        Bucket::Hour => china.format("%Y-%m-%dT%H").to_string(),
        Bucket::Day => china.format("%Y-%m-%d").to_string(),
    }
}

/// The accumulator of a bucket: its figures and the sums behind the two means.
type Accumulator = (TicketKpis, f64, f64);

fn entry<'a>(
    buckets: &'a mut BTreeMap<String, Accumulator>,
    at: &DateTime<Utc>,
    bucket: Bucket,
) -> &'a mut Accumulator {
    let key = bucket_key(at, bucket);
    buckets.entry(key.clone()).or_insert_with(|| (TicketKpis { bucket: key, ..TicketKpis::default() }, 0.0, 0.0))
}

/// Ticket KPIs for `scope` over `[from, to)`, one entry per bucket that has any figure.
pub async fn ticket_kpis(
    pool: &AnyPool,
    scope: &KpiScope,
    from: &DateTime<Utc>,
    to: &DateTime<Utc>,
    bucket: Bucket,
    now: &DateTime<Utc>,
) -> Result<Vec<TicketKpis>, sqlx::Error> {
    // Dynamic SQL: the scope adds one condition; values are bound.
    let mut clause = WhereClause::new();
    match scope {
        KpiScope::Group => {}
        KpiScope::Tenant(t) => clause.push("tenant = ?", vec![t.clone()]),
        KpiScope::Station(s) => clause.push("station = ?", vec![s.clone()]),
        KpiScope::Worker(w) => clause.push("worker = ?", vec![w.clone()]),
    }
    let (from_text, to_text) = (timestamp(from), timestamp(to));
    let window = ["first_accepted_at", "first_on_site_at", "closed_at", "deadline_at", "callback_at"]
        .map(|column| format!("({column} >= ? AND {column} < ?)"))
        .join(" OR ");
    clause.push(&format!("({window})"), (0..5).flat_map(|_| [from_text.clone(), to_text.clone()]).collect());
    let sql = format!(
        "SELECT first_dispatched_at, first_accepted_at, first_on_site_at, closed_at, first_time_fix, deadline_at, \
         status, closed_overdue, callback_at, callback_satisfaction FROM rm_ticket WHERE {}",
        clause.sql()
    );
    let mut query = sqlx::query(&sql);
    for value in clause.values {
        query = query.bind(value);
    }
    let in_window = |at: &Option<DateTime<Utc>>| at.filter(|t| t >= from && t < to);
    let mut buckets: BTreeMap<String, Accumulator> = BTreeMap::new();
    for row in query.fetch_all(pool).await? {
        let dispatched = parse(&row.try_get(0)?);
        let accepted = parse(&row.try_get(1)?);
        let on_site = parse(&row.try_get(2)?);
        let closed = parse(&row.try_get(3)?);
        let first_time_fix: Option<i64> = row.try_get(4)?;
        let deadline = parse(&Some(row.try_get(5)?));
        let status: String = row.try_get(6)?;
        let closed_overdue: Option<i64> = row.try_get(7)?;
        let callback = parse(&row.try_get(8)?);
        let rating: Option<String> = row.try_get(9)?;
        if let (Some(at), Some(start)) = (in_window(&accepted), dispatched) {
            let (kpis, response_sum, _) = entry(&mut buckets, &at, bucket);
            kpis.responded += 1;
            *response_sum += kpi::elapsed_seconds(start, at);
        }
        if let (Some(at), Some(start)) = (in_window(&on_site), dispatched) {
            let (kpis, _, on_site_sum) = entry(&mut buckets, &at, bucket);
            kpis.on_site += 1;
            *on_site_sum += kpi::elapsed_seconds(start, at);
        }
        if let Some(at) = in_window(&closed) {
            let (kpis, _, _) = entry(&mut buckets, &at, bucket);
            kpis.closed += 1;
            kpis.first_time_fixed += u64::from(first_time_fix == Some(1));
        }
        if let Some(at) = in_window(&deadline) {
            let status = TicketStatus::from_code(&status)
                .ok_or_else(|| sqlx::Error::Decode(format!("unknown ticket status {status:?} in rm_ticket").into()))?;
            if let Some(due) = kpi::due_ticket(status, closed_overdue == Some(1), at, *now) {
                let (kpis, _, _) = entry(&mut buckets, &at, bucket);
                kpis.due += 1;
                kpis.due_closed += u64::from(due.closed);
                kpis.due_overdue += u64::from(due.breached);
            }
        }
        if let Some(at) = in_window(&callback) {
            let (kpis, _, _) = entry(&mut buckets, &at, bucket);
            kpis.rated += 1;
            kpis.satisfied += u64::from(satisfaction(rating.as_deref()).is_some_and(kpi::counts_as_satisfied));
        }
    }
    Ok(buckets
        .into_values()
        .map(|(mut kpis, response_sum, on_site_sum)| {
            kpis.response_seconds = kpi::mean_seconds(response_sum, kpis.responded);
            kpis.on_site_seconds = kpi::mean_seconds(on_site_sum, kpis.on_site);
            kpis
        })
        .collect())
}
