//! `hotline serve`: the HTTP service.
//!
//! For now: `GET /healthz` (the log's backend and head position). The GraphQL API joins it at
//! `/graphql` (see the `graphql` crate).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use hotline_commands::store::EventStore;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(Clone)]
struct AppState {
    store: Arc<dyn EventStore>,
    backend: String,
}

/// The service's routes.
pub fn router(store: Arc<dyn EventStore>, backend: String) -> Router {
    Router::new().route("/healthz", get(healthz)).with_state(AppState { store, backend })
}

async fn healthz(State(state): State<AppState>) -> (axum::http::StatusCode, Json<Value>) {
    match state.store.head().await {
        Ok(head) => {
            (axum::http::StatusCode::OK, Json(json!({ "status": "ok", "backend": state.backend, "head": head })))
        }
        Err(error) => {
            tracing::error!(%error, "health check could not read the log");
            (axum::http::StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "unavailable" })))
        }
    }
}

/// Serves until Ctrl-C or SIGTERM, then finishes requests in flight.
pub async fn serve(listen: SocketAddr, store: Arc<dyn EventStore>, backend: String) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(address = %listener.local_addr()?, %backend, "hotline serving");
    axum::serve(listener, router(store, backend)).with_graceful_shutdown(shutdown_signal()).await?;
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
