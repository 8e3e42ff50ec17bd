//! Calls: `CallProjection` builds `rm_call` (CallView), one row per `call-<key>` stream, updated by
//! every call event; [`CallQueries`] lists them, finds a caller's recent calls and answers what a
//! queue looked like at an instant ([`CallQueries::queue_state`]).
//!
//! Every figure in a row is copied from the events: waits, talk and hold times, the service-level
//! verdict and whether an abandon was short are the decider's; the row only mirrors the status the
//! call's `evolve` gives. The caller's number is stored raw: the API masks it by role.

use crate::columns::timestamp;
use crate::columns::{flag_optional, serialize_optional_time, serialize_time, typed, typed_optional};
use crate::runner::{Projection, ProjectionError};
use crate::store::WhereClause;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hotline_commands::store::RecordedEvent;
use hotline_domain::call::{CallEvent, CallStatus};
use hotline_domain::values::TenantId;
use hotline_domain::EventCodec;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

/// Builds `rm_call`.
pub struct CallProjection;

/// Decodes a call event, or says which one did not decode.
pub(crate) fn decode_call(event: &RecordedEvent) -> Result<CallEvent, ProjectionError> {
    CallEvent::decode(&event.event_type, event.schema_version, event.payload.clone())
        .map_err(|source| ProjectionError::Decode { event_type: event.event_type.clone(), source })
}

/// Sets a finished call's status, outcome, end time and wait.
const FINISH: &str = "UPDATE rm_call SET status = $1, outcome = $2, ended_at = COALESCE(ended_at, $3), \
    wait_seconds = COALESCE(wait_seconds, $4), last_position = $5 WHERE call_key = $6";

#[async_trait]
impl Projection for CallProjection {
    fn id(&self) -> &'static str {
        "calls"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rm_call"]
    }

    async fn apply(&self, conn: &mut AnyConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
        if event.stream_id.category() != "call" {
            return Ok(());
        }
        let decoded = decode_call(event)?;
        let key = event.stream_id.id().to_owned();
        let position = event.global_position as i64;
        match &decoded {
            CallEvent::Offered { call_id, tenant, caller, dialled, queue, at, .. } => {
                sqlx::query(
                    "INSERT INTO rm_call (call_key, tenant, call_id, queue, caller, dialled, status, offered_at, \
                     offered_position, last_position) VALUES ($1, $2, $3, $4, $5, $6, 'offered', $7, $8, $8)",
                )
                .bind(&key)
                .bind(&tenant.0)
                .bind(call_id)
                .bind(queue.as_ref().map(|q| q.0.clone()))
                .bind(caller)
                .bind(dialled)
                .bind(timestamp(at))
                .bind(position)
                .execute(&mut *conn)
                .await?;
            }
            CallEvent::Queued { .. } => {
                sqlx::query("UPDATE rm_call SET status = 'queued', last_position = $1 WHERE call_key = $2")
                    .bind(position)
                    .bind(&key)
                    .execute(&mut *conn)
                    .await?;
            }
            CallEvent::Ringing { .. } => {
                // A transfer target ringing leaves the call transferring, as the decider's evolve does.
                sqlx::query(
                    "UPDATE rm_call SET status = CASE WHEN status = 'transferring' THEN status ELSE 'ringing' END, \
                     last_position = $1 WHERE call_key = $2",
                )
                .bind(position)
                .bind(&key)
                .execute(&mut *conn)
                .await?;
            }
            CallEvent::Answered {
                extension, seat, agent, wait_seconds, within_service_level, transferred, at, ..
            } => {
                sqlx::query(
                    "UPDATE rm_call SET status = 'talking', extension = $1, seat = $2, agent = $3, last_position = $4 \
                     WHERE call_key = $5",
                )
                .bind(&extension.0)
                .bind(seat.as_ref().map(|s| s.0.clone()))
                .bind(agent.as_ref().map(|a| a.0.clone()))
                .bind(position)
                .bind(&key)
                .execute(&mut *conn)
                .await?;
                if !transferred {
                    sqlx::query(
                        "UPDATE rm_call SET answered_at = $1, wait_seconds = $2, within_service_level = $3, \
                         outcome = 'answered' WHERE call_key = $4",
                    )
                    .bind(timestamp(at))
                    .bind(*wait_seconds)
                    .bind(i64::from(*within_service_level))
                    .bind(&key)
                    .execute(&mut *conn)
                    .await?;
                }
            }
            CallEvent::Held { .. } | CallEvent::RecordingAvailable { .. } | CallEvent::SurveyAnswered { .. } => {
                sqlx::query("UPDATE rm_call SET last_position = $1 WHERE call_key = $2")
                    .bind(position)
                    .bind(&key)
                    .execute(&mut *conn)
                    .await?;
            }
            CallEvent::Resumed { hold_seconds, .. } => {
                sqlx::query(
                    "UPDATE rm_call SET hold_seconds = hold_seconds + $1, last_position = $2 WHERE call_key = $3",
                )
                .bind(*hold_seconds)
                .bind(position)
                .bind(&key)
                .execute(&mut *conn)
                .await?;
            }
            CallEvent::Transferred { target, .. } => {
                sqlx::query(
                    "UPDATE rm_call SET status = 'transferring', outcome = 'transferred', transferred_to = $1, \
                     last_position = $2 WHERE call_key = $3",
                )
                .bind(target)
                .bind(position)
                .bind(&key)
                .execute(&mut *conn)
                .await?;
            }
            CallEvent::Ended { extension, seat, agent, wait_seconds, talk_seconds, hold_seconds, at, .. } => {
                sqlx::query(
                    "UPDATE rm_call SET status = 'ended', ended_at = $1, wait_seconds = $2, talk_seconds = $3, \
                     hold_seconds = $4, extension = COALESCE($5, extension), seat = COALESCE($6, seat), \
                     agent = COALESCE($7, agent), last_position = $8 WHERE call_key = $9",
                )
                .bind(timestamp(at))
                .bind(*wait_seconds)
                .bind(*talk_seconds)
                .bind(*hold_seconds)
                .bind(extension.as_ref().map(|e| e.0.clone()))
                .bind(seat.as_ref().map(|s| s.0.clone()))
                .bind(agent.as_ref().map(|a| a.0.clone()))
                .bind(position)
                .bind(&key)
                .execute(&mut *conn)
                .await?;
            }
            CallEvent::EndUnobserved {
                extension,
                seat,
                agent,
                wait_seconds,
                talk_seconds,
                hold_seconds,
                last_seen,
                ..
            } => {
                // The call ended at an unknown time: the row says when it was last seen.
                sqlx::query(
                    "UPDATE rm_call SET status = 'end_unobserved', ended_at = $1, wait_seconds = $2, \
                     talk_seconds = $3, hold_seconds = $4, extension = COALESCE($5, extension), \
                     seat = COALESCE($6, seat), agent = COALESCE($7, agent), last_position = $8 WHERE call_key = $9",
                )
                .bind(timestamp(last_seen))
                .bind(*wait_seconds)
                .bind(*talk_seconds)
                .bind(*hold_seconds)
                .bind(extension.as_ref().map(|e| e.0.clone()))
                .bind(seat.as_ref().map(|s| s.0.clone()))
                .bind(agent.as_ref().map(|a| a.0.clone()))
                .bind(position)
                .bind(&key)
                .execute(&mut *conn)
                .await?;
            }
            CallEvent::CompletedElsewhere { wait_seconds, at, .. } => {
                finish(conn, "completed_elsewhere", "answered_elsewhere", at, *wait_seconds, position, &key).await?;
            }
            CallEvent::Abandoned { wait_seconds, short, at, .. } => {
                let outcome = if *short { "short_abandoned" } else { "abandoned" };
                finish(conn, "abandoned", outcome, at, *wait_seconds, position, &key).await?;
                sqlx::query("UPDATE rm_call SET abandoned_at = $1, short_abandon = $2 WHERE call_key = $3")
                    .bind(timestamp(at))
                    .bind(i64::from(*short))
                    .bind(&key)
                    .execute(&mut *conn)
                    .await?;
            }
            CallEvent::Rejected { blacklisted, wait_seconds, at, .. } => {
                let outcome = if *blacklisted { "blacklisted" } else { "rejected" };
                finish(conn, "rejected", outcome, at, *wait_seconds, position, &key).await?;
            }
            CallEvent::TimedOut { wait_seconds, at, .. } => {
                finish(conn, "timed_out", "timed_out", at, *wait_seconds, position, &key).await?;
            }
            CallEvent::VoicemailLeft { wait_seconds, at, .. } => {
                finish(conn, "voicemail", "voicemail", at, *wait_seconds, position, &key).await?;
            }
        }
        Ok(())
    }
}

async fn finish(
    conn: &mut AnyConnection,
    status: &str,
    outcome: &str,
    at: &DateTime<Utc>,
    wait_seconds: i64,
    position: i64,
    key: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(FINISH)
        .bind(status)
        .bind(outcome)
        .bind(timestamp(at))
        .bind(wait_seconds)
        .bind(position)
        .bind(key)
        .execute(conn)
        .await
        .map(|_| ())
}

/// One call.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CallView {
    /// The call's key (`call-<key>` is its stream).
    pub call_key: String,
    /// The subsidiary the call was routed to.
    pub tenant: TenantId,
    /// SIP Call-ID of the first leg seen.
    pub call_id: String,
    /// Queue it was routed to.
    pub queue: Option<String>,
    /// Caller number, unmasked: the API masks it by role.
    pub caller: String,
    /// Dialled number.
    pub dialled: String,
    /// Where it stands.
    pub status: CallStatus,
    /// `call_outcome` code, once known.
    pub outcome: Option<String>,
    /// When it was offered.
    #[serde(serialize_with = "serialize_time")]
    pub offered_at: DateTime<Utc>,
    /// When it was first answered.
    #[serde(serialize_with = "serialize_optional_time")]
    pub answered_at: Option<DateTime<Utc>>,
    /// When it finished, however it finished.
    #[serde(serialize_with = "serialize_optional_time")]
    pub ended_at: Option<DateTime<Utc>>,
    /// When the caller gave up.
    #[serde(serialize_with = "serialize_optional_time")]
    pub abandoned_at: Option<DateTime<Utc>>,
    /// Seconds waited before the first answer or the end.
    pub wait_seconds: Option<i64>,
    /// Talk seconds, once ended.
    pub talk_seconds: Option<i64>,
    /// Hold seconds so far.
    pub hold_seconds: i64,
    /// Whether the first answer came within the queue's service level.
    pub within_service_level: Option<bool>,
    /// Whether an abandon was short.
    pub short_abandon: Option<bool>,
    /// The phone on the call.
    pub extension: Option<String>,
    /// Its seat.
    pub seat: Option<String>,
    /// Its agent.
    pub agent: Option<String>,
    /// Where it was transferred.
    pub transferred_to: Option<String>,
    /// Position of the offer (the pagination key).
    pub offered_position: i64,
    /// Position of the last event applied.
    pub last_position: i64,
}

const CALL_COLUMNS: &str =
    "call_key, tenant, call_id, queue, caller, dialled, status, outcome, offered_at, answered_at, \
    ended_at, abandoned_at, wait_seconds, talk_seconds, hold_seconds, within_service_level, short_abandon, extension, \
    seat, agent, transferred_to, offered_position, last_position";

fn call_view(row: &AnyRow) -> Result<CallView, sqlx::Error> {
    Ok(CallView {
        call_key: row.try_get(0)?,
        tenant: typed(row, 1)?,
        call_id: row.try_get(2)?,
        queue: row.try_get(3)?,
        caller: row.try_get(4)?,
        dialled: row.try_get(5)?,
        status: typed(row, 6)?,
        outcome: row.try_get(7)?,
        offered_at: typed(row, 8)?,
        answered_at: typed_optional(row, 9)?,
        ended_at: typed_optional(row, 10)?,
        abandoned_at: typed_optional(row, 11)?,
        wait_seconds: row.try_get(12)?,
        talk_seconds: row.try_get(13)?,
        hold_seconds: row.try_get(14)?,
        within_service_level: flag_optional(row, 15)?,
        short_abandon: flag_optional(row, 16)?,
        extension: row.try_get(17)?,
        seat: row.try_get(18)?,
        agent: row.try_get(19)?,
        transferred_to: row.try_get(20)?,
        offered_position: row.try_get(21)?,
        last_position: row.try_get(22)?,
    })
}

/// Filters of the call list; every field narrows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallFilter {
    /// Only calls of these tenants (`None`: all); the API fills it from the caller's scope.
    pub tenants: Option<Vec<String>>,
    /// Only calls of this queue.
    pub queue: Option<String>,
    /// Agent on the call.
    pub agent: Option<String>,
    /// `call_status` code.
    pub status: Option<String>,
    /// Offered at or after.
    pub from: Option<DateTime<Utc>>,
    /// Offered before.
    pub to: Option<DateTime<Utc>>,
}

/// A page of calls, oldest offer first.
#[derive(Debug, Clone, PartialEq)]
pub struct CallPage {
    /// The calls.
    pub calls: Vec<CallView>,
    /// Whether more follow the last one.
    pub has_next_page: bool,
}

/// A queue at an instant.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueState {
    /// Offered at or before the instant, neither answered nor finished by then; longest waiting
    /// first.
    pub waiting: Vec<CallView>,
    /// Answered at or before the instant and not finished by then.
    pub talking: Vec<CallView>,
}

/// Read access to calls.
pub struct CallQueries<'a>(pub &'a AnyPool);

impl CallQueries<'_> {
    /// One call by key.
    pub async fn by_key(&self, call_key: &str) -> Result<Option<CallView>, sqlx::Error> {
        let row = sqlx::query(&format!("SELECT {CALL_COLUMNS} FROM rm_call WHERE call_key = $1"))
            .bind(call_key)
            .fetch_optional(self.0)
            .await?;
        row.as_ref().map(call_view).transpose()
    }

    /// A page of calls matching `filter`, after the call offered at position `after`.
    pub async fn list(&self, filter: &CallFilter, first: u32, after: Option<i64>) -> Result<CallPage, sqlx::Error> {
        // Dynamic SQL: the WHERE clause has one condition per filter given; values are bound.
        let mut clause = WhereClause::after_cursor("offered_position > $1");
        if let Some(tenants) = &filter.tenants {
            clause.one_of("tenant", tenants);
        }
        for (column, value) in [("queue", &filter.queue), ("agent", &filter.agent), ("status", &filter.status)] {
            if let Some(value) = value {
                clause.push(&format!("{column} = ?"), vec![value.clone()]);
            }
        }
        if let Some(from) = &filter.from {
            clause.push("offered_at >= ?", vec![timestamp(from)]);
        }
        if let Some(to) = &filter.to {
            clause.push("offered_at < ?", vec![timestamp(to)]);
        }
        let select = format!("{CALL_COLUMNS} FROM rm_call");
        let (calls, has_next_page) = clause.page(self.0, &select, "offered_position", after, first, call_view).await?;
        Ok(CallPage { calls, has_next_page })
    }

    /// A caller's latest calls to a tenant, newest first.
    pub async fn recent_by_caller(&self, tenant: &str, caller: &str, limit: u32) -> Result<Vec<CallView>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT {CALL_COLUMNS} FROM rm_call WHERE tenant = $1 AND caller = $2 \
             ORDER BY offered_at DESC, offered_position DESC LIMIT {limit}"
        ))
        .bind(tenant)
        .bind(caller)
        .fetch_all(self.0)
        .await?;
        rows.iter().map(call_view).collect()
    }

    /// The calls waiting in and talking from a tenant's queue at instant `at`, judged by the
    /// times the calls recorded (times are sortable RFC 3339 text, so they compare as text).
    pub async fn queue_state(&self, tenant: &str, queue: &str, at: &DateTime<Utc>) -> Result<QueueState, sqlx::Error> {
        let at = timestamp(at);
        let not_finished = "(ended_at IS NULL OR ended_at > $3)";
        let waiting = sqlx::query(&format!(
            "SELECT {CALL_COLUMNS} FROM rm_call WHERE tenant = $1 AND queue = $2 AND offered_at <= $3 \
             AND (answered_at IS NULL OR answered_at > $3) AND {not_finished} ORDER BY offered_at, offered_position"
        ))
        .bind(tenant)
        .bind(queue)
        .bind(&at)
        .fetch_all(self.0)
        .await?;
        let talking = sqlx::query(&format!(
            "SELECT {CALL_COLUMNS} FROM rm_call WHERE tenant = $1 AND queue = $2 AND answered_at <= $3 \
             AND {not_finished} ORDER BY answered_at, offered_position"
        ))
        .bind(tenant)
        .bind(queue)
        .bind(&at)
        .fetch_all(self.0)
        .await?;
        Ok(QueueState {
            waiting: waiting.iter().map(call_view).collect::<Result<_, _>>()?,
            talking: talking.iter().map(call_view).collect::<Result<_, _>>()?,
        })
    }
}
