//! The tickets projection in batches: a batch's ticket events folded in memory, one
//! `rm_ticket` row per ticket touched (read back first where the ticket was created before the
//! batch), then written with a few multi-row statements: the new tickets inserted, the others
//! upserted, the timeline inserted. Each event changes a row exactly as its statements in
//! [`super::TicketProjection`]'s `apply` do (`evolve` mirrors the UPDATEs, `set_pool` mirrors
//! `SET_POOL`); a test compares every table with per-event application on both engines.
//!
//! What would fail one event's statements fails the batch (a second `TicketCreated`, a duplicate
//! ticket number or timeline entry), and the runner then applies the batch event by event to
//! find the event; the batch never succeeds where `apply` fails.

use super::code;
use crate::columns::timestamp;
use crate::runner::{metadata, ProjectionError};
use hotline_commands::store::{Metadata, RecordedEvent};
use hotline_domain::ticket::{Satisfaction, TicketCreated, TicketEvent};
use hotline_domain::EventCodec;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::{HashMap, HashSet};

/// Tickets a multi-row statement writes at most: 34 columns each stays under SQLite's 32,766
/// bound parameters (and PostgreSQL's 65,535).
const TICKET_ROWS_PER_STATEMENT: usize = 900;

/// Timeline rows a multi-row statement writes at most (10 columns each).
const TIMELINE_ROWS_PER_STATEMENT: usize = 3_000;

/// Every `rm_ticket` column, in [`TicketRow`]'s order.
const TICKET_ROW_COLUMNS: [&str; 34] = [
    "ticket_id",
    "ticket_no",
    "tenant",
    "ticket_type",
    "urgency",
    "source",
    "status",
    "pool",
    "customer_id",
    "caller_phone",
    "address",
    "description",
    "created_by",
    "created_at",
    "created_position",
    "deadline_at",
    "station",
    "station_path",
    "worker",
    "first_dispatched_at",
    "first_accepted_at",
    "first_on_site_at",
    "completed_at",
    "callback_at",
    "callback_satisfaction",
    "closed_at",
    "first_time_fix",
    "closed_overdue",
    "supervised",
    "escalated",
    "urge_count",
    "return_count",
    "redispatch_count",
    "last_position",
];

/// One `rm_ticket` row as a batch folds it: every column as stored, so that the batch writes
/// what the per-event statements would have left.
#[derive(Debug, Clone, PartialEq)]
struct TicketRow {
    ticket_id: String,
    ticket_no: String,
    tenant: String,
    ticket_type: String,
    urgency: String,
    source: String,
    status: String,
    pool: Option<String>,
    customer_id: Option<String>,
    caller_phone: Option<String>,
    address: String,
    description: String,
    created_by: String,
    created_at: String,
    created_position: i64,
    deadline_at: String,
    station: Option<String>,
    station_path: Option<String>,
    worker: Option<String>,
    first_dispatched_at: Option<String>,
    first_accepted_at: Option<String>,
    first_on_site_at: Option<String>,
    completed_at: Option<String>,
    callback_at: Option<String>,
    callback_satisfaction: Option<String>,
    closed_at: Option<String>,
    first_time_fix: Option<i64>,
    closed_overdue: Option<i64>,
    supervised: i64,
    escalated: i64,
    urge_count: i64,
    return_count: i64,
    redispatch_count: i64,
    last_position: i64,
}

impl TicketRow {
    /// The row `TicketCreated` inserts.
    fn created(id: &str, c: &TicketCreated, at: &str, position: i64) -> TicketRow {
        TicketRow {
            ticket_id: id.to_owned(),
            ticket_no: c.ticket_no.clone(),
            tenant: c.tenant.0.clone(),
            ticket_type: c.ticket_type.0.clone(),
            urgency: code(&c.urgency),
            source: code(&c.source),
            status: "registered".to_owned(),
            pool: None,
            customer_id: c.customer_id.map(|c| c.to_string()),
            caller_phone: c.caller_phone.clone(),
            address: c.address.clone(),
            description: c.description.clone(),
            created_by: c.created_by.0.clone(),
            created_at: at.to_owned(),
            created_position: position,
            deadline_at: timestamp(&c.deadline_at),
            station: None,
            station_path: None,
            worker: None,
            first_dispatched_at: None,
            first_accepted_at: None,
            first_on_site_at: None,
            completed_at: None,
            callback_at: None,
            callback_satisfaction: None,
            closed_at: None,
            first_time_fix: None,
            closed_overdue: None,
            supervised: 0,
            escalated: 0,
            urge_count: 0,
            return_count: 0,
            redispatch_count: 0,
            last_position: position,
        }
    }

    /// A row as stored, read in [`TICKET_ROW_COLUMNS`]' order.
    fn read(row: &AnyRow) -> Result<TicketRow, sqlx::Error> {
        Ok(TicketRow {
            ticket_id: row.try_get(0)?,
            ticket_no: row.try_get(1)?,
            tenant: row.try_get(2)?,
            ticket_type: row.try_get(3)?,
            urgency: row.try_get(4)?,
            source: row.try_get(5)?,
            status: row.try_get(6)?,
            pool: row.try_get(7)?,
            customer_id: row.try_get(8)?,
            caller_phone: row.try_get(9)?,
            address: row.try_get(10)?,
            description: row.try_get(11)?,
            created_by: row.try_get(12)?,
            created_at: row.try_get(13)?,
            created_position: row.try_get(14)?,
            deadline_at: row.try_get(15)?,
            station: row.try_get(16)?,
            station_path: row.try_get(17)?,
            worker: row.try_get(18)?,
            first_dispatched_at: row.try_get(19)?,
            first_accepted_at: row.try_get(20)?,
            first_on_site_at: row.try_get(21)?,
            completed_at: row.try_get(22)?,
            callback_at: row.try_get(23)?,
            callback_satisfaction: row.try_get(24)?,
            closed_at: row.try_get(25)?,
            first_time_fix: row.try_get(26)?,
            closed_overdue: row.try_get(27)?,
            supervised: row.try_get(28)?,
            escalated: row.try_get(29)?,
            urge_count: row.try_get(30)?,
            return_count: row.try_get(31)?,
            redispatch_count: row.try_get(32)?,
            last_position: row.try_get(33)?,
        })
    }

    /// Binds the row's columns, in [`TICKET_ROW_COLUMNS`]' order.
    fn bind<'q>(&'q self, query: AnyQuery<'q>) -> AnyQuery<'q> {
        query
            .bind(&self.ticket_id)
            .bind(&self.ticket_no)
            .bind(&self.tenant)
            .bind(&self.ticket_type)
            .bind(&self.urgency)
            .bind(&self.source)
            .bind(&self.status)
            .bind(&self.pool)
            .bind(&self.customer_id)
            .bind(&self.caller_phone)
            .bind(&self.address)
            .bind(&self.description)
            .bind(&self.created_by)
            .bind(&self.created_at)
            .bind(self.created_position)
            .bind(&self.deadline_at)
            .bind(&self.station)
            .bind(&self.station_path)
            .bind(&self.worker)
            .bind(&self.first_dispatched_at)
            .bind(&self.first_accepted_at)
            .bind(&self.first_on_site_at)
            .bind(&self.completed_at)
            .bind(&self.callback_at)
            .bind(&self.callback_satisfaction)
            .bind(&self.closed_at)
            .bind(self.first_time_fix)
            .bind(self.closed_overdue)
            .bind(self.supervised)
            .bind(self.escalated)
            .bind(self.urge_count)
            .bind(self.return_count)
            .bind(self.redispatch_count)
            .bind(self.last_position)
    }

    /// What the event's UPDATE statement in [`TicketProjection::apply`] does to the row
    /// (`TicketCreated` is handled by the caller).
    fn evolve(&mut self, event: &TicketEvent, at: &str) {
        let first = |slot: &mut Option<String>| {
            slot.get_or_insert_with(|| at.to_owned());
        };
        match event {
            TicketEvent::Created(_) => {}
            TicketEvent::Dispatched { station, station_path, redispatch, .. } => {
                self.status = "dispatched".to_owned();
                self.station = Some(station.0.clone());
                self.station_path = Some(station_path.0.clone());
                self.worker = None;
                first(&mut self.first_dispatched_at);
                self.redispatch_count += i64::from(*redispatch);
            }
            TicketEvent::Accepted { worker, .. } => {
                self.status = "accepted".to_owned();
                self.worker = worker.as_ref().map(|w| w.0.clone());
                first(&mut self.first_accepted_at);
            }
            TicketEvent::Rejected { .. } => self.status = "returned".to_owned(),
            TicketEvent::Returned { .. } => {
                self.status = "returned".to_owned();
                self.return_count += 1;
            }
            TicketEvent::Reassigned { from_station, to_station, to_station_path, to_worker, .. } => {
                let status = if from_station == to_station { "accepted" } else { "dispatched" };
                self.status = status.to_owned();
                self.station = Some(to_station.0.clone());
                self.station_path = Some(to_station_path.0.clone());
                self.worker = to_worker.as_ref().map(|w| w.0.clone());
            }
            TicketEvent::Urged { count, .. } => self.urge_count = i64::from(*count),
            TicketEvent::Supervised { .. } => self.supervised = 1,
            TicketEvent::Escalated { .. } => self.escalated = 1,
            TicketEvent::CheckedIn { worker, .. } => {
                self.status = "on_site".to_owned();
                self.worker = Some(worker.0.clone());
                first(&mut self.first_on_site_at);
            }
            TicketEvent::EvidenceAttached { .. }
            | TicketEvent::TemperatureRecorded { .. }
            | TicketEvent::WorkResultRecorded { .. }
            | TicketEvent::CustomerSigned { .. }
            | TicketEvent::WorkflowNodeCompleted { .. }
            | TicketEvent::DeadlineBreached { .. }
            | TicketEvent::CallbackReminderIssued { .. } => {}
            TicketEvent::WorkCompleted { .. } => {
                self.status = "completed".to_owned();
                self.completed_at = Some(at.to_owned());
            }
            TicketEvent::DeadlineExtended { to, .. } => self.deadline_at = timestamp(to),
            TicketEvent::CallbackRecorded { satisfaction, .. } => {
                let status =
                    if *satisfaction == Satisfaction::Dissatisfied { "rework_required" } else { "callback_done" };
                self.status = status.to_owned();
                self.callback_at = Some(at.to_owned());
                self.callback_satisfaction = Some(code(satisfaction));
            }
            TicketEvent::CallbackExempted { .. } => self.status = "callback_done".to_owned(),
            TicketEvent::Closed { first_time_fix, overdue, .. } => {
                self.status = "closed".to_owned();
                self.closed_at = Some(at.to_owned());
                self.first_time_fix = Some(i64::from(*first_time_fix));
                self.closed_overdue = Some(i64::from(*overdue));
            }
            TicketEvent::UrgencyRaised { to, .. } => self.urgency = code(to),
            TicketEvent::Voided { .. } => self.status = "voided".to_owned(),
            TicketEvent::Cancelled { .. } => self.status = "cancelled".to_owned(),
        }
    }

    /// What [`SET_POOL`] does to the row.
    fn set_pool(&mut self, position: i64) {
        let pool = match self.status.as_str() {
            "closed" | "voided" | "cancelled" | "completed" | "callback_done" => None,
            _ if self.escalated == 1 => Some("escalated"),
            _ if self.supervised == 1 => Some("supervised"),
            "registered" => Some("pending"),
            "returned" | "rework_required" => Some("returned"),
            _ => Some("assigned"),
        };
        self.pool = pool.map(str::to_owned);
        self.last_position = position;
    }
}

/// One `rm_ticket_timeline` row.
#[derive(Debug)]
struct TimelineRow {
    ticket_id: String,
    position: i64,
    stream_version: i64,
    event_type: String,
    occurred_at: String,
    recorded_at: String,
    actor: String,
    source: String,
    reason: Option<String>,
    data: String,
}

impl TimelineRow {
    /// The timeline row of a decoded ticket event.
    fn of(event: &RecordedEvent, decoded: &TicketEvent, meta: &Metadata, at: String) -> TimelineRow {
        // The reason is read from the event as decoded (upcast to today's shape), not from the
        // stored payload, so an old schema version shows its reason too.
        let current = decoded.encode().payload;
        let reason = ["reason", "note"]
            .iter()
            .find_map(|key| current.get(key).and_then(|v| v.as_str()).filter(|s| !s.is_empty()).map(str::to_owned));
        TimelineRow {
            ticket_id: event.stream_id.id().to_owned(),
            position: event.global_position as i64,
            stream_version: event.stream_version as i64,
            event_type: event.event_type.clone(),
            occurred_at: at,
            recorded_at: timestamp(&event.recorded_at),
            actor: meta.actor.clone(),
            source: meta.source.clone(),
            reason,
            data: event.payload.to_string(),
        }
    }

    /// Binds the row's columns, in the order of [`TIMELINE_COLUMNS`].
    fn bind<'q>(&'q self, query: AnyQuery<'q>) -> AnyQuery<'q> {
        query
            .bind(&self.ticket_id)
            .bind(self.position)
            .bind(self.stream_version)
            .bind(&self.event_type)
            .bind(&self.occurred_at)
            .bind(&self.recorded_at)
            .bind(&self.actor)
            .bind(&self.source)
            .bind(&self.reason)
            .bind(&self.data)
    }
}

/// The timeline's columns, in [`TimelineRow`]'s order.
const TIMELINE_COLUMNS: [&str; 10] = [
    "ticket_id",
    "position",
    "stream_version",
    "event_type",
    "occurred_at",
    "recorded_at",
    "actor",
    "source",
    "reason",
    "data",
];

/// How bound parameters are written: SQLite's plain `?` or PostgreSQL's `$1`, `$2`, ...
///
/// SQLite accepts `$N` too, but finds each numbered parameter's name by a linear search
/// (`sqlite3_bind_parameter_name`, which sqlx calls for every parameter), so binding a statement
/// with thousands of them takes quadratic time: 80 % of a rebuild when measured. Plain `?`
/// parameters have no name, and bind in order.
#[derive(Debug, Clone, Copy)]
enum Placeholders {
    /// `?`, bound in order.
    Anonymous,
    /// `$1`, `$2`, ...
    Numbered,
}

impl Placeholders {
    /// The style the connection's engine binds fastest.
    fn of(conn: &AnyConnection) -> Placeholders {
        if conn.backend_name().eq_ignore_ascii_case("sqlite") {
            Placeholders::Anonymous
        } else {
            Placeholders::Numbered
        }
    }

    /// `count` placeholders, separated by commas, the first numbered `first`.
    fn list(self, first: usize, count: usize) -> String {
        let mut sql = String::with_capacity(count * 6);
        for n in first..first + count {
            if n > first {
                sql.push_str(", ");
            }
            match self {
                Placeholders::Anonymous => sql.push('?'),
                Placeholders::Numbered => {
                    sql.push('$');
                    sql.push_str(&n.to_string());
                }
            }
        }
        sql
    }

    /// `INSERT INTO table (columns) VALUES (...), (...)` for `rows` rows.
    /// Dynamic SQL: the number of rows varies with the batch; every value is bound.
    fn insert_rows(self, table: &str, columns: &[&str], rows: usize) -> String {
        let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
        for row in 0..rows {
            if row > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            sql.push_str(&self.list(row * columns.len() + 1, columns.len()));
            sql.push(')');
        }
        sql
    }
}

/// A query of the `Any` driver with its arguments.
type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// A row that a multi-row statement binds, column by column.
trait BindRow {
    /// Binds the row's columns in its table's column order.
    fn bind_row<'q>(&'q self, query: AnyQuery<'q>) -> AnyQuery<'q>;
}

impl BindRow for TicketRow {
    fn bind_row<'q>(&'q self, query: AnyQuery<'q>) -> AnyQuery<'q> {
        self.bind(query)
    }
}

impl BindRow for TimelineRow {
    fn bind_row<'q>(&'q self, query: AnyQuery<'q>) -> AnyQuery<'q> {
        self.bind(query)
    }
}

impl<R: BindRow> BindRow for &R {
    fn bind_row<'q>(&'q self, query: AnyQuery<'q>) -> AnyQuery<'q> {
        (**self).bind_row(query)
    }
}

/// Writes `rows` with one statement per `per_statement` of them; `sql(n)` is the statement for
/// `n` rows.
async fn write_rows<R: BindRow>(
    conn: &mut AnyConnection,
    rows: &[R],
    per_statement: usize,
    sql: impl Fn(usize) -> String,
) -> Result<(), ProjectionError> {
    for chunk in rows.chunks(per_statement) {
        let sql = sql(chunk.len());
        let mut query = sqlx::query(&sql);
        for row in chunk {
            query = row.bind_row(query);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// A ticket a batch touches.
struct Touched {
    /// Its row as the batch leaves it (`None`: no row, and events for it change nothing).
    row: Option<TicketRow>,
    /// The row was in the table before the batch (so it is upserted, not inserted).
    stored: bool,
}

/// What a batch leaves: the rows of the tickets it touched, those it created in order, and its
/// timeline.
struct Folded<'a> {
    touched: HashMap<String, Touched>,
    created_order: Vec<&'a str>,
    timeline: Vec<TimelineRow>,
}

/// The pure fold of a batch of decoded ticket events over the rows stored before it (`touched`,
/// each `stored: true`): no database, so that what a batch writes can be tested, and snapshot,
/// without one.
fn fold<'a>(
    mut touched: HashMap<String, Touched>,
    decoded: &'a [(&RecordedEvent, TicketEvent, Metadata)],
) -> Result<Folded<'a>, ProjectionError> {
    let mut created_order = Vec::new();
    let mut timeline = Vec::with_capacity(decoded.len());
    for (event, ticket, meta) in decoded {
        let id = event.stream_id.id();
        let position = event.global_position as i64;
        let at = timestamp(&meta.occurred_at);
        let state = touched.entry(id.to_owned()).or_insert(Touched { row: None, stored: false });
        if let TicketEvent::Created(created) = ticket {
            if state.row.is_some() {
                // The INSERT would fail on the primary key; the runner finds which event.
                return Err(ProjectionError::Failed {
                    projection: "tickets".to_owned(),
                    position: event.global_position,
                    error: format!("ticket {id} is created again"),
                });
            }
            state.row = Some(TicketRow::created(id, created, &at, position));
            created_order.push(id);
        }
        if let Some(row) = state.row.as_mut() {
            row.evolve(ticket, &at);
            row.set_pool(position);
        }
        timeline.push(TimelineRow::of(event, ticket, meta, at));
    }
    Ok(Folded { touched, created_order, timeline })
}

/// Folds the batch's ticket events in memory (one row per ticket touched) and writes the rows
/// and the timeline with a few multi-row statements.
pub(super) async fn apply_batch(conn: &mut AnyConnection, events: &[&RecordedEvent]) -> Result<(), ProjectionError> {
    let mut decoded = Vec::with_capacity(events.len());
    for event in events.iter().filter(|e| e.stream_id.category() == "ticket") {
        let ticket = TicketEvent::decode(&event.event_type, event.schema_version, event.payload.clone())
            .map_err(|source| ProjectionError::Decode { event_type: event.event_type.clone(), source })?;
        decoded.push((*event, ticket, metadata(event)?));
    }
    if decoded.is_empty() {
        return Ok(());
    }
    let placeholders = Placeholders::of(conn);
    // Tickets whose first event here is not their creation may have a row already.
    let mut first_seen = HashSet::new();
    let to_load: Vec<&str> = decoded
        .iter()
        .filter(|(event, ticket, _)| {
            first_seen.insert(event.stream_id.id()) && !matches!(ticket, TicketEvent::Created(_))
        })
        .map(|(event, _, _)| event.stream_id.id())
        .collect();
    let mut touched: HashMap<String, Touched> = HashMap::with_capacity(first_seen.len());
    for ids in to_load.chunks(TICKET_ROWS_PER_STATEMENT) {
        // Dynamic SQL: one placeholder per id; the ids are bound.
        let sql = format!(
            "SELECT {} FROM rm_ticket WHERE ticket_id IN ({})",
            TICKET_ROW_COLUMNS.join(", "),
            placeholders.list(1, ids.len())
        );
        let mut query = sqlx::query(&sql);
        for id in ids {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            let row = TicketRow::read(&row)?;
            touched.insert(row.ticket_id.clone(), Touched { row: Some(row), stored: true });
        }
    }
    let Folded { touched, created_order, timeline } = fold(touched, &decoded)?;
    let inserted: Vec<&TicketRow> =
        created_order.iter().filter_map(|id| touched.get(*id).and_then(|t| t.row.as_ref())).collect();
    write_rows(conn, &inserted, TICKET_ROWS_PER_STATEMENT, |n| {
        placeholders.insert_rows("rm_ticket", &TICKET_ROW_COLUMNS, n)
    })
    .await?;
    let mut updated: Vec<&TicketRow> = touched.values().filter(|t| t.stored).filter_map(|t| t.row.as_ref()).collect();
    updated.sort_by_key(|row| row.created_position);
    let assignments: Vec<String> =
        TICKET_ROW_COLUMNS[1..].iter().map(|column| format!("{column} = excluded.{column}")).collect();
    write_rows(conn, &updated, TICKET_ROWS_PER_STATEMENT, |n| {
        format!(
            "{} ON CONFLICT (ticket_id) DO UPDATE SET {}",
            placeholders.insert_rows("rm_ticket", &TICKET_ROW_COLUMNS, n),
            assignments.join(", ")
        )
    })
    .await?;
    write_rows(conn, &timeline, TIMELINE_ROWS_PER_STATEMENT, |n| {
        placeholders.insert_rows("rm_ticket_timeline", &TIMELINE_COLUMNS, n)
    })
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_commands::store::StreamId;

    /// The replay fixture's events as the log would hand them over (positions from 1).
    fn fixture(text: &str) -> Vec<RecordedEvent> {
        text.lines()
            .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
            .enumerate()
            .map(|(i, line)| {
                let event: serde_json::Value = serde_json::from_str(line).expect("fixture line");
                let metadata = event["metadata"].clone();
                RecordedEvent {
                    global_position: i as u64 + 1,
                    stream_id: StreamId::parse(event["stream_id"].as_str().unwrap()).unwrap(),
                    stream_version: event["stream_version"].as_u64().unwrap(),
                    event_id: uuid::Uuid::from_u128(i as u128 + 1),
                    event_type: event["event_type"].as_str().unwrap().to_owned(),
                    schema_version: event["schema_version"].as_u64().unwrap() as u32,
                    payload: event["payload"].clone(),
                    recorded_at: metadata["occurred_at"].as_str().unwrap().parse().unwrap(),
                    metadata,
                    stream_hash: String::new(),
                }
            })
            .collect()
    }

    /// The replay suite's fixture of a v1 ticket worked to closed, read where that suite keeps it
    /// (at test time: nothing outside this crate is embedded in it).
    fn v1_ticket() -> Vec<RecordedEvent> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../replay-tests/fixtures/ticket_v1_created_then_closed.jsonl");
        fixture(&std::fs::read_to_string(path).expect("replay fixture"))
    }

    fn decoded(events: &[RecordedEvent]) -> Vec<(&RecordedEvent, TicketEvent, Metadata)> {
        events
            .iter()
            .map(|e| {
                (e, TicketEvent::decode(&e.event_type, e.schema_version, e.payload.clone()).unwrap(), e.meta().unwrap())
            })
            .collect()
    }

    /// A ticket of the first release, worked and closed by later ones: the row and timeline a
    /// batch of its whole history writes (fixed ids and times, so no redaction is needed).
    #[test]
    fn fold_of_a_v1_ticket_worked_to_closed() {
        let events = v1_ticket();
        let decoded = decoded(&events);
        let folded = fold(HashMap::new(), &decoded).expect("fold");
        let rows: Vec<&TicketRow> = folded.touched.values().filter_map(|t| t.row.as_ref()).collect();
        assert_eq!(folded.created_order.len(), 1);
        assert_eq!(folded.timeline.len(), events.len());
        insta::assert_debug_snapshot!("fold_of_a_v1_ticket_worked_to_closed", (rows, &folded.timeline));
    }

    /// Folding in two batches (the second over the row the first left, as read back) leaves what
    /// one batch does; a second creation of the same ticket is refused at that event.
    #[test]
    fn fold_in_two_batches_is_one_batch_and_a_second_creation_is_refused() {
        let events = v1_ticket();
        let decoded = decoded(&events);
        let whole = fold(HashMap::new(), &decoded).expect("fold");
        for cut in 1..decoded.len() {
            let first = fold(HashMap::new(), &decoded[..cut]).expect("first half");
            let stored: HashMap<String, Touched> =
                first.touched.into_iter().map(|(id, t)| (id, Touched { row: t.row, stored: true })).collect();
            let second = fold(stored, &decoded[cut..]).expect("second half");
            let row = |f: &HashMap<String, Touched>| f.values().find_map(|t| t.row.clone());
            assert_eq!(row(&second.touched), row(&whole.touched), "cut after {cut} events");
        }
        let again = [decoded[0].clone(), decoded[0].clone()];
        match fold(HashMap::new(), &again) {
            Err(ProjectionError::Failed { position, .. }) => assert_eq!(position, 1),
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("a second TicketCreated must fail the fold"),
        }
    }
}
