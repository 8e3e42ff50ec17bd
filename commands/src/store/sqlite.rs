//! The embedded log: SQLite in WAL mode with one writer task and group commit.
//!
//! Every append goes through a channel to the one writer task, which takes all requests waiting
//! (up to [`MAX_BATCH`]), applies each inside its own savepoint of one `BEGIN IMMEDIATE`
//! transaction, commits once (one fsync for the batch: `synchronous=FULL`), then answers each.
//! One writer means positions are assigned in commit order with no gaps. Readers use a separate
//! read-only pool and never block the writer.

use super::{
    format_recorded_at, outcome_of, parse_json, prepare_rows, recorded_at, stored_payload, AppendError, AppendOutcome,
    AppendRequest, CommandRecord, CommandRow, EventStore, RecordedCommand, RecordedEvent, StoreError, StoredEvent,
    StoredPayload, StreamId,
};
use crate::clock::Clock;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Row, SqliteConnection, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

/// Most appends committed in one transaction.
pub const MAX_BATCH: usize = 256;

type Reply = oneshot::Sender<Result<AppendOutcome, AppendError>>;

/// The SQLite backend.
pub struct SqliteEventStore {
    readers: SqlitePool,
    writer: mpsc::Sender<(AppendRequest, Reply)>,
    head: watch::Receiver<u64>,
}

/// Rows a reading connection's worker thread may fetch ahead of the task that reads them. With
/// sqlx's default (50) a long read (a page of `hotline verify`, a rebuild) makes the two threads
/// wake each other for nearly every row.
const ROWS_AHEAD: usize = 5_000;

impl SqliteEventStore {
    /// Opens (creating if needed) the log at `path`, migrates it and starts the writer task.
    pub async fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<SqliteEventStore, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30))
            .disable_statement_logging();
        let mut writer = options.connect().await?;
        // The read models may share this database and record their own migrations beside ours.
        let mut migrator = sqlx::migrate!("../migrations/eventstore/sqlite");
        migrator.set_ignore_missing(true);
        migrator.run(&mut writer).await?;
        let head_position: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(global_position), 0) FROM events").fetch_one(&mut writer).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone().read_only(true).create_if_missing(false).row_buffer_size(ROWS_AHEAD))
            .await?;
        let (head_tx, head) = watch::channel(head_position as u64);
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(write_loop(writer, rx, head_tx, head_position as u64, clock));
        Ok(SqliteEventStore { readers, writer: tx, head })
    }
}

impl SqliteEventStore {
    /// Opens the log at `path` for reading only — `hotline verify` and `replay` on a backup or a
    /// read-only copy: it is never created, migrated or written (appends fail with
    /// [`StoreError::Closed`]). Where SQLite cannot make the shared-memory file of a WAL database
    /// (a read-only directory) and no write-ahead file holds committed events, it is opened as
    /// immutable.
    pub async fn open_read_only(path: &Path) -> Result<SqliteEventStore, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .create_if_missing(false)
            .busy_timeout(Duration::from_secs(30))
            .row_buffer_size(ROWS_AHEAD)
            .disable_statement_logging();
        let wal = path.with_file_name(format!(
            "{}-wal",
            path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
        ));
        let no_pending_wal = std::fs::metadata(&wal).map_or(true, |m| m.len() == 0);
        let (readers, head_position) = match read_only_pool(options.clone()).await {
            Ok(opened) => opened,
            Err(_) if no_pending_wal => read_only_pool(options.immutable(true)).await?,
            Err(error) => return Err(error),
        };
        let (_, head) = watch::channel(head_position);
        // No writer task: the receiver is gone, so every append fails as on a closed store.
        let (writer, _) = mpsc::channel(1);
        Ok(SqliteEventStore { readers, writer, head })
    }
}

async fn read_only_pool(options: SqliteConnectOptions) -> Result<(SqlitePool, u64), StoreError> {
    let readers = SqlitePoolOptions::new().max_connections(2).connect_with(options).await?;
    let head: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(global_position), 0) FROM events").fetch_one(&readers).await?;
    Ok((readers, head as u64))
}

async fn write_loop(
    mut conn: SqliteConnection,
    mut requests: mpsc::Receiver<(AppendRequest, Reply)>,
    head: watch::Sender<u64>,
    mut position: u64,
    clock: Arc<dyn Clock>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // The last commit's time, kept here like the position: this task is the log's one writer.
    let mut last_recorded_at: Option<DateTime<Utc>> = None;
    while requests.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let committed_before = position;
        let recorded_before = last_recorded_at;
        let results = match write_batch(&mut conn, &batch, &mut position, &mut last_recorded_at, clock.as_ref()).await {
            Ok(results) => results,
            Err(error) => {
                // The transaction is gone; nothing of the batch is stored.
                position = committed_before;
                last_recorded_at = recorded_before;
                let _ = sqlx::query("ROLLBACK").execute(&mut conn).await;
                tracing::error!(%error, "log batch failed");
                let message = error.to_string();
                batch.iter().map(|_| Err(AppendError::Store(StoreError::CommitFailed(message.clone())))).collect()
            }
        };
        if position > committed_before {
            head.send_replace(position);
        }
        for ((_, reply), result) in batch.drain(..).zip(results) {
            let _ = reply.send(result);
        }
    }
}

/// Commits a batch in one transaction. Each append runs in a savepoint of its own, so that one
/// refused leaves the others; a batch of one needs none (refused, the transaction is rolled back).
/// `last_recorded_at` is the last commit's time (read from the log the first time).
async fn write_batch(
    conn: &mut SqliteConnection,
    batch: &[(AppendRequest, Reply)],
    position: &mut u64,
    last_recorded_at: &mut Option<DateTime<Utc>>,
    clock: &dyn Clock,
) -> Result<Vec<Result<AppendOutcome, AppendError>>, sqlx::Error> {
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    if last_recorded_at.is_none() {
        let last: Option<String> =
            sqlx::query_scalar("SELECT recorded_at FROM events ORDER BY global_position DESC LIMIT 1")
                .fetch_optional(&mut *conn)
                .await?;
        *last_recorded_at = last.and_then(|text| parse_recorded_at(&text).ok());
    }
    let recorded_at = recorded_at(clock.now(), *last_recorded_at);
    let start = *position;
    let mut results = Vec::with_capacity(batch.len());
    let single = batch.len() == 1;
    for (request, _) in batch {
        if !single {
            sqlx::query("SAVEPOINT append").execute(&mut *conn).await?;
        }
        let before = *position;
        let result = append_one(conn, request, position, &recorded_at).await;
        if result.is_err() {
            *position = before;
            if single {
                sqlx::query("ROLLBACK").execute(&mut *conn).await?;
                return Ok(vec![result]);
            }
            sqlx::query("ROLLBACK TO append").execute(&mut *conn).await?;
        }
        if !single {
            sqlx::query("RELEASE append").execute(&mut *conn).await?;
        }
        results.push(result);
    }
    sqlx::query("COMMIT").execute(&mut *conn).await?;
    if *position > start {
        *last_recorded_at = Some(recorded_at);
    }
    Ok(results)
}

async fn append_one(
    conn: &mut SqliteConnection,
    request: &AppendRequest,
    position: &mut u64,
    recorded_at: &DateTime<Utc>,
) -> Result<AppendOutcome, AppendError> {
    if let Some(command_id) = request.command_id {
        if let Some(recorded) = find_command(&mut *conn, command_id).await? {
            return recorded
                .outcome_for(request.fingerprint.as_deref())
                .ok_or(AppendError::CommandIdReused { command_id });
        }
    }
    let current: Option<(i64, String)> = sqlx::query_as(
        "SELECT stream_version, stream_hash FROM events WHERE stream_id = ? ORDER BY stream_version DESC LIMIT 1",
    )
    .bind(request.stream_id.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::from)?;
    let (version, previous_hash) = match current {
        Some((version, hash)) => (version as u64, Some(hash)),
        None => (0, None),
    };
    if !request.expected.admits(version) {
        return Err(AppendError::Conflict {
            stream: request.stream_id.clone(),
            expected: request.expected,
            actual: version,
        });
    }
    let rows = prepare_rows(request, *position + 1, version, previous_hash, recorded_at);
    let recorded_at = format_recorded_at(recorded_at);
    for row in &rows {
        sqlx::query(
            "INSERT INTO events (global_position, stream_id, stream_version, event_id, event_type, schema_version, \
             payload, metadata, recorded_at, stream_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(row.global_position as i64)
        .bind(request.stream_id.as_str())
        .bind(row.stream_version as i64)
        .bind(row.event_id.hyphenated().to_string())
        .bind(&row.event_type)
        .bind(row.schema_version as i64)
        .bind(&row.payload)
        .bind(&row.metadata)
        .bind(&recorded_at)
        .bind(&row.stream_hash)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::from)?;
    }
    let outcome = outcome_of(&rows, version + rows.len() as u64);
    if let Some(command_id) = request.command_id {
        sqlx::query(
            "INSERT INTO commands (command_id, stream_id, stream_version, first_position, last_position, fingerprint) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(command_id.hyphenated().to_string())
        .bind(request.stream_id.as_str())
        .bind(outcome.stream_version as i64)
        .bind(outcome.first_position.map(|p| p as i64))
        .bind(outcome.last_position.map(|p| p as i64))
        .bind(request.fingerprint.as_deref())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::from)?;
    }
    if let Some(last) = outcome.last_position {
        *position = last;
    }
    Ok(outcome)
}

async fn find_command<'c, E>(executor: E, command_id: Uuid) -> Result<Option<RecordedCommand>, StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Sqlite>,
{
    let row: Option<CommandRow> = sqlx::query_as(
        "SELECT stream_version, first_position, last_position, fingerprint FROM commands WHERE command_id = ?",
    )
    .bind(command_id.hyphenated().to_string())
    .fetch_optional(executor)
    .await?;
    Ok(row.map(RecordedCommand::from_row))
}

const SELECT_EVENTS: &str = "SELECT global_position, stream_id, stream_version, event_id, event_type, schema_version, \
                             payload, metadata, recorded_at, stream_hash FROM events";

/// A recorded time as [`format_recorded_at`] wrote it.
fn parse_recorded_at(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    Ok(NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.6fZ")?.and_utc())
}

fn stored_row(row: &SqliteRow) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        global_position: row.try_get::<i64, _>(0)? as u64,
        stream_id: row.try_get(1)?,
        stream_version: row.try_get::<i64, _>(2)? as u64,
        event_id: row.try_get(3)?,
        event_type: row.try_get(4)?,
        schema_version: row.try_get::<i64, _>(5)? as u32,
        payload: row.try_get(6)?,
        metadata: row.try_get(7)?,
        recorded_at: row.try_get(8)?,
        stream_hash: row.try_get(9)?,
    })
}

fn decode_row(row: &SqliteRow) -> Result<RecordedEvent, StoreError> {
    let position = row.try_get::<i64, _>(0)? as u64;
    let corrupt = |reason: String| StoreError::Corrupt { position, reason };
    let recorded_at: String = row.try_get(8)?;
    let recorded_at =
        parse_recorded_at(&recorded_at).map_err(|e| corrupt(format!("recorded_at {recorded_at:?}: {e}")))?;
    let event_id: String = row.try_get(3)?;
    Ok(RecordedEvent {
        global_position: position,
        stream_id: StreamId::parse(row.try_get(1)?).map_err(|e| corrupt(e.to_string()))?,
        stream_version: row.try_get::<i64, _>(2)? as u64,
        event_id: Uuid::from_str(&event_id).map_err(|e| corrupt(format!("event_id: {e}")))?,
        event_type: row.try_get(4)?,
        schema_version: row.try_get::<i64, _>(5)? as u32,
        payload: parse_json(position, "payload", row.try_get(6)?)?,
        metadata: parse_json(position, "metadata", row.try_get(7)?)?,
        recorded_at,
        stream_hash: row.try_get(9)?,
    })
}

#[async_trait]
impl EventStore for SqliteEventStore {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, AppendError> {
        let (reply, answer) = oneshot::channel();
        self.writer.send((request, reply)).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn recorded_command(&self, command_id: Uuid) -> Result<Option<RecordedCommand>, StoreError> {
        find_command(&self.readers, command_id).await
    }

    async fn read_stream(&self, stream: &StreamId, from_version: u64) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = sqlx::query(&format!(
            "{SELECT_EVENTS} WHERE stream_id = ? AND stream_version >= ? ORDER BY stream_version"
        ))
        .bind(stream.as_str())
        .bind(from_version as i64)
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(decode_row).collect()
    }

    async fn read_stream_payloads(
        &self,
        stream: &StreamId,
        from_version: u64,
    ) -> Result<Vec<StoredPayload>, StoreError> {
        let rows: Vec<(i64, i64, String, i64, String)> = sqlx::query_as(
            "SELECT global_position, stream_version, event_type, schema_version, payload FROM events \
             WHERE stream_id = ? AND stream_version >= ? ORDER BY stream_version",
        )
        .bind(stream.as_str())
        .bind(from_version as i64)
        .fetch_all(&self.readers)
        .await?;
        Ok(rows.into_iter().map(stored_payload).collect())
    }

    async fn read_event(&self, stream: &StreamId, version: u64) -> Result<Option<RecordedEvent>, StoreError> {
        let row = sqlx::query(&format!("{SELECT_EVENTS} WHERE stream_id = ? AND stream_version = ?"))
            .bind(stream.as_str())
            .bind(version as i64)
            .fetch_optional(&self.readers)
            .await?;
        row.as_ref().map(decode_row).transpose()
    }

    async fn read_all(&self, after: u64, limit: u32) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = sqlx::query(&format!("{SELECT_EVENTS} WHERE global_position > ? ORDER BY global_position LIMIT ?"))
            .bind(after as i64)
            .bind(i64::from(limit))
            .fetch_all(&self.readers)
            .await?;
        rows.iter().map(decode_row).collect()
    }

    async fn read_all_stored(&self, after: u64, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(&format!("{SELECT_EVENTS} WHERE global_position > ? ORDER BY global_position LIMIT ?"))
            .bind(after as i64)
            .bind(i64::from(limit))
            .fetch_all(&self.readers)
            .await?;
        rows.iter().map(stored_row).collect()
    }

    async fn head(&self) -> Result<u64, StoreError> {
        Ok(*self.head.borrow())
    }

    async fn read_commands(&self, after: Option<Uuid>, limit: u32) -> Result<Vec<CommandRecord>, StoreError> {
        // Ids are stored hyphenated and lowercase, so text order is id order.
        let after = after.map(|id| id.hyphenated().to_string()).unwrap_or_default();
        let rows: Vec<(String, String, i64, Option<i64>, Option<i64>)> = sqlx::query_as(
            "SELECT command_id, stream_id, stream_version, first_position, last_position FROM commands \
             WHERE command_id > ? ORDER BY command_id LIMIT ?",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        rows.into_iter()
            .map(|(id, stream_id, version, first, last)| {
                let command_id = Uuid::from_str(&id).map_err(|e| StoreError::Corrupt {
                    position: first.unwrap_or(0) as u64,
                    reason: format!("command id {id:?} in commands: {e}"),
                })?;
                Ok(CommandRecord {
                    command_id,
                    stream_id,
                    stream_version: version as u64,
                    first_position: first.map(|p| p as u64),
                    last_position: last.map(|p| p as u64),
                })
            })
            .collect()
    }

    fn watch_head(&self) -> watch::Receiver<u64> {
        self.head.clone()
    }
}

/// Opens a plain read-write connection to a log file, for tools and tests that inspect it.
pub async fn connect_raw(path: &Path) -> Result<SqliteConnection, StoreError> {
    Ok(SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(path).disable_statement_logging()).await?)
}
