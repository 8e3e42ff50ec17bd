//! Call KPIs (DESIGN.md, "KPIs"): `CallKpiProjection` keeps counters in `rm_call_kpi` per tenant,
//! queue, agent and hour; [`call_kpis`] sums them for a scope into hour or day buckets of China
//! Standard Time.
//!
//! Each fact is counted once, in the row of the dimensions its event names (an empty queue or
//! agent where it names none), in the hour of the instant the event records:
//! - offered: `CallOffered` not blacklisted (blacklisted ones are counted apart);
//! - presented: `CallRinging` at an agent (calls put through to that agent);
//! - answered, answered within the service level and the sum of their waits: `CallAnswered` that
//!   is not a transfer target's answer, with its `wait_seconds` and `within_service_level`;
//! - abandoned and short abandons: `CallAbandoned` and its `short` flag;
//! - handled, talk and hold: `CallEnded` (an answered call hung up) and its durations;
//! - answered elsewhere: `CallCompletedElsewhere` (cancelled because another leg took the call);
//! - ends not observed: `CallEndUnobserved` (an answered call whose hang-up was lost; it was
//!   counted answered when answered, and is left out of handled, talk and hold, whose end it
//!   does not know);
//! - wrap-up: `AgentStatusChanged` leaving wrap-up (or `AgentSignedOut` from it), its seconds.
//!
//! This module counts; the formulas are [`hotline_domain::kpi`]'s. Definitions per bucket:
//! 接通率 answer rate = (answered + answered elsewhere) ÷ offered (a call completed elsewhere
//! reached someone, so it is no loss); 呼损率 abandonment = abandoned ÷ offered (short
//! abandons included, and counted apart); ASA = answered waits ÷ answered; service level =
//! answered within T ÷ answered; AHT = (talk + hold + wrap-up) ÷ handled. Calls are not offered
//! to an agent, so an agent's answer rate is answered ÷ presented. Wrap-up names no queue, so a
//! queue's AHT is talk and hold only.

use crate::calls::decode_call;
use crate::columns::timestamp;
use crate::kpi::{bucket_key, Bucket};
use crate::runner::{Projection, ProjectionError};
use crate::store::WhereClause;
use async_trait::async_trait;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use hotline_commands::store::RecordedEvent;
use hotline_domain::agent::{AgentEvent, AgentStatus};
use hotline_domain::call::CallEvent;
use hotline_domain::kpi;
use hotline_domain::telephony::QueueId;
use hotline_domain::values::{TenantId, UserId};
use hotline_domain::EventCodec;
use sqlx::{AnyConnection, AnyPool, Row};
use std::collections::BTreeMap;

/// Builds `rm_call_kpi`.
pub struct CallKpiProjection;

/// The counters of `rm_call_kpi`, in column order.
const COUNTERS: [&str; 14] = [
    "offered",
    "blacklisted",
    "presented",
    "answered",
    "answered_within_sl",
    "answered_wait_sum",
    "abandoned",
    "short_abandoned",
    "handled",
    "talk_sum",
    "hold_sum",
    "wrap_up_sum",
    "answered_elsewhere",
    "ends_unobserved",
];

/// Increments of one row's counters, in [`COUNTERS`] order.
type Increments = [i64; COUNTERS.len()];

/// Adds `increments` to the row of these dimensions and the hour of `at`.
async fn bump(
    conn: &mut AnyConnection,
    tenant: &TenantId,
    queue: Option<&QueueId>,
    agent: Option<&UserId>,
    at: &DateTime<Utc>,
    increments: Increments,
) -> Result<(), sqlx::Error> {
    let hour = at.duration_trunc(TimeDelta::hours(1)).unwrap_or(*at);
    let columns = COUNTERS.join(", ");
    let values = (5..5 + COUNTERS.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
    let updates = COUNTERS.map(|c| format!("{c} = rm_call_kpi.{c} + excluded.{c}")).join(", ");
    // The statement is built from the fixed column list; every value is bound.
    let sql = format!(
        "INSERT INTO rm_call_kpi (tenant, queue, agent, hour_start, {columns}) VALUES ($1, $2, $3, $4, {values}) \
         ON CONFLICT (tenant, queue, agent, hour_start) DO UPDATE SET {updates}"
    );
    let mut query = sqlx::query(&sql)
        .bind(&tenant.0)
        .bind(queue.map_or_else(String::new, |q| q.0.clone()))
        .bind(agent.map_or_else(String::new, |a| a.0.clone()))
        .bind(timestamp(&hour));
    for increment in increments {
        query = query.bind(increment);
    }
    query.execute(conn).await.map(|_| ())
}

/// Increments of the named counters; the others stay.
fn counts(named: &[(&str, i64)]) -> Increments {
    let mut increments = [0; COUNTERS.len()];
    for (counter, by) in named {
        let index = COUNTERS.iter().position(|c| c == counter).expect("a known counter");
        increments[index] = *by;
    }
    increments
}

#[async_trait]
impl Projection for CallKpiProjection {
    fn id(&self) -> &'static str {
        "call_kpis"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rm_call_kpi"]
    }

    async fn apply(&self, conn: &mut AnyConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
        match event.stream_id.category() {
            "call" => apply_call(conn, &decode_call(event)?).await,
            "agent" => {
                let decoded = AgentEvent::decode(&event.event_type, event.schema_version, event.payload.clone())
                    .map_err(|source| ProjectionError::Decode { event_type: event.event_type.clone(), source })?;
                let (tenant, agent, seconds, at) = match &decoded {
                    AgentEvent::StatusChanged {
                        tenant, agent, from: AgentStatus::WrapUp, from_seconds, at, ..
                    } => (tenant, agent, *from_seconds, at),
                    AgentEvent::SignedOut {
                        tenant, agent, status: AgentStatus::WrapUp, status_seconds, at, ..
                    } => (tenant, agent, *status_seconds, at),
                    _ => return Ok(()),
                };
                bump(conn, tenant, None, Some(agent), at, counts(&[("wrap_up_sum", seconds)])).await?;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

async fn apply_call(conn: &mut AnyConnection, event: &CallEvent) -> Result<(), ProjectionError> {
    match event {
        CallEvent::Offered { tenant, queue, blacklisted, at, .. } => {
            let counter = if *blacklisted { "blacklisted" } else { "offered" };
            bump(conn, tenant, queue.as_ref(), None, at, counts(&[(counter, 1)])).await?;
        }
        CallEvent::Ringing { tenant, queue, agent: Some(agent), at, .. } => {
            bump(conn, tenant, queue.as_ref(), Some(agent), at, counts(&[("presented", 1)])).await?;
        }
        CallEvent::Answered {
            tenant,
            queue,
            agent,
            wait_seconds,
            within_service_level,
            transferred: false,
            at,
            ..
        } => {
            let increments = counts(&[
                ("answered", 1),
                ("answered_within_sl", i64::from(*within_service_level)),
                ("answered_wait_sum", *wait_seconds),
            ]);
            bump(conn, tenant, queue.as_ref(), agent.as_ref(), at, increments).await?;
        }
        CallEvent::Abandoned { tenant, queue, short, at, .. } => {
            let increments = counts(&[("abandoned", 1), ("short_abandoned", i64::from(*short))]);
            bump(conn, tenant, queue.as_ref(), None, at, increments).await?;
        }
        CallEvent::Ended { tenant, queue, agent, talk_seconds, hold_seconds, at, .. } => {
            let increments = counts(&[("handled", 1), ("talk_sum", *talk_seconds), ("hold_sum", *hold_seconds)]);
            bump(conn, tenant, queue.as_ref(), agent.as_ref(), at, increments).await?;
        }
        CallEvent::CompletedElsewhere { tenant, queue, at, .. } => {
            bump(conn, tenant, queue.as_ref(), None, at, counts(&[("answered_elsewhere", 1)])).await?;
        }
        CallEvent::EndUnobserved { tenant, queue, agent, at, .. } => {
            bump(conn, tenant, queue.as_ref(), agent.as_ref(), at, counts(&[("ends_unobserved", 1)])).await?;
        }
        _ => {}
    }
    Ok(())
}

/// Whose call figures.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CallKpiScope {
    /// The whole group.
    Group,
    /// One subsidiary.
    Tenant(String),
    /// One queue of a subsidiary.
    Queue {
        /// The subsidiary.
        tenant: String,
        /// The queue.
        queue: String,
    },
    /// One agent, within one subsidiary or (`None`) anywhere.
    Agent {
        /// The agent.
        agent: String,
        /// Only this subsidiary's figures.
        tenant: Option<String>,
    },
}

/// The call counters and KPIs of one bucket.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CallKpis {
    /// Bucket key (`YYYY-MM-DD` or `YYYY-MM-DDTHH`, China Standard Time).
    pub bucket: String,
    /// Calls offered (blacklisted ones excluded).
    pub offered: i64,
    /// Calls refused at the offer because the caller is blacklisted.
    pub blacklisted: i64,
    /// Calls put through to an agent (rings at an agent).
    pub presented: i64,
    /// First answers.
    pub answered: i64,
    /// Of those, within the queue's service-level T.
    pub answered_within_service_level: i64,
    /// Seconds waited by the answered calls, summed.
    pub answered_wait_seconds: i64,
    /// Calls the caller gave up before an answer.
    pub abandoned: i64,
    /// Of those, short abandons.
    pub short_abandoned: i64,
    /// Answered calls hung up.
    pub handled: i64,
    /// Their talk seconds, summed.
    pub talk_seconds: i64,
    /// Their hold seconds, summed.
    pub hold_seconds: i64,
    /// Wrap-up seconds, summed.
    pub wrap_up_seconds: i64,
    /// Calls cancelled because another leg answered them ("Call completed elsewhere").
    pub answered_elsewhere: i64,
    /// Answered calls whose hang-up was never observed (ended by the adapter's idle time-out).
    pub ends_unobserved: i64,
}

impl CallKpis {
    /// 接通率: (answered + answered elsewhere) ÷ offered ([`kpi::answer_rate`]).
    pub fn answer_rate(&self) -> Option<f64> {
        kpi::answer_rate(self.answered + self.answered_elsewhere, self.offered)
    }
    /// An agent's answer rate: answered ÷ presented ([`kpi::presented_answer_rate`]).
    pub fn presented_answer_rate(&self) -> Option<f64> {
        kpi::presented_answer_rate(self.answered, self.presented)
    }
    /// 呼损率: abandoned ÷ offered ([`kpi::abandon_rate`]).
    pub fn abandon_rate(&self) -> Option<f64> {
        kpi::abandon_rate(self.abandoned, self.offered)
    }
    /// ASA: mean wait of answered calls, seconds ([`kpi::average_speed_of_answer`]).
    pub fn average_speed_of_answer(&self) -> Option<f64> {
        kpi::average_speed_of_answer(self.answered_wait_seconds, self.answered)
    }
    /// Service level: answered within T ÷ answered ([`kpi::service_level`]).
    pub fn service_level(&self) -> Option<f64> {
        kpi::service_level(self.answered_within_service_level, self.answered)
    }
    /// AHT: (talk + hold + wrap-up) ÷ handled, seconds ([`kpi::average_handling_time`]).
    pub fn average_handling_time(&self) -> Option<f64> {
        kpi::average_handling_time(self.talk_seconds, self.hold_seconds, self.wrap_up_seconds, self.handled)
    }
    /// Mean talk time of handled calls, seconds ([`kpi::average_talk_time`]).
    pub fn average_talk_time(&self) -> Option<f64> {
        kpi::average_talk_time(self.talk_seconds, self.handled)
    }

    fn add(&mut self, counters: &Increments) {
        let [offered, blacklisted, presented, answered, within, wait, abandoned, short, handled, talk, hold, wrap, elsewhere, unobserved] =
            *counters;
        self.offered += offered;
        self.blacklisted += blacklisted;
        self.presented += presented;
        self.answered += answered;
        self.answered_within_service_level += within;
        self.answered_wait_seconds += wait;
        self.abandoned += abandoned;
        self.short_abandoned += short;
        self.handled += handled;
        self.talk_seconds += talk;
        self.hold_seconds += hold;
        self.wrap_up_seconds += wrap;
        self.answered_elsewhere += elsewhere;
        self.ends_unobserved += unobserved;
    }
}

/// The counters of `rm_call_kpi` rows matching the scope in `[from, to)`, by agent, with the
/// hour each row counts.
async fn rows(
    pool: &AnyPool,
    scope: &CallKpiScope,
    from: &DateTime<Utc>,
    to: &DateTime<Utc>,
) -> Result<Vec<(String, DateTime<Utc>, Increments)>, sqlx::Error> {
    // Dynamic SQL: the scope adds its conditions; values are bound.
    let mut clause = WhereClause::new();
    match scope {
        CallKpiScope::Group => {}
        CallKpiScope::Tenant(tenant) => clause.push("tenant = ?", vec![tenant.clone()]),
        CallKpiScope::Queue { tenant, queue } => {
            clause.push("tenant = ? AND queue = ?", vec![tenant.clone(), queue.clone()])
        }
        CallKpiScope::Agent { agent, tenant } => {
            clause.push("agent = ?", vec![agent.clone()]);
            if let Some(tenant) = tenant {
                clause.push("tenant = ?", vec![tenant.clone()]);
            }
        }
    }
    clause.push("hour_start >= ? AND hour_start < ?", vec![timestamp(from), timestamp(to)]);
    let sql = format!("SELECT agent, hour_start, {} FROM rm_call_kpi WHERE {}", COUNTERS.join(", "), clause.sql());
    let mut query = sqlx::query(&sql);
    for value in clause.values {
        query = query.bind(value);
    }
    let mut found = Vec::new();
    for row in query.fetch_all(pool).await? {
        let hour: String = row.try_get(1)?;
        let hour = DateTime::parse_from_rfc3339(&hour).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        let mut counters = [0; COUNTERS.len()];
        for (index, counter) in counters.iter_mut().enumerate() {
            *counter = row.try_get(index + 2)?;
        }
        found.push((row.try_get(0)?, hour.with_timezone(&Utc), counters));
    }
    Ok(found)
}

/// Call KPIs for `scope` over `[from, to)` (whole hours), one entry per bucket with any count.
pub async fn call_kpis(
    pool: &AnyPool,
    scope: &CallKpiScope,
    from: &DateTime<Utc>,
    to: &DateTime<Utc>,
    bucket: Bucket,
) -> Result<Vec<CallKpis>, sqlx::Error> {
    let mut buckets: BTreeMap<String, CallKpis> = BTreeMap::new();
    for (_, hour, counters) in rows(pool, scope, from, to).await? {
        let key = bucket_key(&hour, bucket);
        buckets.entry(key.clone()).or_insert_with(|| CallKpis { bucket: key, ..CallKpis::default() }).add(&counters);
    }
    Ok(buckets.into_values().collect())
}

/// Each agent's call figures over `[from, to)`, within the given tenants (`None`: all).
pub async fn agent_call_totals(
    pool: &AnyPool,
    tenants: Option<&[String]>,
    from: &DateTime<Utc>,
    to: &DateTime<Utc>,
) -> Result<BTreeMap<String, CallKpis>, sqlx::Error> {
    let mut totals: BTreeMap<String, CallKpis> = BTreeMap::new();
    let scopes: Vec<CallKpiScope> = match tenants {
        None => vec![CallKpiScope::Group],
        Some(tenants) => tenants.iter().cloned().map(CallKpiScope::Tenant).collect(),
    };
    for scope in scopes {
        for (agent, _, counters) in rows(pool, &scope, from, to).await? {
            if !agent.is_empty() {
                totals
                    .entry(agent.clone())
                    .or_insert_with(|| CallKpis { bucket: String::new(), ..CallKpis::default() })
                    .add(&counters);
            }
        }
    }
    Ok(totals)
}
