//! What `serve` says about itself: `/healthz` (liveness), `/readyz` (readiness) and the health
//! figures of `/metrics`, and what stands behind them — a probe of the database every second and
//! a record of the log's appends (the log wrapped in [`ObservedStore`]).
//!
//! `/healthz` and `/metrics` read memory only (the runner's [`Runner::health`], the last probe,
//! the last append), so they answer at once whatever the database does. `/readyz` also probes the
//! database itself, for at most [`PROBE_TIMEOUT`]. The rules, in [`Health::reasons`]: the
//! service is not ready while
//! - the database does not answer a probe (the log's head and `SELECT 1` on the read models)
//!   within [`PROBE_TIMEOUT`];
//! - the last append failed less than [`APPEND_FAILURE_WINDOW`] ago and none succeeded since
//!   (a full disk, a read-only database);
//! - a projection has failed, or its runner ended;
//! - a projection has been retrying for longer than [`RETRYING_GRACE`], or is stalled;
//! - a projection is more than [`MAX_LAG_EVENTS`] events behind the head, or has been behind for
//!   longer than [`MAX_LAG`].
//!
//! `/healthz` answers 200 with the same reasons under `status: degraded`, and 503 only when a
//! projection's runner ended: that is what restarting the process mends.

use async_trait::async_trait;
use axum::http::StatusCode;
use hotline_commands::store::{
    AppendError, AppendOutcome, AppendRequest, CommandRecord, EventStore, RecordedCommand, RecordedEvent, StoreError,
    StoredEvent, StoredPayload, StreamId,
};
use hotline_projections::health::{fault_kind, ProjectionStatus};
use hotline_projections::runner::Runner;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use uuid::Uuid;

/// The longest a database probe may take before the database counts as unreachable.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the background probe runs.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);
/// How long a failed append (with none succeeding after it) keeps the service unready.
pub const APPEND_FAILURE_WINDOW: Duration = Duration::from_secs(30);
/// How long a projection may retry a transient error before the service is unready.
pub const RETRYING_GRACE: Duration = Duration::from_secs(10);
/// How many events a projection may be behind the head while the service is ready.
pub const MAX_LAG_EVENTS: u64 = 1_000;
/// How long a projection may have been behind the head while the service is ready.
pub const MAX_LAG: Duration = Duration::from_secs(10);

/// The outcome of the last appends: whether the log accepts writes.
#[derive(Debug, Default)]
pub struct Appends {
    state: Mutex<AppendState>,
}

#[derive(Debug, Default, Clone)]
struct AppendState {
    last_failure: Option<(Instant, String)>,
    last_success: Option<Instant>,
}

impl Appends {
    fn record(&self, outcome: &Result<AppendOutcome, AppendError>) {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match outcome {
            // A conflict or a reused command id was decided by the database: it works.
            Ok(_) | Err(AppendError::Conflict { .. } | AppendError::CommandIdReused { .. }) => {
                state.last_success = Some(Instant::now())
            }
            Err(AppendError::Store(error)) => state.last_failure = Some((Instant::now(), error.to_string())),
        }
    }

    /// The error of the last append when it failed within [`APPEND_FAILURE_WINDOW`] and nothing
    /// was appended since, with how long ago.
    fn failing(&self) -> Option<(String, Duration)> {
        let state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
        let (at, error) = state.last_failure?;
        let recovered = state.last_success.is_some_and(|success| success > at);
        (!recovered && at.elapsed() < APPEND_FAILURE_WINDOW).then(|| (error, at.elapsed()))
    }
}

/// The log, with every append's outcome recorded in [`Appends`] for health checks.
pub struct ObservedStore {
    inner: Arc<dyn EventStore>,
    appends: Arc<Appends>,
}

impl ObservedStore {
    /// Wraps `inner`; its appends are recorded in the returned [`Appends`].
    pub fn new(inner: Arc<dyn EventStore>) -> (ObservedStore, Arc<Appends>) {
        let appends = Arc::new(Appends::default());
        (ObservedStore { inner, appends: Arc::clone(&appends) }, appends)
    }
}

#[async_trait]
impl EventStore for ObservedStore {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, AppendError> {
        let outcome = self.inner.append(request).await;
        self.appends.record(&outcome);
        outcome
    }
    async fn recorded_command(&self, command_id: Uuid) -> Result<Option<RecordedCommand>, StoreError> {
        self.inner.recorded_command(command_id).await
    }
    async fn read_commands(&self, after: Option<Uuid>, limit: u32) -> Result<Vec<CommandRecord>, StoreError> {
        self.inner.read_commands(after, limit).await
    }
    async fn read_stream(&self, stream: &StreamId, from_version: u64) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_stream(stream, from_version).await
    }
    async fn read_stream_payloads(
        &self,
        stream: &StreamId,
        from_version: u64,
    ) -> Result<Vec<StoredPayload>, StoreError> {
        self.inner.read_stream_payloads(stream, from_version).await
    }
    async fn read_event(&self, stream: &StreamId, version: u64) -> Result<Option<RecordedEvent>, StoreError> {
        self.inner.read_event(stream, version).await
    }
    async fn read_all(&self, after: u64, limit: u32) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(after, limit).await
    }
    async fn read_all_stored(&self, after: u64, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        self.inner.read_all_stored(after, limit).await
    }
    async fn head(&self) -> Result<u64, StoreError> {
        self.inner.head().await
    }
    fn watch_head(&self) -> watch::Receiver<u64> {
        self.inner.watch_head()
    }
}

/// What a database probe found.
#[derive(Debug, Clone)]
struct Probe {
    /// `None`: it answered; else what went wrong.
    error: Option<String>,
    /// When the database last changed between answering and not.
    since: Instant,
    /// When this probe ran.
    at: Instant,
}

/// The service's health: the runner's, the database's and the appends'.
pub struct Health {
    store: Arc<dyn EventStore>,
    runner: Arc<Runner>,
    appends: Arc<Appends>,
    backend: String,
    probe: Mutex<Probe>,
}

impl Health {
    /// Health over this log, runner and record of appends (`backend` names the log's engine).
    pub fn new(store: Arc<dyn EventStore>, runner: Arc<Runner>, appends: Arc<Appends>, backend: String) -> Health {
        let now = Instant::now();
        let probe = Mutex::new(Probe { error: None, since: now, at: now });
        Health { store, runner, appends, backend, probe }
    }

    /// Probes the database every [`PROBE_EVERY`], for `/healthz` and `/metrics`.
    pub async fn probe_forever(self: Arc<Self>) {
        loop {
            self.probe_now().await;
            tokio::time::sleep(PROBE_EVERY).await;
        }
    }

    /// Asks the log for its head and the read models for `SELECT 1`, each within
    /// [`PROBE_TIMEOUT`]; records and returns the error, if any.
    async fn probe_now(&self) -> Option<String> {
        let log = async {
            match tokio::time::timeout(PROBE_TIMEOUT, self.store.head()).await {
                Ok(Ok(_)) => None,
                Ok(Err(error)) => Some(format!("log: {error}")),
                Err(_) => Some(format!("log: no answer within {} ms", PROBE_TIMEOUT.as_millis())),
            }
        };
        let read_models = async {
            let select = sqlx::query("SELECT 1").execute(self.runner.read_store().reader());
            match tokio::time::timeout(PROBE_TIMEOUT, select).await {
                Ok(Ok(_)) => None,
                Ok(Err(error)) => Some(format!("read models: {error}")),
                Err(_) => Some(format!("read models: no answer within {} ms", PROBE_TIMEOUT.as_millis())),
            }
        };
        let (log, read_models) = tokio::join!(log, read_models);
        let error = match (log, read_models) {
            (None, None) => None,
            (log, read_models) => Some(log.into_iter().chain(read_models).collect::<Vec<_>>().join("; ")),
        };
        let mut probe = self.probe.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        if probe.error.is_some() != error.is_some() {
            if let Some(error) = &error {
                tracing::error!(%error, "the database is unreachable");
            } else {
                tracing::warn!("the database answers again");
            }
            probe.since = now;
        }
        probe.error = error.clone();
        probe.at = now;
        error
    }

    fn last_probe(&self) -> Probe {
        self.probe.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Why the service is not ready (empty: ready), given the database probe's error.
    pub fn reasons(&self, database_error: Option<&str>) -> Vec<String> {
        let mut reasons = Vec::new();
        if let Some(error) = database_error {
            reasons.push(format!("database unreachable: {error}"));
        }
        if let Some((error, _)) = self.appends.failing() {
            reasons.push(format!("appends failing ({}): {error}", fault_kind(&error)));
        }
        for projection in self.runner.health() {
            let id = projection.projection;
            match projection.status {
                ProjectionStatus::Failed | ProjectionStatus::Ended | ProjectionStatus::Stalled => {
                    reasons.push(format!("projection {id} {}", projection.status.as_str()));
                }
                ProjectionStatus::Retrying if projection.for_how_long > RETRYING_GRACE => {
                    let seconds = projection.for_how_long.as_secs();
                    reasons.push(format!("projection {id} retrying for {seconds} s"));
                }
                _ => {}
            }
            if projection.lag_events > MAX_LAG_EVENTS || projection.lag > MAX_LAG {
                let (events, seconds) = (projection.lag_events, projection.lag.as_secs());
                reasons.push(format!("projection {id} {events} events behind, for {seconds} s"));
            }
        }
        reasons
    }

    /// `/healthz`: liveness, from memory only.
    pub fn liveness(&self) -> (StatusCode, Value) {
        let probe = self.last_probe();
        let reasons = self.reasons(probe.error.as_deref());
        let projections = self.runner.health();
        let ended = projections.iter().any(|p| p.status == ProjectionStatus::Ended);
        let status = match (ended, reasons.is_empty()) {
            (true, _) => "ended",
            (false, true) => "ok",
            (false, false) => "degraded",
        };
        let appends = match self.appends.failing() {
            Some((error, ago)) => json!({
                "failing": true, "kind": fault_kind(&error), "error": error, "seconds_ago": ago.as_secs(),
            }),
            None => json!({ "failing": false }),
        };
        let projections: serde_json::Map<String, Value> = projections
            .iter()
            .map(|p| {
                let entry = json!({
                    "position": p.position,
                    "status": p.status.as_str(),
                    "error": p.error,
                    "failed_position": p.failed_position,
                    "lag_events": p.lag_events,
                    "lag_seconds": p.lag.as_secs_f64(),
                    "retries": p.retries,
                    "status_seconds": p.for_how_long.as_secs(),
                });
                (p.projection.to_owned(), entry)
            })
            .collect();
        let body = json!({
            "status": status,
            "reasons": reasons,
            "backend": self.backend,
            "head": self.runner.known_head(),
            "database": {
                "up": probe.error.is_none(),
                "error": probe.error.as_deref().map(|e| json!({ "kind": fault_kind(e), "message": e })),
                "for_seconds": probe.since.elapsed().as_secs(),
                "checked_seconds_ago": probe.at.elapsed().as_secs(),
            },
            "appends": appends,
            "projections": projections,
        });
        let code = if ended { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
        (code, body)
    }

    /// `/readyz`: readiness, with a fresh probe of the database (at most [`PROBE_TIMEOUT`]).
    pub async fn readiness(&self) -> (StatusCode, Value) {
        let error = self.probe_now().await;
        let reasons = self.reasons(error.as_deref());
        let code = if reasons.is_empty() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
        (code, json!({ "ready": reasons.is_empty(), "reasons": reasons }))
    }

    /// The health figures for `/metrics`, from memory only.
    pub fn collectors(&self) -> Result<Vec<Box<dyn prometheus::core::Collector>>, prometheus::Error> {
        let gauge = |name: &str, help: &str| prometheus::IntGauge::new(name, help);
        let labelled =
            |name: &str, help: &str| prometheus::IntGaugeVec::new(prometheus::Opts::new(name, help), &["projection"]);
        let head = self.runner.known_head();
        let head_gauge = gauge("hotline_log_head", "Highest committed log position")?;
        head_gauge.set(head as i64);
        let database_up = gauge("hotline_database_up", "1 when the database answered the last probe (every second)")?;
        database_up.set(i64::from(self.last_probe().error.is_none()));
        let appends_failing =
            gauge("hotline_log_appends_failing", "1 while appends fail (the last failed, none succeeded since)")?;
        appends_failing.set(i64::from(self.appends.failing().is_some()));
        let position = labelled("hotline_projection_position", "Last log position a projection applied")?;
        let lag = labelled("hotline_projection_lag", "Events a projection is behind the log head")?;
        let lag_seconds = prometheus::GaugeVec::new(
            prometheus::Opts::new("hotline_projection_lag_seconds", "How long a projection has been behind the head"),
            &["projection"],
        )?;
        let failed =
            labelled("hotline_projection_failed", "1 when a projection stopped on an error or its runner ended")?;
        let retries = labelled("hotline_projection_retries", "Failed attempts at a projection's current batch")?;
        let status = prometheus::IntGaugeVec::new(
            prometheus::Opts::new("hotline_projection_status", "1 for a projection's current status, 0 for the others"),
            &["projection", "status"],
        )?;
        for projection in self.runner.health() {
            let id = [projection.projection];
            position.with_label_values(&id).set(projection.position as i64);
            lag.with_label_values(&id).set(projection.lag_events as i64);
            lag_seconds.with_label_values(&id).set(projection.lag.as_secs_f64());
            let stopped = matches!(projection.status, ProjectionStatus::Failed | ProjectionStatus::Ended);
            failed.with_label_values(&id).set(i64::from(stopped));
            retries.with_label_values(&id).set(i64::from(projection.retries));
            for each in ProjectionStatus::ALL {
                let value = i64::from(each == projection.status);
                status.with_label_values(&[projection.projection, each.as_str()]).set(value);
            }
        }
        Ok(vec![
            Box::new(head_gauge),
            Box::new(database_up),
            Box::new(appends_failing),
            Box::new(position),
            Box::new(lag),
            Box::new(lag_seconds),
            Box::new(failed),
            Box::new(retries),
            Box::new(status),
        ])
    }
}
