//! The projection runner: reads the log in order from each projection's checkpoint and commits
//! the checkpoint in the same transaction as the projection's writes, so a crash never applies an
//! event twice nor skips one.
//!
//! Each batch locks the projection's checkpoint row first (`FOR UPDATE` on PostgreSQL; SQLite has
//! one writer), so several `hotline serve` nodes can run the same projections: one makes progress
//! at a time and the others find the work done. A projection that fails records the position and
//! the error and stops; the others go on. Live runners wake on commit notifications of the log,
//! never on a timer.
//!
//! Projections take events in batches ([`Projection::apply_batch`]): each batch the live runner
//! reads ([`BATCH`] events) and each page a rebuild reads ([`REBUILD_PAGE`] events, read once for
//! every projection rebuilt, one page ahead). A batch runs in a savepoint; when it fails, the
//! runner applies its events one by one to find and record the exact event that fails, so
//! batching never changes which event stops a projection, and no event is applied twice.
//!
//! Events reach projections through [`storable`], the one place the read side turns what the log
//! holds into what both engines can store: a NUL character (PostgreSQL refuses it in `text`; the
//! log may hold one from before `hotline_domain::text` refused them) becomes U+FFFD. The log is
//! never changed, and no projection stops for it.
//!
//! A transient database error (see [`crate::health`]) is never recorded as a failure: the live
//! runner retries the batch, after 100 ms doubling up to [`RETRY_CAP`], until it passes, and
//! shows `retrying` with the error meanwhile. On start each live runner retries a stopped
//! projection once, so an error that a fixed binary or a passing fault no longer raises does not
//! keep it stopped; an event that still cannot be applied stops it again. A runner task that ends
//! (a panic, the log closed) says so in [`Runner::health`].

use crate::health::{self, ProjectionHealth, Tracker};
use crate::store::{Engine, ReadStore};
use async_trait::async_trait;
use hotline_commands::store::{EventStore, Metadata, RecordedEvent, StoreError, StreamId};
use hotline_domain::DecodeError;
use serde_json::Value;
use sqlx::{AnyConnection, Connection, Row};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch};

/// Events read per batch.
pub const BATCH: u32 = 500;

/// Events read per page during a rebuild, applied to each projection as one batch.
pub const REBUILD_PAGE: u32 = 5_000;

/// The first wait before a batch that failed with a transient error is retried; it doubles on
/// each further failure up to [`RETRY_CAP`].
pub const RETRY_FIRST: Duration = Duration::from_millis(100);

/// The longest wait between retries of a batch, so that a projection catches up within this
/// long of the database returning.
pub const RETRY_CAP: Duration = Duration::from_secs(5);

/// How often a stopped projection's runner looks whether a rebuild (from any process) cleared it.
pub const STOPPED_RECHECK: Duration = Duration::from_secs(10);

/// A read model built from the log.
#[async_trait]
pub trait Projection: Send + Sync + 'static {
    /// Stable snake_case id; renaming it means a new projection and a rebuild.
    fn id(&self) -> &'static str;

    /// The tables it owns (and a rebuild empties).
    fn tables(&self) -> &'static [&'static str];

    /// Applies one event inside the batch's transaction. Events of other categories are skipped
    /// by returning `Ok(())`.
    async fn apply(&self, conn: &mut AnyConnection, event: &RecordedEvent) -> Result<(), ProjectionError>;

    /// Applies consecutive events, in order, inside the batch's transaction. The read model must
    /// end up exactly as if each event had gone through [`Projection::apply`]; a projection that
    /// folds the batch in memory and writes it with few statements overrides this (the default
    /// applies them one by one).
    ///
    /// The runner calls it inside a savepoint. An error that names its event
    /// ([`ProjectionError::AtPosition`], as the default returns) stops the projection at that
    /// event. Any other error that is not transient makes the runner roll the savepoint back and
    /// apply the same events one by one with [`Projection::apply`], which finds (and records) the
    /// exact event that fails: an implementation may therefore fail the whole batch for an event
    /// that `apply` would refuse, but must not succeed where `apply` fails.
    async fn apply_batch(&self, conn: &mut AnyConnection, events: &[&RecordedEvent]) -> Result<(), ProjectionError> {
        for event in events {
            self.apply(conn, event).await.map_err(|error| ProjectionError::AtPosition {
                position: event.global_position,
                source: Box::new(error),
            })?;
        }
        Ok(())
    }
}

/// Why a projection could not apply an event.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// The event does not decode.
    #[error("cannot decode {event_type}: {source}")]
    Decode {
        /// Stored type.
        event_type: String,
        /// What the codec refused.
        source: DecodeError,
    },
    /// The read-model database failed.
    #[error("read-model database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The log failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The projection stopped earlier at this position and must be fixed and rebuilt.
    #[error("projection {projection} is stopped at position {position}: {error}")]
    Stopped {
        /// The projection's stable id (e.g. `tickets`).
        projection: String,
        /// Where it failed.
        position: u64,
        /// What it said.
        error: String,
    },
    /// [`Projection::apply_batch`] failed on the event at `position` of its batch.
    #[error("at position {position}: {source}")]
    AtPosition {
        /// The event that failed.
        position: u64,
        /// What applying it said.
        source: Box<ProjectionError>,
    },
    /// Applying the event at `position` failed.
    #[error("projection {projection} failed at position {position}: {error}")]
    Failed {
        /// The projection's stable id (e.g. `tickets`).
        projection: String,
        /// The event that failed.
        position: u64,
        /// The error that stopped it, as text (stored in its checkpoint row).
        error: String,
    },
}

/// What replaces a NUL character on the read side.
pub const NUL_REPLACEMENT: char = '\u{FFFD}';

/// The event as the read models can store it: each NUL character in its payload, metadata and
/// stream name replaced by [`NUL_REPLACEMENT`]. Borrowed (no copy) when there is none, which is
/// every event accepted since the domain refuses control characters.
pub fn storable(event: &RecordedEvent) -> Cow<'_, RecordedEvent> {
    fn has_nul(value: &Value) -> bool {
        match value {
            Value::String(s) => s.contains('\0'),
            Value::Array(items) => items.iter().any(has_nul),
            Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
            _ => false,
        }
    }
    fn replace(value: &Value) -> Value {
        let clean = |s: &str| s.replace('\0', &NUL_REPLACEMENT.to_string());
        match value {
            Value::String(s) => Value::String(clean(s)),
            Value::Array(items) => Value::Array(items.iter().map(replace).collect()),
            Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (clean(k), replace(v))).collect()),
            other => other.clone(),
        }
    }
    let stream_has_nul = event.stream_id.as_str().contains('\0');
    if !stream_has_nul && !has_nul(&event.payload) && !has_nul(&event.metadata) {
        return Cow::Borrowed(event);
    }
    let stream_id = if stream_has_nul {
        let name = event.stream_id.as_str().replace('\0', &NUL_REPLACEMENT.to_string());
        StreamId::parse(&name).unwrap_or_else(|_| event.stream_id.clone())
    } else {
        event.stream_id.clone()
    };
    Cow::Owned(RecordedEvent {
        stream_id,
        payload: replace(&event.payload),
        metadata: replace(&event.metadata),
        ..event.clone()
    })
}

impl ProjectionError {
    /// Whether the error says nothing about the event and may pass by itself (the database
    /// unreachable, busy or full): the batch is retried rather than the projection stopped.
    pub fn is_transient(&self) -> bool {
        match self {
            ProjectionError::Database(error) | ProjectionError::Store(StoreError::Database(error)) => {
                health::is_transient(error)
            }
            ProjectionError::AtPosition { source, .. } => source.is_transient(),
            _ => false,
        }
    }
}

/// Metadata of a recorded event, or a decode error naming it.
pub fn metadata(event: &RecordedEvent) -> Result<Metadata, ProjectionError> {
    Ok(event.meta()?)
}

/// Where a projection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Projection id.
    pub projection: String,
    /// Last position applied.
    pub position: u64,
    /// `running` or `failed`.
    pub status: String,
    /// The event it failed on.
    pub failed_position: Option<u64>,
    /// What went wrong.
    pub error: Option<String>,
}

/// A batch a projection committed: the live feed for subscriptions.
#[derive(Debug, Clone)]
pub struct Committed {
    /// Which projection.
    pub projection: &'static str,
    /// The events it applied, in order.
    pub events: Arc<Vec<RecordedEvent>>,
    /// Committed by another node (learnt from its change notice), not by this runner.
    pub remote: bool,
}

/// What a rebuild did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RebuildReport {
    /// Events replayed.
    pub events: u64,
    /// Events per second.
    pub rate: f64,
}

/// Runs projections over the log.
pub struct Runner {
    log: Arc<dyn EventStore>,
    read: ReadStore,
    projections: Vec<Arc<dyn Projection>>,
    positions: watch::Sender<BTreeMap<&'static str, u64>>,
    committed: broadcast::Sender<Committed>,
    tracker: Tracker,
}

impl Runner {
    /// A runner for these projections.
    pub fn new(log: Arc<dyn EventStore>, read: ReadStore, projections: Vec<Arc<dyn Projection>>) -> Runner {
        let tracker = Tracker::new(projections.iter().map(|p| p.id()));
        Runner {
            log,
            read,
            projections,
            positions: watch::channel(BTreeMap::new()).0,
            committed: broadcast::channel(1024).0,
            tracker,
        }
    }

    /// The projections run.
    pub fn projections(&self) -> &[Arc<dyn Projection>] {
        &self.projections
    }

    /// The read store.
    pub fn read_store(&self) -> &ReadStore {
        &self.read
    }

    /// Batches as they commit (the in-process live bus).
    pub fn subscribe(&self) -> broadcast::Receiver<Committed> {
        self.committed.subscribe()
    }

    /// Announces a batch another node committed, to this node's subscribers.
    pub fn announce_remote(&self, projection: &str, events: Vec<RecordedEvent>) {
        if let Some(known) = self.projections.iter().find(|p| p.id() == projection) {
            let _ = self.committed.send(Committed { projection: known.id(), events: Arc::new(events), remote: true });
        }
    }

    fn lock_checkpoint_sql(&self) -> &'static str {
        match self.read.engine {
            Engine::Postgres => {
                "SELECT position, status, failed_position, error FROM rm_checkpoints WHERE projection = $1 FOR UPDATE"
            }
            Engine::Sqlite => {
                "SELECT position, status, failed_position, error FROM rm_checkpoints WHERE projection = $1"
            }
        }
    }

    /// Locks the projection's checkpoint row (created if missing) in the transaction on `conn`.
    async fn lock_row(&self, conn: &mut AnyConnection, projection: &str) -> Result<sqlx::any::AnyRow, ProjectionError> {
        sqlx::query("INSERT INTO rm_checkpoints (projection, position, status) VALUES ($1, 0, 'running') ON CONFLICT (projection) DO NOTHING")
            .bind(projection)
            .execute(&mut *conn)
            .await?;
        Ok(sqlx::query(self.lock_checkpoint_sql()).bind(projection).fetch_one(&mut *conn).await?)
    }

    /// Opens the batch transaction and locks the projection's checkpoint; returns its position,
    /// or `Stopped` for a projection that failed.
    async fn lock<'c>(
        &self,
        conn: &'c mut AnyConnection,
        projection: &'static str,
    ) -> Result<(sqlx::Transaction<'c, sqlx::Any>, u64), ProjectionError> {
        let mut tx = sqlx::Connection::begin(conn).await?;
        let row = self.lock_row(&mut tx, projection).await?;
        let position = row.try_get::<i64, _>(0)? as u64;
        if row.try_get::<String, _>(1)? == "failed" {
            let failed_position = row.try_get::<Option<i64>, _>(2)?.unwrap_or_default() as u64;
            let error = row.try_get::<Option<String>, _>(3)?.unwrap_or_default();
            self.tracker.failed(projection, position, failed_position, error.clone());
            return Err(ProjectionError::Stopped {
                projection: projection.to_owned(),
                position: failed_position,
                error,
            });
        }
        Ok((tx, position))
    }

    /// The highest log position this process knows of, without asking the database.
    pub fn known_head(&self) -> u64 {
        *self.log.watch_head().borrow()
    }

    fn publish(&self, projection: &'static str, position: u64) {
        // Health first: whoever waits for the position then sees the health that goes with it.
        self.tracker.advanced(projection, position, self.known_head());
        self.positions.send_modify(|positions| {
            positions.insert(projection, position);
        });
    }

    /// What each projection's runner is doing, from memory: answers at once whatever the
    /// database does.
    pub fn health(&self) -> Vec<ProjectionHealth> {
        let mut health = self.tracker.health(self.known_head());
        // In the order the projections run, like every other listing of them.
        health.sort_by_key(|h| self.projections.iter().position(|p| p.id() == h.projection));
        health
    }

    /// Clears a stopped projection's failure so that its next batch tries the event again
    /// (once per start of a live runner; see the module docs).
    async fn retry_stopped(&self, projection: &'static str) -> Result<(), ProjectionError> {
        let cleared = sqlx::query(
            "UPDATE rm_checkpoints SET status = 'running', failed_position = NULL, error = NULL \
             WHERE projection = $1 AND status = 'failed'",
        )
        .bind(projection)
        .execute(&self.read.writer)
        .await?;
        if cleared.rows_affected() > 0 {
            tracing::warn!(projection, "retrying a stopped projection once at start");
        }
        Ok(())
    }

    /// Applies the next batch; returns how many events it applied (0: caught up).
    pub async fn step(&self, projection: &Arc<dyn Projection>) -> Result<usize, ProjectionError> {
        let mut conn = self.read.writer.acquire().await?;
        let stepped = self.step_on(&mut conn, projection).await;
        if stepped.as_ref().is_err_and(ProjectionError::is_transient) {
            // A COMMIT that failed (a full disk, a lost connection) may or may not have ended the
            // transaction on the server, whatever the driver believes: a connection left inside
            // one would make every later batch a savepoint of it, applied and published here but
            // never committed for readers. Never hand such a connection back to the pool.
            let _ = conn.close().await;
        }
        stepped
    }

    async fn step_on(
        &self,
        conn: &mut AnyConnection,
        projection: &Arc<dyn Projection>,
    ) -> Result<usize, ProjectionError> {
        let id = projection.id();
        let (mut tx, position) = self.lock(conn, id).await?;
        let events = self.log.read_all(position, BATCH).await?;
        let Some(last) = events.last().map(|e| e.global_position) else {
            tx.commit().await?;
            self.publish(id, position);
            return Ok(0);
        };
        let clean: Vec<Cow<'_, RecordedEvent>> = events.iter().map(storable).collect();
        let batch: Vec<&RecordedEvent> = clean.iter().map(AsRef::as_ref).collect();
        match apply_events(projection.as_ref(), &mut tx, &batch).await {
            Ok(()) => {}
            // The database went away or filled up mid-batch: nothing is wrong with the events.
            Err(BatchFailure::Batch(error)) => {
                let _ = tx.rollback().await;
                return Err(error);
            }
            Err(BatchFailure::At { position: failed, error }) => {
                // Rolled back here, on this connection: the failure is recorded on it next, and
                // the checkpoint row it locked must be free by then.
                let _ = tx.rollback().await;
                let failure =
                    ProjectionError::Failed { projection: id.to_owned(), position: failed, error: error.to_string() };
                self.record_failure(conn, id, failed, &error.to_string()).await?;
                self.tracker.failed(id, position, failed, error.to_string());
                return Err(failure);
            }
        }
        sqlx::query("UPDATE rm_checkpoints SET position = $1 WHERE projection = $2")
            .bind(last as i64)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.publish(id, last);
        let count = events.len();
        let _ = self.committed.send(Committed { projection: id, events: Arc::new(events), remote: false });
        Ok(count)
    }

    async fn record_failure(
        &self,
        conn: &mut AnyConnection,
        projection: &str,
        position: u64,
        error: &str,
    ) -> Result<(), ProjectionError> {
        tracing::error!(projection, position, error, "projection stopped");
        // An upsert: the checkpoint row may have been created by the very batch that was rolled back.
        sqlx::query(
            "INSERT INTO rm_checkpoints (projection, position, status, failed_position, error) VALUES ($1, 0, 'failed', $2, $3) \
             ON CONFLICT (projection) DO UPDATE SET status = 'failed', failed_position = $2, error = $3",
        )
        .bind(projection)
        .bind(position as i64)
        .bind(error)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Applies batches until the projection has seen the whole log.
    pub async fn catch_up(&self, projection: &Arc<dyn Projection>) -> Result<(), ProjectionError> {
        while self.step(projection).await? > 0 {}
        Ok(())
    }

    /// Catches every projection up once; the first error is returned after all have run.
    pub async fn catch_up_all(&self) -> Result<(), ProjectionError> {
        let mut first_error = None;
        for projection in &self.projections {
            if let Err(error) = self.catch_up(projection).await {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Runs every projection live until the log's sender is gone: catch up, then wait for the
    /// next commit notification. A transient error is retried with capped back-off; a failed
    /// projection stops (its runner looks every [`STOPPED_RECHECK`] whether a rebuild cleared
    /// it); the others go on.
    pub fn spawn(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        self.projections
            .iter()
            .map(|projection| {
                let runner = Arc::clone(self);
                let projection = Arc::clone(projection);
                tokio::spawn(async move {
                    let id = projection.id();
                    let mut ended = EndedGuard { runner: Arc::clone(&runner), projection: id, returned: false };
                    let mut head = runner.log.watch_head();
                    let mut backoff = RETRY_FIRST;
                    let mut retry_stopped = true;
                    loop {
                        let known = *head.borrow_and_update();
                        runner.tracker.saw_head(id, known);
                        let attempt = async {
                            if retry_stopped {
                                runner.retry_stopped(id).await?;
                            }
                            runner.step(&projection).await
                        };
                        match attempt.await {
                            Ok(applied) => {
                                retry_stopped = false;
                                backoff = RETRY_FIRST;
                                if applied == 0 && head.changed().await.is_err() {
                                    ended.returned = true;
                                    return;
                                }
                            }
                            Err(error) if error.is_transient() => {
                                runner.tracker.retrying(id, error.to_string());
                                tracing::warn!(projection = id, %error, retry_in = ?backoff, "projection batch failed; retrying");
                                tokio::time::sleep(backoff).await;
                                backoff = (backoff * 2).min(RETRY_CAP);
                            }
                            Err(error) => {
                                retry_stopped = false;
                                if !matches!(error, ProjectionError::Failed { .. } | ProjectionError::Stopped { .. }) {
                                    // Not an event it could not apply (that was recorded): the
                                    // log itself, say, could not be read. Shown, and tried again.
                                    tracing::error!(projection = id, %error, "projection runner stopped");
                                    let position = runner.positions.borrow().get(id).copied().unwrap_or(0);
                                    runner.tracker.failed(id, position, position + 1, error.to_string());
                                }
                                tokio::time::sleep(STOPPED_RECHECK).await;
                            }
                        }
                    }
                })
            })
            .collect()
    }

    /// Waits until every projection has applied the log up to `position` (read-your-writes).
    pub async fn wait_for(&self, position: u64, timeout: Duration) -> Result<(), WaitError> {
        let mut positions = self.positions.subscribe();
        let ids: Vec<&'static str> = self.projections.iter().map(|p| p.id()).collect();
        let reached = |positions: &BTreeMap<&'static str, u64>| {
            ids.iter().all(|id| positions.get(id).is_some_and(|p| *p >= position))
        };
        let outcome =
            tokio::time::timeout(timeout, async { positions.wait_for(|p| reached(p)).await.map(|_| ()) }).await;
        match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(WaitError::Stopped),
            Err(_) => {
                let behind = self.positions.borrow().values().copied().min().unwrap_or(0);
                Err(WaitError::Timeout { position, reached: behind })
            }
        }
    }

    /// Every projection's checkpoint.
    pub async fn checkpoints(&self) -> Result<Vec<Checkpoint>, ProjectionError> {
        let rows = sqlx::query(
            "SELECT projection, position, status, failed_position, error FROM rm_checkpoints ORDER BY projection",
        )
        .fetch_all(&self.read.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Checkpoint {
                    projection: row.try_get(0)?,
                    position: row.try_get::<i64, _>(1)? as u64,
                    status: row.try_get(2)?,
                    failed_position: row.try_get::<Option<i64>, _>(3)?.map(|p| p as u64),
                    error: row.try_get(4)?,
                })
            })
            .collect()
    }

    /// Rebuilds a projection from position 0 in one transaction: its tables are emptied and
    /// refilled, and readers see the old rows until the new ones commit, all at once. Clears a
    /// failed status. `progress` is called with the number of events replayed so far.
    pub async fn rebuild(
        &self,
        projection: &Arc<dyn Projection>,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<RebuildReport, ProjectionError> {
        self.rebuild_all(std::slice::from_ref(projection), progress).await
    }

    /// Rebuilds these projections from position 0 in one transaction, reading the log once for
    /// all of them: their tables are emptied and refilled, and readers see the old rows until the
    /// new ones commit, all at once. Each page of [`REBUILD_PAGE`] events goes to each projection
    /// as one batch ([`Projection::apply_batch`]) while the next page is read. Clears failed
    /// statuses. `progress` is called with the number of events replayed so far.
    pub async fn rebuild_all(
        &self,
        projections: &[Arc<dyn Projection>],
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<RebuildReport, ProjectionError> {
        let started = Instant::now();
        let mut tx = self.read.writer.begin().await?;
        for projection in projections {
            self.lock_row(&mut tx, projection.id()).await?;
            for table in projection.tables() {
                // Table names come from the projection's own constant list, never from input.
                sqlx::query(&format!("DELETE FROM {table}")).execute(&mut *tx).await?;
            }
        }
        // The log is read by its own task, one page ahead, so that reading and applying overlap.
        let (pages_sender, mut pages) = tokio::sync::mpsc::channel(2);
        let log = Arc::clone(&self.log);
        let _reader = AbortOnDrop(tokio::spawn(async move {
            let mut after = 0;
            loop {
                match log.read_all(after, REBUILD_PAGE).await {
                    Ok(page) => {
                        let Some(last) = page.last().map(|e| e.global_position) else { return };
                        after = last;
                        if pages_sender.send(Ok(page)).await.is_err() {
                            return;
                        }
                    }
                    Err(error) => {
                        let _ = pages_sender.send(Err(error)).await;
                        return;
                    }
                }
            }
        }));
        let mut position = 0;
        let mut replayed = 0;
        while let Some(page) = pages.recv().await {
            let events = page?;
            let clean: Vec<Cow<'_, RecordedEvent>> = events.iter().map(storable).collect();
            let batch: Vec<&RecordedEvent> = clean.iter().map(AsRef::as_ref).collect();
            for projection in projections {
                apply_events(projection.as_ref(), &mut tx, &batch).await.map_err(|failure| match failure {
                    BatchFailure::Batch(error) => error,
                    BatchFailure::At { position, error } => ProjectionError::Failed {
                        projection: projection.id().to_owned(),
                        position,
                        error: error.to_string(),
                    },
                })?;
            }
            position = events.last().map_or(position, |e| e.global_position);
            replayed += events.len() as u64;
            progress(replayed);
        }
        for projection in projections {
            sqlx::query("UPDATE rm_checkpoints SET position = $1, status = 'running', failed_position = NULL, error = NULL WHERE projection = $2")
                .bind(position as i64)
                .bind(projection.id())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        for projection in projections {
            self.publish(projection.id(), position);
        }
        Ok(RebuildReport { events: replayed, rate: replayed as f64 / started.elapsed().as_secs_f64().max(1e-9) })
    }
}

/// Why [`apply_events`] did not apply a batch.
enum BatchFailure {
    /// Not the events' fault (transient, or the savepoint itself failed): retry the batch.
    Batch(ProjectionError),
    /// The event at `position` cannot be applied.
    At {
        /// Where.
        position: u64,
        /// What applying it said.
        error: ProjectionError,
    },
}

/// Applies `events` (already [`storable`]) with [`Projection::apply_batch`] inside a savepoint;
/// when that fails with an error that is not transient and does not name its event, rolls the
/// savepoint back and applies them one by one, so that the exact event that fails is found.
/// Either way each event is applied once, or the caller's transaction is abandoned.
async fn apply_events(
    projection: &dyn Projection,
    conn: &mut AnyConnection,
    events: &[&RecordedEvent],
) -> Result<(), BatchFailure> {
    let database = |error: sqlx::Error| BatchFailure::Batch(ProjectionError::Database(error));
    let mut savepoint = conn.begin().await.map_err(database)?;
    match projection.apply_batch(&mut savepoint, events).await {
        Ok(()) => return savepoint.commit().await.map_err(database),
        Err(error) if error.is_transient() => return Err(BatchFailure::Batch(error)),
        Err(ProjectionError::AtPosition { position, source }) => {
            return Err(BatchFailure::At { position, error: *source });
        }
        Err(error) => {
            tracing::debug!(projection = projection.id(), %error, "batch failed; applying its events one by one");
            savepoint.rollback().await.map_err(database)?;
        }
    }
    for event in events {
        if let Err(error) = projection.apply(conn, event).await {
            if error.is_transient() {
                return Err(BatchFailure::Batch(error));
            }
            return Err(BatchFailure::At { position: event.global_position, error });
        }
    }
    Ok(())
}

/// Aborts a task when dropped: the rebuild's log reader ends with the rebuild, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Marks a projection's runner as ended when its task ends for any reason (returns, panics or is
/// aborted), so that health never shows a runner that is gone as running. A panic or the log
/// closing under it is an error; a task aborted by its owner (`serve` shutting down, a bench or
/// test dropping its runner) is not, and is logged at `info`.
struct EndedGuard {
    runner: Arc<Runner>,
    projection: &'static str,
    /// The loop returned: the log's commit notifications closed.
    returned: bool,
}

impl Drop for EndedGuard {
    fn drop(&mut self) {
        let why = if std::thread::panicking() {
            "its runner task panicked"
        } else if self.returned {
            "its runner task ended: the log closed"
        } else {
            tracing::info!(projection = self.projection, "projection runner stopped");
            self.runner.tracker.ended(self.projection, "its runner task was stopped".to_owned());
            return;
        };
        tracing::error!(projection = self.projection, why, "projection runner ended");
        self.runner.tracker.ended(self.projection, why.to_owned());
    }
}

/// Why a read-your-writes wait ended without the position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    /// The read models did not reach the position in time.
    #[error("read models reached position {reached}, not {position}, in time")]
    Timeout {
        /// Asked for.
        position: u64,
        /// The slowest projection's position.
        reached: u64,
    },
    /// The runner is gone.
    #[error("the projection runner has stopped")]
    Stopped,
}
