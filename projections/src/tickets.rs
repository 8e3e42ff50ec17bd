//! Tickets: `TicketProjection` builds `rm_ticket` (TicketView: pools, deadlines, KPI facts) and
//! `rm_ticket_timeline` (TicketTimelineView: every event with who, what, when, why and from where).
//!
//! Pools follow seed 004's five: 待安排 pending (registered), 已安排 assigned (dispatched, accepted,
//! on site), 退回 returned (returned, rework required), 督办 supervised and 越级投诉 escalated (flags
//! that take precedence while the ticket is open). Completed tickets await their callback outside
//! the pools; closed, voided and cancelled ones leave them.

use crate::columns::{
    flag, json, serialize_json_text, serialize_optional_time, serialize_time, timestamp, typed, typed_optional,
};
use crate::runner::{metadata, Projection, ProjectionError};
use crate::store::WhereClause;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hotline_commands::store::RecordedEvent;
use hotline_domain::ticket::deadline::NEAR_DUE;
use hotline_domain::ticket::{Satisfaction, Source, TicketEvent, TicketStatus, TicketType, Urgency};
use hotline_domain::values::{CustomerId, TenantId, TicketId};
use hotline_domain::EventCodec;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

mod fold;

/// Builds `rm_ticket` and `rm_ticket_timeline`.
pub struct TicketProjection;

/// Recomputes the pool from the status and flags, after every change.
const SET_POOL: &str = "UPDATE rm_ticket SET pool = CASE \
    WHEN status IN ('closed', 'voided', 'cancelled', 'completed', 'callback_done') THEN NULL \
    WHEN escalated = 1 THEN 'escalated' \
    WHEN supervised = 1 THEN 'supervised' \
    WHEN status = 'registered' THEN 'pending' \
    WHEN status IN ('returned', 'rework_required') THEN 'returned' \
    ELSE 'assigned' END, last_position = $1 WHERE ticket_id = $2";

#[async_trait]
impl Projection for TicketProjection {
    fn id(&self) -> &'static str {
        "tickets"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rm_ticket", "rm_ticket_timeline"]
    }

    /// Folds the batch in memory, one row per ticket touched, and writes the tickets and the
    /// timeline with a few multi-row statements ([`fold`]).
    async fn apply_batch(&self, conn: &mut AnyConnection, events: &[&RecordedEvent]) -> Result<(), ProjectionError> {
        fold::apply_batch(conn, events).await
    }

    async fn apply(&self, conn: &mut AnyConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
        if event.stream_id.category() != "ticket" {
            return Ok(());
        }
        let decoded = TicketEvent::decode(&event.event_type, event.schema_version, event.payload.clone())
            .map_err(|source| ProjectionError::Decode { event_type: event.event_type.clone(), source })?;
        let meta = metadata(event)?;
        let at = timestamp(&meta.occurred_at);
        let id = event.stream_id.id().to_owned();
        let set = |sql: &'static str| sqlx::query(sql);
        match &decoded {
            TicketEvent::Created(c) => {
                sqlx::query(
                    "INSERT INTO rm_ticket (ticket_id, ticket_no, tenant, ticket_type, urgency, source, status, customer_id, \
                     caller_phone, address, description, created_by, created_at, created_position, deadline_at, last_position) \
                     VALUES ($1, $2, $3, $4, $5, $6, 'registered', $7, $8, $9, $10, $11, $12, $13, $14, $13)",
                )
                .bind(&id)
                .bind(&c.ticket_no)
                .bind(&c.tenant.0)
                .bind(&c.ticket_type.0)
                .bind(code(&c.urgency))
                .bind(code(&c.source))
                .bind(c.customer_id.map(|c| c.to_string()))
                .bind(c.caller_phone.clone())
                .bind(&c.address)
                .bind(&c.description)
                .bind(&c.created_by.0)
                .bind(&at)
                .bind(event.global_position as i64)
                .bind(timestamp(&c.deadline_at))
                .execute(&mut *conn)
                .await?;
            }
            TicketEvent::Dispatched { station, station_path, redispatch, .. } => {
                set("UPDATE rm_ticket SET status = 'dispatched', station = $1, station_path = $2, worker = NULL, \
                     first_dispatched_at = COALESCE(first_dispatched_at, $3), redispatch_count = redispatch_count + $4 \
                     WHERE ticket_id = $5")
                .bind(&station.0)
                .bind(&station_path.0)
                .bind(&at)
                .bind(i64::from(*redispatch))
                .bind(&id)
                .execute(&mut *conn)
                .await?;
            }
            TicketEvent::Accepted { worker, .. } => {
                set("UPDATE rm_ticket SET status = 'accepted', worker = $1, first_accepted_at = COALESCE(first_accepted_at, $2) \
                     WHERE ticket_id = $3")
                .bind(worker.as_ref().map(|w| w.0.clone()))
                .bind(&at)
                .bind(&id)
                .execute(&mut *conn)
                .await?;
            }
            TicketEvent::Rejected { .. } => {
                set("UPDATE rm_ticket SET status = 'returned' WHERE ticket_id = $1")
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
            }
            TicketEvent::Returned { .. } => {
                set("UPDATE rm_ticket SET status = 'returned', return_count = return_count + 1 WHERE ticket_id = $1")
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
            }
            TicketEvent::Reassigned { from_station, to_station, to_station_path, to_worker, .. } => {
                let status = if from_station == to_station { "accepted" } else { "dispatched" };
                set("UPDATE rm_ticket SET status = $1, station = $2, station_path = $3, worker = $4 WHERE ticket_id = $5")
                    .bind(status)
                    .bind(&to_station.0)
                    .bind(&to_station_path.0)
                    .bind(to_worker.as_ref().map(|w| w.0.clone()))
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
            }
            TicketEvent::Urged { count, .. } => {
                set("UPDATE rm_ticket SET urge_count = $1 WHERE ticket_id = $2")
                    .bind(i64::from(*count))
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
            }
            TicketEvent::Supervised { .. } => {
                set("UPDATE rm_ticket SET supervised = 1 WHERE ticket_id = $1").bind(&id).execute(&mut *conn).await?;
            }
            TicketEvent::Escalated { .. } => {
                set("UPDATE rm_ticket SET escalated = 1 WHERE ticket_id = $1").bind(&id).execute(&mut *conn).await?;
            }
            TicketEvent::CheckedIn { worker, .. } => {
                set("UPDATE rm_ticket SET status = 'on_site', worker = $1, first_on_site_at = COALESCE(first_on_site_at, $2) \
                     WHERE ticket_id = $3")
                .bind(&worker.0)
                .bind(&at)
                .bind(&id)
                .execute(&mut *conn)
                .await?;
            }
            TicketEvent::EvidenceAttached { .. }
            | TicketEvent::TemperatureRecorded { .. }
            | TicketEvent::WorkResultRecorded { .. }
            | TicketEvent::CustomerSigned { .. }
            | TicketEvent::WorkflowNodeCompleted { .. } => {}
            TicketEvent::WorkCompleted { .. } => {
                set("UPDATE rm_ticket SET status = 'completed', completed_at = $1 WHERE ticket_id = $2")
                    .bind(&at)
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
            }
            TicketEvent::DeadlineExtended { to, .. } => {
                set("UPDATE rm_ticket SET deadline_at = $1 WHERE ticket_id = $2")
                    .bind(timestamp(to))
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
            }
            TicketEvent::CallbackRecorded { satisfaction, .. } => {
                let status =
                    if *satisfaction == Satisfaction::Dissatisfied { "rework_required" } else { "callback_done" };
                set("UPDATE rm_ticket SET status = $1, callback_at = $2, callback_satisfaction = $3 WHERE ticket_id = $4")
                    .bind(status)
                    .bind(&at)
                    .bind(code(satisfaction))
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
            }
            TicketEvent::CallbackExempted { .. } => {
                set("UPDATE rm_ticket SET status = 'callback_done' WHERE ticket_id = $1")
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
            }
            TicketEvent::Closed { first_time_fix, overdue, .. } => {
                set("UPDATE rm_ticket SET status = 'closed', closed_at = $1, first_time_fix = $2, closed_overdue = $3 WHERE ticket_id = $4")
                    .bind(&at)
                    .bind(i64::from(*first_time_fix))
                    .bind(i64::from(*overdue))
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
            }
            TicketEvent::UrgencyRaised { to, .. } => {
                set("UPDATE rm_ticket SET urgency = $1 WHERE ticket_id = $2")
                    .bind(code(to))
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
            }
            TicketEvent::DeadlineBreached { .. } | TicketEvent::CallbackReminderIssued { .. } => {}
            TicketEvent::Voided { .. } => {
                set("UPDATE rm_ticket SET status = 'voided' WHERE ticket_id = $1")
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
            }
            TicketEvent::Cancelled { .. } => {
                set("UPDATE rm_ticket SET status = 'cancelled' WHERE ticket_id = $1")
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
            }
        }
        sqlx::query(SET_POOL).bind(event.global_position as i64).bind(&id).execute(&mut *conn).await?;
        // The reason is read from the event as decoded (upcast to today's shape), not from the
        // stored payload, so an old schema version shows its reason too.
        let current = decoded.encode().payload;
        let reason = ["reason", "note"]
            .iter()
            .find_map(|key| current.get(key).and_then(|v| v.as_str()).filter(|s| !s.is_empty()).map(str::to_owned));
        sqlx::query(
            "INSERT INTO rm_ticket_timeline (ticket_id, position, stream_version, event_type, occurred_at, recorded_at, actor, \
             source, reason, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&id)
        .bind(event.global_position as i64)
        .bind(event.stream_version as i64)
        .bind(&event.event_type)
        .bind(&at)
        .bind(timestamp(&event.recorded_at))
        .bind(&meta.actor)
        .bind(&meta.source)
        .bind(reason)
        .bind(event.payload.to_string())
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

/// The wire code of a domain enum (its serde name).
pub(crate) fn code<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// The pool a ticket waits in while open (seed 004's five), as `SET_POOL` files it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pool {
    /// 待安排: registered, not yet dispatched.
    Pending,
    /// 已安排: dispatched, accepted or on site.
    Assigned,
    /// 退回: returned, or rework required.
    Returned,
    /// 督办: under supervision.
    Supervised,
    /// 越级投诉: escalated to the group.
    Escalated,
}

impl Pool {
    /// Wire code, as stored and as the API shows it.
    pub fn code(self) -> &'static str {
        match self {
            Pool::Pending => "pending",
            Pool::Assigned => "assigned",
            Pool::Returned => "returned",
            Pool::Supervised => "supervised",
            Pool::Escalated => "escalated",
        }
    }
}

/// One ticket as the pools and detail pages show it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TicketView {
    /// The ticket's id (stream `ticket-<id>`).
    pub ticket_id: TicketId,
    /// Human number.
    pub ticket_no: String,
    /// The subsidiary that owns the ticket.
    pub tenant: TenantId,
    /// Type code: tenants may add types, so it is not a closed vocabulary.
    pub ticket_type: TicketType,
    /// Urgency in force.
    pub urgency: Urgency,
    /// Where it came from.
    pub source: Source,
    /// Where it stands.
    pub status: TicketStatus,
    /// Pool, while in one.
    pub pool: Option<Pool>,
    /// The registered customer it concerns, if identified.
    pub customer_id: Option<CustomerId>,
    /// Caller's number, unmasked: the API masks it by role.
    pub caller_phone: Option<String>,
    /// Where the work is: the premises' address as registered with the ticket.
    pub address: String,
    /// What the caller reported, in their words.
    pub description: String,
    /// Who registered it.
    pub created_by: String,
    /// When it was registered (the agent's or device's time).
    #[serde(serialize_with = "serialize_time")]
    pub created_at: DateTime<Utc>,
    /// Deadline in force.
    #[serde(serialize_with = "serialize_time")]
    pub deadline_at: DateTime<Utc>,
    /// The station (维修站) it is dispatched to, if dispatched.
    pub station: Option<String>,
    /// Station's org path.
    pub station_path: Option<String>,
    /// The field worker (维修人员) assigned, if any.
    pub worker: Option<String>,
    /// Under supervision.
    pub supervised: bool,
    /// Escalated to the group.
    pub escalated: bool,
    /// Times urged.
    pub urge_count: i64,
    /// Closed at.
    #[serde(serialize_with = "serialize_optional_time")]
    pub closed_at: Option<DateTime<Utc>>,
    /// Last callback's verdict.
    pub callback_satisfaction: Option<Satisfaction>,
    /// Position of the creating event (the pagination key).
    pub created_position: i64,
    /// Position of the last event applied.
    pub last_position: i64,
}

const TICKET_COLUMNS: &str = "ticket_id, ticket_no, tenant, ticket_type, urgency, source, status, pool, customer_id, \
    caller_phone, address, description, created_by, created_at, deadline_at, station, station_path, worker, supervised, \
    escalated, urge_count, closed_at, callback_satisfaction, created_position, last_position";

fn ticket_view(row: &AnyRow) -> Result<TicketView, sqlx::Error> {
    Ok(TicketView {
        ticket_id: typed(row, 0)?,
        ticket_no: row.try_get(1)?,
        tenant: typed(row, 2)?,
        ticket_type: typed(row, 3)?,
        urgency: typed(row, 4)?,
        source: typed(row, 5)?,
        status: typed(row, 6)?,
        pool: typed_optional(row, 7)?,
        customer_id: typed_optional(row, 8)?,
        caller_phone: row.try_get(9)?,
        address: row.try_get(10)?,
        description: row.try_get(11)?,
        created_by: row.try_get(12)?,
        created_at: typed(row, 13)?,
        deadline_at: typed(row, 14)?,
        station: row.try_get(15)?,
        station_path: row.try_get(16)?,
        worker: row.try_get(17)?,
        supervised: flag(row, 18)?,
        escalated: flag(row, 19)?,
        urge_count: row.try_get(20)?,
        closed_at: typed_optional(row, 21)?,
        callback_satisfaction: typed_optional(row, 22)?,
        created_position: row.try_get(23)?,
        last_position: row.try_get(24)?,
    })
}

/// A deadline flag to filter open tickets by, relative to now, as
/// [`hotline_domain::ticket::deadline::deadline_state`] computes it for one ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineFlag {
    /// Past its deadline (红色).
    Overdue,
    /// Due within [`NEAR_DUE`] (黄色).
    NearDue,
}

/// Narrows `clause` to open tickets ([`TicketStatus::is_open`]): the codes of the statuses that
/// are not open are bound, so which statuses count as open is decided in the domain only.
fn push_open(clause: &mut WhereClause) {
    let not_open: Vec<String> = TicketStatus::ALL
        .into_iter()
        .filter(|status| !status.is_open())
        .map(|status| status.code().to_owned())
        .collect();
    clause.push(&format!("status NOT IN ({})", vec!["?"; not_open.len()].join(", ")), not_open);
}

/// Filters of the ticket list; every field narrows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TicketFilter {
    /// Only tickets of these tenants (`None`: all); the API fills it from the caller's scope.
    pub tenants: Option<Vec<String>>,
    /// Only tickets whose station lies under this org path.
    pub org_path: Option<String>,
    /// Pool code.
    pub pool: Option<String>,
    /// Status code.
    pub status: Option<String>,
    /// Type code.
    pub ticket_type: Option<String>,
    /// Station code.
    pub station: Option<String>,
    /// Only tickets assigned to this field worker (user id).
    pub worker: Option<String>,
    /// Source code.
    pub source: Option<String>,
    /// Urgency code.
    pub urgency: Option<String>,
    /// Overdue (red) or near due (yellow), open tickets only.
    pub deadline: Option<DeadlineFlag>,
}

/// A page of tickets, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketPage {
    /// The tickets.
    pub tickets: Vec<TicketView>,
    /// Whether more follow the last one.
    pub has_next_page: bool,
}

/// Read access to tickets.
pub struct TicketQueries<'a>(pub &'a AnyPool);

impl TicketQueries<'_> {
    /// One ticket by id.
    pub async fn by_id(&self, ticket_id: &str) -> Result<Option<TicketView>, sqlx::Error> {
        let row = sqlx::query(&format!("SELECT {TICKET_COLUMNS} FROM rm_ticket WHERE ticket_id = $1"))
            .bind(ticket_id)
            .fetch_optional(self.0)
            .await?;
        row.as_ref().map(ticket_view).transpose()
    }

    /// One ticket by its human number.
    pub async fn by_number(&self, ticket_no: &str) -> Result<Option<TicketView>, sqlx::Error> {
        let row = sqlx::query(&format!("SELECT {TICKET_COLUMNS} FROM rm_ticket WHERE ticket_no = $1"))
            .bind(ticket_no)
            .fetch_optional(self.0)
            .await?;
        row.as_ref().map(ticket_view).transpose()
    }

    /// A page of tickets matching `filter`, after the ticket created at position `after`.
    pub async fn list(
        &self,
        filter: &TicketFilter,
        now: &DateTime<Utc>,
        first: u32,
        after: Option<i64>,
    ) -> Result<TicketPage, sqlx::Error> {
        // Dynamic SQL: the WHERE clause has one condition per filter given; values are bound.
        let mut clause = WhereClause::after_cursor("created_position > $1");
        if let Some(tenants) = &filter.tenants {
            clause.one_of("tenant", tenants);
        }
        if let Some(path) = &filter.org_path {
            let path = path.trim_end_matches('/');
            clause.push("(station_path = ? OR station_path LIKE ?)", vec![path.to_owned(), format!("{path}/%")]);
        }
        for (column, value) in [
            ("pool", &filter.pool),
            ("status", &filter.status),
            ("ticket_type", &filter.ticket_type),
            ("station", &filter.station),
            ("worker", &filter.worker),
            ("source", &filter.source),
            ("urgency", &filter.urgency),
        ] {
            if let Some(value) = value {
                clause.push(&format!("{column} = ?"), vec![value.clone()]);
            }
        }
        match filter.deadline {
            Some(DeadlineFlag::Overdue) => {
                push_open(&mut clause);
                clause.push("deadline_at < ?", vec![timestamp(now)]);
            }
            Some(DeadlineFlag::NearDue) => {
                let soon = *now + NEAR_DUE;
                push_open(&mut clause);
                clause.push("deadline_at >= ? AND deadline_at < ?", vec![timestamp(now), timestamp(&soon)]);
            }
            None => {}
        }
        let select = format!("{TICKET_COLUMNS} FROM rm_ticket");
        let (tickets, has_next_page) =
            clause.page(self.0, &select, "created_position", after, first, ticket_view).await?;
        Ok(TicketPage { tickets, has_next_page })
    }

    /// A tenant's open tickets (not closed, voided or cancelled) raised from a phone number or for
    /// one of these customers, newest first: what the screen pop shows.
    pub async fn open_for_caller(
        &self,
        tenant: &str,
        phone: &str,
        customer_ids: &[String],
        limit: u32,
    ) -> Result<Vec<TicketView>, sqlx::Error> {
        // Dynamic SQL: one alternative per customer; values are bound.
        let mut clause = WhereClause::new();
        clause.push("tenant = ?", vec![tenant.to_owned()]);
        push_open(&mut clause);
        let mut alternatives = vec!["caller_phone = ?".to_owned()];
        alternatives.extend(customer_ids.iter().map(|_| "customer_id = ?".to_owned()));
        let mut values = vec![phone.to_owned()];
        values.extend(customer_ids.iter().cloned());
        clause.push(&format!("({})", alternatives.join(" OR ")), values);
        let sql = format!(
            "SELECT {TICKET_COLUMNS} FROM rm_ticket WHERE {} ORDER BY created_position DESC LIMIT {limit}",
            clause.sql()
        );
        let mut query = sqlx::query(&sql);
        for value in clause.values {
            query = query.bind(value);
        }
        let rows = query.fetch_all(self.0).await?;
        rows.iter().map(ticket_view).collect()
    }

    /// A ticket's history, in order.
    pub async fn timeline(&self, ticket_id: &str) -> Result<Vec<TimelineEntry>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT position, stream_version, event_type, occurred_at, recorded_at, actor, source, reason, data \
             FROM rm_ticket_timeline WHERE ticket_id = $1 ORDER BY stream_version",
        )
        .bind(ticket_id)
        .fetch_all(self.0)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(TimelineEntry {
                    position: row.try_get(0)?,
                    stream_version: row.try_get(1)?,
                    event_type: row.try_get(2)?,
                    occurred_at: typed(row, 3)?,
                    recorded_at: typed(row, 4)?,
                    actor: row.try_get(5)?,
                    source: row.try_get(6)?,
                    reason: row.try_get(7)?,
                    data: json(row, 8)?,
                })
            })
            .collect()
    }
}

/// One event in a ticket's history.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TimelineEntry {
    /// Log position.
    pub position: i64,
    /// Version in the ticket's stream.
    pub stream_version: i64,
    /// What happened.
    pub event_type: String,
    /// When, by the actor's clock.
    #[serde(serialize_with = "serialize_time")]
    pub occurred_at: DateTime<Utc>,
    /// When the log recorded it.
    #[serde(serialize_with = "serialize_time")]
    pub recorded_at: DateTime<Utc>,
    /// The user id that caused the event (or `system` for timers).
    pub actor: String,
    /// From where (`graphql`, `mobile`, `sip`, `timer`, `demo`).
    pub source: String,
    /// Why, where the event gives a reason or note.
    pub reason: Option<String>,
    /// The event's data as stored (serialized as the JSON text the row holds).
    #[serde(serialize_with = "serialize_json_text")]
    pub data: serde_json::Value,
}
