//! `serve`'s HTTP front: its own accept loop (so that a caller who sends half a request head is
//! cut off after the read timeout, which `axum::serve` cannot do), and the per-user and
//! per-address request rates (429 `RATE_LIMITED` with `Retry-After` beyond them).
//!
//! The rates are token buckets (`governor`), kept in memory per process: with several nodes
//! behind a balancer each node allows the rate, which is the intent (a node protects itself).
//! `/healthz`, `/readyz` and `/metrics` are never limited, so that monitoring sees the truth under attack.

use crate::limits::RateLimits;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use hotline_graphql::auth::Keys;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::json;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// The request rates of one process, by user and by client address.
pub struct Rates {
    per_user: Option<DefaultKeyedRateLimiter<String>>,
    per_address: Option<DefaultKeyedRateLimiter<IpAddr>>,
    keys: Keys,
}

impl Rates {
    /// Buckets for these rates; a rate of 0 is no limit.
    pub fn new(limits: RateLimits, keys: Keys) -> Rates {
        let quota = |per_second: u32| {
            let rate = NonZeroU32::new(per_second)?;
            let burst = NonZeroU32::new(limits.burst).unwrap_or(rate);
            Some(Quota::per_second(rate).allow_burst(burst))
        };
        Rates {
            per_user: quota(limits.per_user).map(RateLimiter::keyed),
            per_address: quota(limits.per_address).map(RateLimiter::keyed),
            keys,
        }
    }

    /// Forgets callers that have been quiet long enough to have a full bucket again, so that the
    /// buckets of many addresses do not grow without bound.
    pub fn forget_quiet(&self) {
        if let Some(limiter) = &self.per_user {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some(limiter) = &self.per_address {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// `None` when this caller may go on; else how long until it may.
    fn check(&self, address: IpAddr, request: &Request) -> Option<Duration> {
        let now = DefaultClock::default().now();
        if let Some(limiter) = &self.per_address {
            if let Err(not_until) = limiter.check_key(&address) {
                return Some(not_until.wait_time_from(now));
            }
        }
        if let Some(limiter) = &self.per_user {
            // Only a valid token names a user; anyone may write any subject into a forged one.
            if let Ok(caller) = hotline_graphql::authenticate(&self.keys, request.headers()) {
                if let Err(not_until) = limiter.check_key(&caller.user) {
                    return Some(not_until.wait_time_from(now));
                }
            }
        }
        None
    }
}

/// Middleware: refuses a caller over its rate with 429, before anything else is done for it.
pub async fn limit_rates(
    State(rates): State<Arc<Rates>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(request.uri().path(), "/healthz" | "/readyz" | "/metrics") {
        return next.run(request).await;
    }
    match rates.check(peer.ip(), &request) {
        None => next.run(request).await,
        Some(wait) => {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let body = json!({ "errors": [{
                "message": format!("too many requests; retry in {seconds} s"),
                "extensions": { "code": "RATE_LIMITED" },
            }] });
            let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            response
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then lets requests in flight finish
/// (for at most 30 s). A connection whose request head has not arrived within `read_timeout` is
/// closed; every request carries its peer's address as [`ConnectInfo`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    read_timeout: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(read_timeout);
    builder.http2().timer(TokioTimer::new());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, mostly: wait for some to be freed, keep serving.
                    tracing::warn!(%error, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            tower::ServiceExt::oneshot(app.clone(), request.map(axum::body::Body::new))
        });
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(30), graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still in flight after 30 s were dropped");
    }
    Ok(())
}
