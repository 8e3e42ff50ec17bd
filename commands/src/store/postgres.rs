//! The production log: PostgreSQL.
//!
//! Each append is one transaction that first increments the single `log_head` row. That row lock
//! serialises appends, so positions are handed out in commit order and a rollback leaves no gap
//! (invariant 3). Inside the lock the command id is checked (invariant 4) and the stream version
//! compared (invariant 2). Commits announce the new head with `pg_notify('hotline_log', head)`, so
//! readers in every process wake without polling.

use super::{
    outcome_of, parse_json, prepare_rows, to_micros, AppendError, AppendOutcome, AppendRequest, EventStore,
    RecordedEvent, StoreError, StreamId,
};
use crate::clock::Clock;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, PgPool, Row};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

/// The channel commits are announced on.
pub const NOTIFY_CHANNEL: &str = "hotline_log";

/// The PostgreSQL backend.
pub struct PostgresEventStore {
    pool: PgPool,
    clock: Arc<dyn Clock>,
    head: Arc<watch::Sender<u64>>,
    listener: tokio::task::JoinHandle<()>,
}

impl Drop for PostgresEventStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl PostgresEventStore {
    /// Connects, migrates and starts listening for commits of other processes.
    pub async fn connect(url: &str, clock: Arc<dyn Clock>) -> Result<PostgresEventStore, StoreError> {
        let options = PgConnectOptions::from_str(url)?.disable_statement_logging();
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        // The read models may share this database and record their own migrations beside ours.
        let mut migrator = sqlx::migrate!("../migrations/eventstore/postgres");
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await?;
        let position: i64 = sqlx::query_scalar("SELECT position FROM log_head").fetch_one(&pool).await?;
        let head = Arc::new(watch::channel(position as u64).0);
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(NOTIFY_CHANNEL).await?;
        let listener = tokio::spawn(listen(listener, pool.clone(), Arc::clone(&head)));
        Ok(PostgresEventStore { pool, clock, head, listener })
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

const SELECT_EVENTS: &str = "SELECT global_position, stream_id, stream_version, event_id, event_type, schema_version, \
                             payload::text, metadata::text, recorded_at, stream_hash FROM events";

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

async fn find_command<'c, E>(executor: E, command_id: Uuid) -> Result<Option<AppendOutcome>, StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Postgres>,
{
    let row: Option<(i64, Option<i64>, Option<i64>)> =
        sqlx::query_as("SELECT stream_version, first_position, last_position FROM commands WHERE command_id = $1")
            .bind(command_id)
            .fetch_optional(executor)
            .await?;
    Ok(row.map(|(version, first, last)| AppendOutcome {
        stream_version: version as u64,
        first_position: first.map(|p| p as u64),
        last_position: last.map(|p| p as u64),
        duplicate: true,
    }))
}

#[async_trait]
impl EventStore for PostgresEventStore {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, AppendError> {
        let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
        let count = request.events.len() as i64;
        // Taking the head row's lock first serialises appends; everything below runs under it.
        let head: i64 = sqlx::query_scalar("UPDATE log_head SET position = position + $1 RETURNING position")
            .bind(count)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        if let Some(command_id) = request.command_id {
            if let Some(outcome) = find_command(&mut *tx, command_id).await? {
                tx.rollback().await.map_err(StoreError::from)?;
                return Ok(outcome);
            }
        }
        let current: Option<(i64, String)> = sqlx::query_as(
            "SELECT stream_version, stream_hash FROM events WHERE stream_id = $1 ORDER BY stream_version DESC LIMIT 1",
        )
        .bind(request.stream_id.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let (version, previous_hash) = match current {
            Some((version, hash)) => (version as u64, Some(hash)),
            None => (0, None),
        };
        if !request.expected.admits(version) {
            tx.rollback().await.map_err(StoreError::from)?;
            return Err(AppendError::Conflict {
                stream: request.stream_id.clone(),
                expected: request.expected,
                actual: version,
            });
        }
        let recorded_at = to_micros(self.clock.now());
        let first_position = (head - count + 1) as u64;
        let rows = prepare_rows(&request, first_position, version, previous_hash, &recorded_at);
        if !rows.is_empty() {
            // One statement for the whole append: arrays unnested into rows.
            sqlx::query(
                "INSERT INTO events (global_position, stream_id, stream_version, event_id, event_type, schema_version, \
                 payload, metadata, recorded_at, stream_hash) \
                 SELECT p, $2, v, e, t, s, pl::json, m::json, $9, h \
                 FROM UNNEST($1::bigint[], $3::bigint[], $4::uuid[], $5::text[], $6::int[], $7::text[], $8::text[], $10::text[]) \
                 AS x(p, v, e, t, s, pl, m, h)",
            )
            .bind(rows.iter().map(|r| r.global_position as i64).collect::<Vec<_>>())
            .bind(request.stream_id.as_str())
            .bind(rows.iter().map(|r| r.stream_version as i64).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.event_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.event_type.clone()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.schema_version as i32).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.payload.clone()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.metadata.clone()).collect::<Vec<_>>())
            .bind(recorded_at)
            .bind(rows.iter().map(|r| r.stream_hash.clone()).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        }
        let outcome = outcome_of(&rows, version + rows.len() as u64);
        if let Some(command_id) = request.command_id {
            sqlx::query(
                "INSERT INTO commands (command_id, stream_id, stream_version, first_position, last_position) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(command_id)
            .bind(request.stream_id.as_str())
            .bind(outcome.stream_version as i64)
            .bind(outcome.first_position.map(|p| p as i64))
            .bind(outcome.last_position.map(|p| p as i64))
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        }
        if count > 0 {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(NOTIFY_CHANNEL)
                .bind(head.to_string())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        if let Some(last) = outcome.last_position {
            raise(&self.head, last);
        }
        Ok(outcome)
    }

    async fn command_outcome(&self, command_id: Uuid) -> Result<Option<AppendOutcome>, StoreError> {
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

    async fn read_all(&self, after: u64, limit: u32) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows =
            sqlx::query(&format!("{SELECT_EVENTS} WHERE global_position > $1 ORDER BY global_position LIMIT $2"))
                .bind(after as i64)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(decode_row).collect()
    }

    async fn head(&self) -> Result<u64, StoreError> {
        let position: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(global_position), 0) FROM events").fetch_one(&self.pool).await?;
        Ok(position as u64)
    }

    fn watch_head(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }
}
