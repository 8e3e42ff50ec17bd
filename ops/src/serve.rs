//! `hotline serve`: the HTTP service.
//!
//! Runs every projection live (catch up, then follow the log's commit notifications) and the
//! process managers (and, with `HOTLINE_NATS_URL`, the JetStream publisher), and serves the
//! GraphQL API (`POST /graphql`, GraphiQL on `GET /graphql`, `/graphql/ws`) and `GET /healthz`:
//! the log's backend and head, and each projection's checkpoint.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use hotline_commands::process::{ApprovalApplier, Follower, TicketTimers};
use hotline_commands::store::EventStore;
use hotline_commands::Hotline;
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
    store: Arc<dyn EventStore>,
    runner: Arc<Runner>,
    backend: String,
}

/// The service's routes.
pub fn router(store: Arc<dyn EventStore>, runner: Arc<Runner>, backend: String) -> Router {
    Router::new().route("/healthz", get(healthz)).with_state(AppState { store, runner, backend })
}

async fn healthz(State(state): State<AppState>) -> (axum::http::StatusCode, Json<Value>) {
    match (state.store.head().await, state.runner.checkpoints().await) {
        (Ok(head), Ok(checkpoints)) => {
            // Every projection is listed, also one whose runner has not written a checkpoint yet.
            let projections: serde_json::Map<String, Value> = state
                .runner
                .projections()
                .iter()
                .map(|p| {
                    let entry = match checkpoints.iter().find(|c| c.projection == p.id()) {
                        Some(c) => json!({ "position": c.position, "status": c.status, "error": c.error }),
                        None => json!({ "position": 0, "status": "starting", "error": null }),
                    };
                    (p.id().to_owned(), entry)
                })
                .collect();
            let healthy = projections.values().all(|p| p["status"] != "failed");
            let status = if healthy { "ok" } else { "degraded" };
            let body = json!({ "status": status, "backend": state.backend, "head": head, "projections": projections });
            (axum::http::StatusCode::OK, Json(body))
        }
        (head, checkpoints) => {
            tracing::error!(head = ?head.err(), checkpoints = ?checkpoints.err(), "health check could not read the log or read models");
            (axum::http::StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "unavailable" })))
        }
    }
}

/// Runs the projections and the process managers (ticket timers, approval applier), and serves
/// until Ctrl-C or SIGTERM, then finishes requests in flight. Several nodes may run side by side
/// on one PostgreSQL: each projection batch locks its checkpoint, and the process managers'
/// derived command ids make what two nodes decide at once one event.
pub async fn serve(
    listen: SocketAddr,
    hotline: Hotline,
    read: ReadStore,
    keys: Keys,
    nats_url: Option<String>,
    backend: String,
) -> anyhow::Result<()> {
    let store = Arc::clone(hotline.store());
    let runner = Arc::new(Runner::new(Arc::clone(&store), read.clone(), all_projections()));
    let mut background = runner.spawn();
    if let Some(url) = nats_url {
        let publisher = NatsPublisher::connect(&url, Arc::clone(&store), read).await?;
        background.push(tokio::spawn(publisher.run()));
        let notices = ChangeNotices::connect(&url).await?;
        background.extend(notices.spawn(Arc::clone(&runner), Arc::clone(&store)).await?);
        tracing::info!(%url, "publishing the log and read-model change notices to NATS");
    }
    background.push(tokio::spawn(Follower::new(hotline.clone(), TicketTimers::default()).run()));
    background.push(tokio::spawn(Follower::new(hotline.clone(), ApprovalApplier::default()).run()));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(address = %listener.local_addr()?, %backend, "hotline serving");
    let api = hotline_graphql::router(Api { hotline, runner: Arc::clone(&runner) }, keys);
    let app = router(store, runner, backend).merge(api);
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    for task in background {
        task.abort();
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
