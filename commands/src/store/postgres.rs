//! The production log: PostgreSQL.
//!
//! Appends go through one writer task per process, which takes every append waiting (up to
//! [`MAX_BATCH`]) and commits them in one transaction (group commit). The transaction first locks
//! the single `log_head` row, which serialises writers across processes, so positions are handed
//! out in commit order and a rollback leaves no gap (invariant 3). Under the lock it reads, in one
//! query each, which of the batch's command ids exist (invariant 4) and every touched stream's
//! version and last hash; then it decides each append in order in memory (duplicates, version
//! checks — invariant 2 — and hash chains, also against earlier appends of the same batch), and
//! writes all events and command rows with one statement each. Commits announce the new head with
//! `pg_notify('hotline_log', head)`, so readers in every process wake without polling.

use super::{
    format_recorded_at, outcome_of, parse_json, prepare_rows, recorded_at, stored_payload, AppendError, AppendOutcome,
    AppendRequest, CommandRecord, CommandRow, EventStore, PreparedRow, RecordedCommand, RecordedEvent, StoreError,
    StoredEvent, StoredPayload, StreamId,
};
use crate::clock::Clock;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, PgPool, Row};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

/// A row of the `commands` table with its command id.
type KeyedCommandRow = (Uuid, i64, Option<i64>, Option<i64>, Option<String>);

/// The channel commits are announced on.
pub const NOTIFY_CHANNEL: &str = "hotline_log";

/// The PostgreSQL backend.
pub struct PostgresEventStore {
    pool: PgPool,
    head: Arc<watch::Sender<u64>>,
    writer: mpsc::Sender<(AppendRequest, Reply)>,
    tasks: [tokio::task::JoinHandle<()>; 2],
}

/// How long a caller waits for a connection before the store answers with an error: while the
/// database is unreachable a request fails in this long (and the pool reconnects by itself when
/// it returns), rather than hanging.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Each named stream's latest version and hash (`$1`: the stream ids; a stream without events
/// gives no row). One backward index probe per stream: a `DISTINCT ON` over `stream_id = ANY($1)`
/// read and sorted every event of every stream named, so an append's cost grew with the length
/// of its stream (329 ms for 32 streams of 6,250 events, against 0.3 ms this way).
pub const STREAM_HEADS: &str =
    "SELECT s.stream_id, e.stream_version, e.stream_hash FROM unnest($1::text[]) AS s(stream_id) \
     CROSS JOIN LATERAL (SELECT stream_version, stream_hash FROM events WHERE events.stream_id = s.stream_id \
     ORDER BY stream_version DESC LIMIT 1) AS e";

/// Most appends committed in one transaction.
pub const MAX_BATCH: usize = 256;

type Reply = oneshot::Sender<Result<AppendOutcome, AppendError>>;

impl Drop for PostgresEventStore {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl PostgresEventStore {
    /// Connects, migrates and starts listening for commits of other processes.
    pub async fn connect(url: &str, clock: Arc<dyn Clock>) -> Result<PostgresEventStore, StoreError> {
        let options = PgConnectOptions::from_str(url)?.disable_statement_logging();
        let pool =
            PgPoolOptions::new().max_connections(16).acquire_timeout(ACQUIRE_TIMEOUT).connect_with(options).await?;
        // The read models may share this database and record their own migrations beside ours.
        let mut migrator = sqlx::migrate!("../migrations/eventstore/postgres");
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await?;
        let position: i64 = sqlx::query_scalar("SELECT position FROM log_head").fetch_one(&pool).await?;
        let head = Arc::new(watch::channel(position as u64).0);
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(NOTIFY_CHANNEL).await?;
        let listener = tokio::spawn(listen(listener, pool.clone(), Arc::clone(&head)));
        let (writer, requests) = mpsc::channel(4 * MAX_BATCH);
        let write_loop = tokio::spawn(write_loop(pool.clone(), requests, Arc::clone(&head), clock));
        Ok(PostgresEventStore { pool, head, writer, tasks: [listener, write_loop] })
    }

    /// Connects for reading only — `hotline verify` and `replay` against a backup, a replica or
    /// with a role that may only read: nothing is migrated, every transaction is read-only
    /// (`default_transaction_read_only`), and appends fail with [`StoreError::Closed`]. A database
    /// without a log is refused with [`StoreError::NoLog`].
    pub async fn connect_read_only(url: &str) -> Result<PostgresEventStore, StoreError> {
        let options = PgConnectOptions::from_str(url)?
            .disable_statement_logging()
            .options([("default_transaction_read_only", "on")]);
        let pool =
            PgPoolOptions::new().max_connections(4).acquire_timeout(ACQUIRE_TIMEOUT).connect_with(options).await?;
        let has_log: bool = sqlx::query_scalar("SELECT to_regclass('log_head') IS NOT NULL").fetch_one(&pool).await?;
        if !has_log {
            return Err(StoreError::NoLog(
                "the database has no table log_head; is the URL right, or run `hotline migrate`".into(),
            ));
        }
        let position: i64 = sqlx::query_scalar("SELECT position FROM log_head").fetch_one(&pool).await?;
        let head = Arc::new(watch::channel(position as u64).0);
        // No writer task: the receiver is gone, so every append fails as on a closed store.
        let (writer, _) = mpsc::channel(1);
        let idle = || tokio::spawn(std::future::pending::<()>());
        Ok(PostgresEventStore { pool, head, writer, tasks: [idle(), idle()] })
    }

    /// The connection pool, for tools and tests that inspect the tables.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

fn raise(head: &watch::Sender<u64>, position: u64) {
    head.send_if_modified(|current| {
        let newer = position > *current;
        if newer {
            *current = position;
        }
        newer
    });
}

async fn listen(mut listener: PgListener, pool: PgPool, head: Arc<watch::Sender<u64>>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                if let Ok(position) = notification.payload().parse::<u64>() {
                    raise(&head, position);
                }
            }
            // The connection dropped and was re-established: notifications may have been lost,
            // so read the head directly.
            Ok(None) => {
                if let Ok(position) =
                    sqlx::query_scalar::<_, i64>("SELECT position FROM log_head").fetch_one(&pool).await
                {
                    raise(&head, position as u64);
                }
            }
            Err(error) => {
                tracing::warn!(%error, "log notifications interrupted; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn write_loop(
    pool: PgPool,
    mut requests: mpsc::Receiver<(AppendRequest, Reply)>,
    head: Arc<watch::Sender<u64>>,
    clock: Arc<dyn Clock>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while requests.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let results = match write_batch(&pool, &batch, clock.as_ref()).await {
            Ok((results, new_head)) => {
                raise(&head, new_head);
                results
            }
            Err(error) => {
                // The transaction is gone; nothing of the batch is stored.
                tracing::error!(%error, "log batch failed");
                let message = error.to_string();
                batch.iter().map(|_| Err(AppendError::Store(StoreError::CommitFailed(message.clone())))).collect()
            }
        };
        for ((_, reply), result) in batch.drain(..).zip(results) {
            let _ = reply.send(result);
        }
    }
}

/// Commits a batch; returns each append's result and the new head.
async fn write_batch(
    pool: &PgPool,
    batch: &[(AppendRequest, Reply)],
    clock: &dyn Clock,
) -> Result<(Vec<Result<AppendOutcome, AppendError>>, u64), sqlx::Error> {
    let mut tx = pool.begin().await?;
    // Taking the head row's lock first serialises writers of every process; all below runs under it.
    let (start, last): (i64, Option<DateTime<Utc>>) =
        sqlx::query_as("UPDATE log_head SET position = position RETURNING position, recorded_at")
            .fetch_one(&mut *tx)
            .await?;
    let command_ids: Vec<Uuid> = batch.iter().filter_map(|(r, _)| r.command_id).collect();
    let mut known: HashMap<Uuid, RecordedCommand> = HashMap::new();
    if !command_ids.is_empty() {
        let rows: Vec<KeyedCommandRow> = sqlx::query_as(
            "SELECT command_id, stream_version, first_position, last_position, fingerprint FROM commands \
             WHERE command_id = ANY($1)",
        )
        .bind(&command_ids)
        .fetch_all(&mut *tx)
        .await?;
        for (id, version, first, last, fingerprint) in rows {
            known.insert(id, RecordedCommand::from_row((version, first, last, fingerprint)));
        }
    }
    let mut stream_ids: Vec<String> = batch.iter().map(|(r, _)| r.stream_id.as_str().to_owned()).collect();
    stream_ids.sort_unstable();
    stream_ids.dedup();
    let current: Vec<(String, i64, String)> =
        sqlx::query_as(STREAM_HEADS).bind(&stream_ids).fetch_all(&mut *tx).await?;
    let mut streams: HashMap<String, (u64, Option<String>)> =
        current.into_iter().map(|(id, version, hash)| (id, (version as u64, Some(hash)))).collect();
    let recorded_at = recorded_at(clock.now(), last);
    let mut position = start as u64;
    let mut results = Vec::with_capacity(batch.len());
    let mut rows: Vec<(String, PreparedRow)> = Vec::new();
    let mut commands: Vec<(Uuid, String, AppendOutcome, Option<String>)> = Vec::new();
    for (request, _) in batch {
        if let Some((command_id, recorded)) = request.command_id.and_then(|id| Some((id, known.get(&id)?))) {
            let outcome = recorded.outcome_for(request.fingerprint.as_deref());
            results.push(outcome.ok_or(AppendError::CommandIdReused { command_id }));
            continue;
        }
        let stream = request.stream_id.as_str().to_owned();
        let (version, previous_hash) = streams.get(&stream).cloned().unwrap_or((0, None));
        if !request.expected.admits(version) {
            results.push(Err(AppendError::Conflict {
                stream: request.stream_id.clone(),
                expected: request.expected,
                actual: version,
            }));
            continue;
        }
        let prepared = prepare_rows(request, position + 1, version, previous_hash.clone(), &recorded_at);
        let outcome = outcome_of(&prepared, version + prepared.len() as u64);
        position += prepared.len() as u64;
        let last_hash = prepared.last().map(|r| r.stream_hash.clone()).or(previous_hash);
        streams.insert(stream.clone(), (outcome.stream_version, last_hash));
        if let Some(command_id) = request.command_id {
            let recorded = AppendOutcome { duplicate: true, ..outcome };
            known.insert(command_id, RecordedCommand { outcome: recorded, fingerprint: request.fingerprint.clone() });
            commands.push((command_id, stream.clone(), outcome, request.fingerprint.clone()));
        }
        rows.extend(prepared.into_iter().map(|row| (stream.clone(), row)));
        results.push(Ok(outcome));
    }
    if !rows.is_empty() {
        // One statement for the whole batch: arrays unnested into rows.
        sqlx::query(
            "INSERT INTO events (global_position, stream_id, stream_version, event_id, event_type, schema_version, \
             payload, metadata, recorded_at, stream_hash) \
             SELECT p, s, v, e, t, sv, pl::json, m::json, $9, h \
             FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::uuid[], $5::text[], $6::int[], $7::text[], $8::text[], $10::text[]) \
             AS x(p, s, v, e, t, sv, pl, m, h)",
        )
        .bind(rows.iter().map(|(_, r)| r.global_position as i64).collect::<Vec<_>>())
        .bind(rows.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|(_, r)| r.stream_version as i64).collect::<Vec<_>>())
        .bind(rows.iter().map(|(_, r)| r.event_id).collect::<Vec<_>>())
        .bind(rows.iter().map(|(_, r)| r.event_type.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|(_, r)| r.schema_version as i32).collect::<Vec<_>>())
        .bind(rows.iter().map(|(_, r)| r.payload.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|(_, r)| r.metadata.clone()).collect::<Vec<_>>())
        .bind(recorded_at)
        .bind(rows.iter().map(|(_, r)| r.stream_hash.clone()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    if !commands.is_empty() {
        sqlx::query(
            "INSERT INTO commands (command_id, stream_id, stream_version, first_position, last_position, fingerprint) \
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[])",
        )
        .bind(commands.iter().map(|(id, _, _, _)| *id).collect::<Vec<_>>())
        .bind(commands.iter().map(|(_, s, _, _)| s.clone()).collect::<Vec<_>>())
        .bind(commands.iter().map(|(_, _, o, _)| o.stream_version as i64).collect::<Vec<_>>())
        .bind(commands.iter().map(|(_, _, o, _)| o.first_position.map(|p| p as i64)).collect::<Vec<_>>())
        .bind(commands.iter().map(|(_, _, o, _)| o.last_position.map(|p| p as i64)).collect::<Vec<_>>())
        .bind(commands.iter().map(|(_, _, _, f)| f.clone()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    if position > start as u64 {
        // The new head and its time, and the notice to other processes, in one round trip.
        sqlx::query(
            "WITH head AS (UPDATE log_head SET position = $1, recorded_at = $2 RETURNING position) \
             SELECT pg_notify($3, position::text) FROM head",
        )
        .bind(position as i64)
        .bind(recorded_at)
        .bind(NOTIFY_CHANNEL)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok((results, position))
}

const SELECT_EVENTS: &str = "SELECT global_position, stream_id, stream_version, event_id, event_type, schema_version, \
                             payload::text, metadata::text, recorded_at, stream_hash FROM events";

/// [`SELECT_EVENTS`] with the event id as text, for [`stored_row`].
const SELECT_STORED: &str = "SELECT global_position, stream_id, stream_version, event_id::text, event_type, \
                             schema_version, payload::text, metadata::text, recorded_at, stream_hash FROM events";

fn stored_row(row: &PgRow) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        global_position: row.try_get::<i64, _>(0)? as u64,
        stream_id: row.try_get(1)?,
        stream_version: row.try_get::<i64, _>(2)? as u64,
        event_id: row.try_get(3)?,
        event_type: row.try_get(4)?,
        schema_version: row.try_get::<i32, _>(5)? as u32,
        payload: row.try_get(6)?,
        metadata: row.try_get(7)?,
        // A timestamp column: written the one way the hash covers it.
        recorded_at: format_recorded_at(&row.try_get::<DateTime<Utc>, _>(8)?),
        stream_hash: row.try_get(9)?,
    })
}

fn decode_row(row: &PgRow) -> Result<RecordedEvent, StoreError> {
    let position = row.try_get::<i64, _>(0)? as u64;
    Ok(RecordedEvent {
        global_position: position,
        stream_id: StreamId::parse(row.try_get(1)?)
            .map_err(|e| StoreError::Corrupt { position, reason: e.to_string() })?,
        stream_version: row.try_get::<i64, _>(2)? as u64,
        event_id: row.try_get(3)?,
        event_type: row.try_get(4)?,
        schema_version: row.try_get::<i32, _>(5)? as u32,
        payload: parse_json(position, "payload", row.try_get(6)?)?,
        metadata: parse_json(position, "metadata", row.try_get(7)?)?,
        recorded_at: row.try_get::<DateTime<Utc>, _>(8)?,
        stream_hash: row.try_get(9)?,
    })
}

async fn find_command<'c, E>(executor: E, command_id: Uuid) -> Result<Option<RecordedCommand>, StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Postgres>,
{
    let row: Option<CommandRow> = sqlx::query_as(
        "SELECT stream_version, first_position, last_position, fingerprint FROM commands WHERE command_id = $1",
    )
    .bind(command_id)
    .fetch_optional(executor)
    .await?;
    Ok(row.map(RecordedCommand::from_row))
}

#[async_trait]
impl EventStore for PostgresEventStore {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, AppendError> {
        let (reply, answer) = oneshot::channel();
        self.writer.send((request, reply)).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn recorded_command(&self, command_id: Uuid) -> Result<Option<RecordedCommand>, StoreError> {
        find_command(&self.pool, command_id).await
    }

    async fn read_stream(&self, stream: &StreamId, from_version: u64) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = sqlx::query(&format!(
            "{SELECT_EVENTS} WHERE stream_id = $1 AND stream_version >= $2 ORDER BY stream_version"
        ))
        .bind(stream.as_str())
        .bind(from_version as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decode_row).collect()
    }

    async fn read_stream_payloads(
        &self,
        stream: &StreamId,
        from_version: u64,
    ) -> Result<Vec<StoredPayload>, StoreError> {
        let rows: Vec<(i64, i64, String, i32, String)> = sqlx::query_as(
            "SELECT global_position, stream_version, event_type, schema_version, payload::text FROM events \
             WHERE stream_id = $1 AND stream_version >= $2 ORDER BY stream_version",
        )
        .bind(stream.as_str())
        .bind(from_version as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(position, version, event_type, schema_version, payload)| {
                stored_payload((position, version, event_type, i64::from(schema_version), payload))
            })
            .collect())
    }

    async fn read_event(&self, stream: &StreamId, version: u64) -> Result<Option<RecordedEvent>, StoreError> {
        let row = sqlx::query(&format!("{SELECT_EVENTS} WHERE stream_id = $1 AND stream_version = $2"))
            .bind(stream.as_str())
            .bind(version as i64)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(decode_row).transpose()
    }

    async fn read_all(&self, after: u64, limit: u32) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows =
            sqlx::query(&format!("{SELECT_EVENTS} WHERE global_position > $1 ORDER BY global_position LIMIT $2"))
                .bind(after as i64)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(decode_row).collect()
    }

    async fn read_all_stored(&self, after: u64, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        let rows =
            sqlx::query(&format!("{SELECT_STORED} WHERE global_position > $1 ORDER BY global_position LIMIT $2"))
                .bind(after as i64)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(stored_row).collect()
    }

    async fn head(&self) -> Result<u64, StoreError> {
        let position: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(global_position), 0) FROM events").fetch_one(&self.pool).await?;
        Ok(position as u64)
    }

    async fn read_commands(&self, after: Option<Uuid>, limit: u32) -> Result<Vec<CommandRecord>, StoreError> {
        let rows: Vec<(Uuid, String, i64, Option<i64>, Option<i64>)> = sqlx::query_as(
            "SELECT command_id, stream_id, stream_version, first_position, last_position FROM commands \
             WHERE $1::uuid IS NULL OR command_id > $1 ORDER BY command_id LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(command_id, stream_id, version, first, last)| CommandRecord {
                command_id,
                stream_id,
                stream_version: version as u64,
                first_position: first.map(|p| p as u64),
                last_position: last.map(|p| p as u64),
            })
            .collect())
    }

    fn watch_head(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }
}
