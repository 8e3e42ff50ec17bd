//! `hotline serve`: the HTTP service.
//!
//! Runs every projection live (catch up, then follow the log's commit notifications) and the
//! process managers (and, with `HOTLINE_NATS_URL`, the JetStream publisher), and serves the
//! GraphQL API (`POST /graphql`, GraphiQL on `GET /graphql`, `/graphql/ws`), `GET /healthz`
//! (liveness: the log's head, the database, the appends and each projection's state, from memory),
//! `GET /readyz` (readiness for a load balancer) and `GET /metrics` ([`crate::health`] has the
//! rules). `/graphql/ws` refuses a socket
//! without a valid token, ends its operations when the token expires and caps them per connection
//! and per user (`hotline_graphql::websocket`); introspection is for authenticated callers, or off. With `--hep-listen` (or
//! `--sip-listen`) it also runs the SIP adapter: mirrored signalling in, call and phone events out
//! (`GET /telephony/rejected` shows admins the datagrams it could not read; `/metrics` counts them).

use crate::health::{Appends, Health};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use hotline_commands::handler::CommandContext;
use hotline_commands::process::{ApprovalApplier, Follower, PhoneTimers, TicketTimers};
use hotline_commands::seal::Sealer;
use hotline_commands::Hotline;
use hotline_domain::audit::AuditEvent;
use hotline_domain::organisation::Role;
use hotline_domain::values::PhoneNumber;
use hotline_domain::values::TenantId;
use hotline_gateway_adapters::ingest::{Ingest, IngestStats};
use hotline_gateway_adapters::listener::{Inspector, Listener, ListenerConfig};
use hotline_graphql::auth::Keys;
use hotline_graphql::schema::Api;
use hotline_projections::all_projections;
use hotline_projections::bus::{ChangeNotices, NatsPublisher};
use hotline_projections::runner::Runner;
use hotline_projections::store::ReadStore;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(Clone)]
struct AppState {
    hotline: Hotline,
    health: Arc<Health>,
    telephony: Option<(Inspector, Arc<IngestStats>)>,
    keys: Keys,
}

/// The service's routes.
fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/telephony/rejected", get(rejected))
        .with_state(state)
}

/// The datagrams the SIP adapter could not read (newest last), for an operator to inspect: raw
/// SIP, so for group admins only (401 without a valid token, 403 for other roles), with every
/// run of seven or more digits (a phone number, mostly) masked like a number shown to a role that
/// may not see it, and the read recorded in the audit trail (`SensitiveRead`) before it is
/// answered (503 when it cannot be). A datagram that could not be read names no tenant, so a
/// subsidiary admin cannot be shown only their own subsidiary's: they are refused like any other
/// role.
async fn rejected(State(state): State<AppState>, headers: HeaderMap) -> (axum::http::StatusCode, Json<Value>) {
    let caller = match hotline_graphql::authenticate(&state.keys, &headers) {
        Ok(caller) => caller,
        Err(error) => {
            return (axum::http::StatusCode::UNAUTHORIZED, Json(json!({ "error": error.to_string() })));
        }
    };
    if !caller.roles.iter().any(|role| matches!(role, Role::GroupAdmin)) {
        let refusal = json!({ "error": "rejected datagrams are for group admins" });
        return (axum::http::StatusCode::FORBIDDEN, Json(refusal));
    }
    let Some((inspector, _)) = &state.telephony else {
        return (axum::http::StatusCode::NOT_FOUND, Json(json!({ "error": "the SIP adapter is not running" })));
    };
    let rejected: Vec<Value> = inspector
        .rejected()
        .iter()
        .map(|r| {
            json!({
                "at": r.at,
                "source": r.source.to_string(),
                "reason": r.reason,
                "bytes": r.bytes.len(),
                "text": mask_digit_runs(&String::from_utf8_lossy(&r.bytes)),
            })
        })
        .collect();
    let context = CommandContext::new(&caller.user, "http", state.hotline.clock().now());
    let event = AuditEvent::SensitiveRead {
        reader: caller.user.clone(),
        operation: Some("GET /telephony/rejected".into()),
        ticket_histories: Vec::new(),
        unmasked_tickets: Vec::new(),
        unmasked_calls: Vec::new(),
        rejected_datagrams: u32::try_from(rejected.len()).unwrap_or(u32::MAX),
    };
    if let Err(error) = state.hotline.record_audit(&context, event).await {
        tracing::error!(%error, "the read of rejected datagrams could not be audited; not answered");
        let refusal = json!({ "error": "the read could not be recorded in the audit trail; retry later" });
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, Json(refusal));
    }
    (axum::http::StatusCode::OK, Json(json!({ "rejected": rejected })))
}

/// `text` with every run of seven or more ASCII digits masked as [`PhoneNumber::masked`] masks a
/// number: `sip:13812345678@…` becomes `sip:138****5678@…`.
fn mask_digit_runs(text: &str) -> String {
    let mut masked = String::with_capacity(text.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, masked: &mut String| {
        if digits.len() >= 7 {
            masked.push_str(&PhoneNumber(std::mem::take(digits)).masked());
        } else {
            masked.push_str(digits);
            digits.clear();
        }
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut masked);
            masked.push(c);
        }
    }
    flush(&mut digits, &mut masked);
    masked
}

/// Liveness, from memory: answers at once whatever the database does.
async fn healthz(State(state): State<AppState>) -> (axum::http::StatusCode, Json<Value>) {
    let (code, body) = state.health.liveness();
    (code, Json(body))
}

/// Readiness for a load balancer: 503 with the reasons, within about a second.
async fn readyz(State(state): State<AppState>) -> (axum::http::StatusCode, Json<Value>) {
    let (code, body) = state.health.readiness().await;
    (code, Json(body))
}

/// Prometheus text, from memory: the log's head, whether the database answers and appends
/// succeed, each projection's position, status, lag in events and seconds and retries — the
/// figures to alert on — and the KPI boards computed for `kpiBoard` subscribers.
async fn metrics(State(state): State<AppState>) -> (axum::http::StatusCode, String) {
    let gather = async {
        let registry = prometheus::Registry::new();
        let mut collectors = state.health.collectors().map_err(|e| e.to_string())?;
        let boards = prometheus::IntCounter::new(
            "hotline_kpi_board_computations_total",
            "KPI boards computed for kpiBoard subscribers: one per change and scope, however many watch it",
        )
        .map_err(|e| e.to_string())?;
        boards.inc_by(hotline_graphql::kpi::subscription::kpi_board_computations());
        let call_boards = prometheus::IntCounter::new(
            "hotline_call_kpi_board_computations_total",
            "Call KPI boards computed for callKpiBoard subscribers: one per change and scope, however many watch it",
        )
        .map_err(|e| e.to_string())?;
        call_boards.inc_by(hotline_graphql::telephony::subscription::call_kpi_board_computations());
        collectors.push(Box::new(boards));
        collectors.push(Box::new(call_boards));
        let clock_behind = prometheus::IntCounter::new(
            "hotline_clock_behind_total",
            "Log batches committed while the clock was behind the last recorded time (that time was recorded again)",
        )
        .map_err(|e| e.to_string())?;
        clock_behind.inc_by(hotline_commands::store::CLOCK_BEHIND_BATCHES.load(std::sync::atomic::Ordering::Relaxed));
        let behind_seconds = prometheus::Gauge::new(
            "hotline_clock_behind_seconds",
            "How far the clock was behind the log's last recorded time at the latest commit (0: not behind)",
        )
        .map_err(|e| e.to_string())?;
        behind_seconds
            .set(hotline_commands::store::CLOCK_BEHIND_MICROS.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e6);
        collectors.push(Box::new(clock_behind));
        collectors.push(Box::new(behind_seconds));
        if let Some((inspector, ingest)) = &state.telephony {
            let sip = prometheus::IntGaugeVec::new(
                prometheus::Opts::new("hotline_sip_datagrams", "SIP adapter datagrams by outcome"),
                &["outcome"],
            )
            .map_err(|e| e.to_string())?;
            let stats = inspector.stats();
            let hep_rejected: u64 = stats.rejected_hep.values().sum();
            for (outcome, count) in [
                ("received", stats.received),
                ("decoded", stats.decoded),
                ("keepalive", stats.keepalives),
                ("hep_rejected", hep_rejected),
                ("unparseable_sip", stats.unparseable_sip),
                ("refused_number", stats.refused_numbers),
                ("rate_limited", stats.rate_limited),
                ("oversize", stats.oversize),
                ("not_allowed", stats.not_allowed),
                ("implausible_time", stats.implausible_time),
                ("dialogs_refused", stats.dialogs_refused),
                ("late", stats.late),
            ] {
                sip.with_label_values(&[outcome]).set(count as i64);
            }
            let signals = prometheus::IntGaugeVec::new(
                prometheus::Opts::new("hotline_sip_signals", "Call and phone signals by outcome"),
                &["outcome"],
            )
            .map_err(|e| e.to_string())?;
            use std::sync::atomic::Ordering::Relaxed;
            for (outcome, count) in [
                ("tracked", stats.signals),
                ("applied", ingest.applied.load(Relaxed)),
                ("refused", ingest.refused.load(Relaxed)),
            ] {
                signals.with_label_values(&[outcome]).set(count as i64);
            }
            collectors.push(Box::new(sip));
            collectors.push(Box::new(signals));
            let kernel_drops = prometheus::IntGaugeVec::new(
                prometheus::Opts::new(
                    "hotline_sip_kernel_drops",
                    "Datagrams the kernel dropped on the SIP adapter's socket (its receive buffer was full) since it was bound",
                ),
                &["socket"],
            )
            .map_err(|e| e.to_string())?;
            let receive_buffer = prometheus::IntGaugeVec::new(
                prometheus::Opts::new(
                    "hotline_sip_receive_buffer_bytes",
                    "The receive buffer the kernel gave the SIP adapter's socket",
                ),
                &["socket"],
            )
            .map_err(|e| e.to_string())?;
            for socket in inspector.sockets() {
                receive_buffer.with_label_values(&[socket.feed]).set(socket.receive_buffer as i64);
                if let Some(drops) = socket.kernel_drops {
                    kernel_drops.with_label_values(&[socket.feed]).set(drops as i64);
                }
            }
            collectors.push(Box::new(kernel_drops));
            collectors.push(Box::new(receive_buffer));
        }
        for collector in collectors {
            registry.register(collector).map_err(|e| e.to_string())?;
        }
        prometheus::TextEncoder::new().encode_to_string(&registry.gather()).map_err(|e| e.to_string())
    };
    match gather.await {
        Ok(text) => (axum::http::StatusCode::OK, text),
        Err(error) => {
            tracing::error!(%error, "metrics could not be gathered");
            (axum::http::StatusCode::SERVICE_UNAVAILABLE, String::new())
        }
    }
}

/// What `serve` runs beside the API.
pub struct ServeOptions {
    /// NATS, for the JetStream publisher and change notices.
    pub nats_url: Option<String>,
    /// The log's backend, for health reports.
    pub backend: String,
    /// The sealer of the log's checkpoints.
    pub sealer: Sealer,
    /// The SIP adapter, when it should run.
    pub telephony: Option<TelephonyOptions>,
    /// What one request to the API may be.
    pub limits: hotline_graphql::limits::Limits,
    /// How often one user or address may call.
    pub rates: crate::limits::RateLimits,
    /// The outcome of the log's appends (the log wrapped in [`crate::health::ObservedStore`]).
    pub appends: Arc<Appends>,
}

/// The SIP adapter's settings.
pub struct TelephonyOptions {
    /// Sockets, allowlist, rate limit, auth key, tracker timeouts.
    pub listener: ListenerConfig,
    /// The tenant of calls and phones that no tenant's telephony configuration claims.
    pub default_tenant: TenantId,
}

/// Runs the projections and the process managers (ticket timers, approval applier, sealer), and serves
/// until Ctrl-C or SIGTERM, then finishes requests in flight and seals the log's tail. Several nodes may run side by side
/// on one PostgreSQL: each projection batch locks its checkpoint, and the process managers'
/// derived command ids make what two nodes decide at once one event.
pub async fn serve(
    listen: SocketAddr,
    hotline: Hotline,
    read: ReadStore,
    keys: Keys,
    options: ServeOptions,
) -> anyhow::Result<()> {
    let ServeOptions { nats_url, backend, sealer, telephony, limits, rates, appends } = options;
    let store = Arc::clone(hotline.store());
    let runner = Arc::new(Runner::new(Arc::clone(&store), read.clone(), all_projections()));
    let mut background = runner.spawn();
    let health = Arc::new(Health::new(Arc::clone(&store), Arc::clone(&runner), appends, backend.clone()));
    background.push(tokio::spawn(Arc::clone(&health).probe_forever()));
    if let Some(url) = nats_url {
        let publisher = NatsPublisher::connect(&url, Arc::clone(&store), read).await?;
        background.push(tokio::spawn(publisher.run()));
        let notices = ChangeNotices::connect(&url).await?;
        background.extend(notices.spawn(Arc::clone(&runner), Arc::clone(&store)).await?);
        tracing::info!(%url, "publishing the log and read-model change notices to NATS");
    }
    background.push(tokio::spawn(Follower::new(hotline.clone(), TicketTimers::default()).run()));
    background.push(tokio::spawn(Follower::new(hotline.clone(), ApprovalApplier::default()).run()));
    // The sealer is stopped last, and seals what is left (see below).
    let (stop_sealer, sealer_stopped) = tokio::sync::oneshot::channel::<()>();
    let sealer = tokio::spawn(Follower::new(hotline.clone(), sealer).run_until(async {
        let _ = sealer_stopped.await;
    }));
    background.push(tokio::spawn(Follower::new(hotline.clone(), PhoneTimers::default()).run()));
    let telephony = match telephony {
        None => None,
        Some(TelephonyOptions { listener, default_tenant }) => {
            let listener = Listener::bind(listener).await?;
            let inspector = listener.inspector();
            tracing::info!(hep = ?listener.hep_addr(), sip = ?listener.sip_addr(), "SIP adapter listening");
            let (sender, signals) = tokio::sync::mpsc::channel(16_384);
            let ingest = Ingest::new(hotline.clone(), default_tenant);
            let stats = ingest.stats();
            background.push(tokio::spawn(listener.run(sender)));
            background.push(tokio::spawn(ingest.run(signals)));
            Some((inspector, stats))
        }
    };
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(address = %listener.local_addr()?, %backend, "hotline serving");
    let api =
        hotline_graphql::router(Api { hotline: hotline.clone(), runner: Arc::clone(&runner) }, keys.clone(), limits);
    let rates = Arc::new(crate::http::Rates::new(rates, keys.clone()));
    let hotline_for_seal = hotline.clone();
    let app = router(AppState { hotline, health, telephony, keys })
        .merge(api)
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&rates), crate::http::limit_rates));
    background.push(tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            rates.forget_quiet();
        }
    }));
    crate::http::serve(listener, app, limits.read_timeout, shutdown_signal()).await?;
    for task in background {
        task.abort();
    }
    // Nothing appends any more: seal (and witness) every event, so the tail no witness covers
    // is empty when this node stops.
    let _ = stop_sealer.send(());
    match sealer.await {
        Ok(follower) => match follower.into_manager().seal_now(&hotline_for_seal).await {
            Ok(Some(checkpoint)) => tracing::info!(
                checkpoint = checkpoint.checkpoint_no,
                events = checkpoint.tree_size,
                "sealed the log on shutdown"
            ),
            Ok(None) => tracing::info!("the log was sealed up to its head already"),
            Err(error) => tracing::error!(%error, "the log could not be sealed on shutdown"),
        },
        Err(error) => tracing::error!(%error, "the sealer stopped"),
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use super::mask_digit_runs;

    #[test]
    fn numbers_in_raw_sip_are_masked_and_short_digit_runs_are_not() {
        assert_eq!(
            mask_digit_runs("INVITE sip:13812345678@10.0.0.1:5060 SIP/2.0\r\nCSeq: 1 INVITE"),
            "INVITE sip:138****5678@10.0.0.1:5060 SIP/2.0\r\nCSeq: 1 INVITE"
        );
        assert_eq!(mask_digit_runs("From: <sip:02281234567@x>"), "From: <sip:022****4567@x>");
        assert_eq!(mask_digit_runs("1234567"), "***4567");
    }
}
