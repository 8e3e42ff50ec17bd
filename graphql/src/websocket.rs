//! `/graphql/ws`: GraphQL over WebSocket — graphql-transport-ws, and the older graphql-ws of
//! subscriptions-transport-ws — with the token checked at `connection_init`, every operation
//! ended when the token expires, and caps on what one connection and one user hold.
//!
//! # The handshake
//! The token comes in the `connection_init` payload as `{"Authorization": "Bearer …"}`. Until the
//! server acknowledges it, this module reads the socket itself, and closes it with the codes of
//! graphql-transport-ws:
//! - a missing, forged or expired token: [`CLOSE_FORBIDDEN`] (4403, `Forbidden: …`), what the
//!   protocol says for a refused `connection_init`;
//! - a `subscribe` (`start` in graphql-ws) before the acknowledgement: [`CLOSE_UNAUTHORIZED`]
//!   (4401, `Unauthorized`);
//! - no `connection_init` within [`CONNECTION_INIT_TIMEOUT`]: [`CLOSE_INIT_TIMEOUT`] (4408);
//! - a message that is not one of the protocol's: [`CLOSE_BAD_REQUEST`] (4400).
//!
//! The legacy graphql-ws protocol names no close codes: there the server first sends
//! `connection_error` with the message and `extensions.code` `UNAUTHENTICATED` (or
//! `INVALID_INPUT`), then closes with the same code.
//!
//! # Token expiry
//! Every operation on the socket runs until the token's `exp`, to the second and without the
//! verifier's leeway for clock skew: then each running subscription sends one last result, an
//! error with `extensions.code` `UNAUTHENTICATED`, and completes; an operation started later gets
//! that error alone. The socket itself is then closed with [`CLOSE_FORBIDDEN`]
//! (`Forbidden: the token has expired`), as a `connection_init` with that token would have been:
//! graphql-ws clients treat 4403 as retryable, so they reconnect with fresh connection params (a
//! new token) by themselves, while 4401 would make them give up.
//!
//! # Caps
//! A connection holds at most [`SocketLimits::max_subscriptions_per_connection`] operations at
//! once, a user (the token's subject) at most [`SocketLimits::max_subscriptions_per_user`] over
//! all their connections to this server process. Both count every operation from `subscribe`
//! until it completes (queries and mutations sent over the socket count while they run). One
//! more is answered with an error with `extensions.code` `LIMIT_EXCEEDED` and completed at once;
//! the socket and the operations already running go on.

use crate::auth::{AuthError, Caller, Keys};
use crate::error::ApiError;
use async_graphql::http::{WebSocket as Protocol, WebSocketProtocols, WsMessage};
use async_graphql::{Data, Executor, Request, Response, ServerError};
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::stream::{BoxStream, SplitSink, SplitStream};
use futures_util::{FutureExt, SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// The close code of a refused `connection_init` (bad, missing or expired token), and of a
/// socket whose token has expired.
pub const CLOSE_FORBIDDEN: u16 = 4403;
/// The close code of a `subscribe` sent before the server acknowledged `connection_init`.
pub const CLOSE_UNAUTHORIZED: u16 = 4401;
/// The close code of a socket that sent no `connection_init` in time.
pub const CLOSE_INIT_TIMEOUT: u16 = 4408;
/// The close code of a message that is not one of the protocol's.
pub const CLOSE_BAD_REQUEST: u16 = 4400;

/// How long a new socket may take to send `connection_init`: a phone on a slow mobile network
/// needs far less, and an idle socket without a token holds nothing longer than this.
pub const CONNECTION_INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// What one WebSocket connection and one user may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketLimits {
    /// Operations one connection holds at once.
    pub max_subscriptions_per_connection: usize,
    /// Operations one user (token subject) holds at once over all their connections to this
    /// server process.
    pub max_subscriptions_per_user: usize,
}

/// 32: an agent's desk subscribes to its screen pop, a few ticket lists, pending approvals and a
/// KPI board or two (under 10); a supervisor's wall with a board per station stays under 32.
pub const DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION: usize = 32;
/// 64: two full desks (two browser tabs, or a desk and a wall screen) of one user.
pub const DEFAULT_MAX_SUBSCRIPTIONS_PER_USER: usize = 64;

impl Default for SocketLimits {
    fn default() -> Self {
        SocketLimits {
            max_subscriptions_per_connection: DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION,
            max_subscriptions_per_user: DEFAULT_MAX_SUBSCRIPTIONS_PER_USER,
        }
    }
}

/// The operations each user holds over all their connections to this server process.
#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    by_user: Mutex<HashMap<String, usize>>,
}

/// One running operation's place under the caps; given back when it is dropped.
struct Slot {
    subscriptions: Arc<Subscriptions>,
    connection: Arc<AtomicUsize>,
    user: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.connection.fetch_sub(1, Ordering::SeqCst);
        let mut by_user = self.subscriptions.by_user.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = by_user.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                by_user.remove(&self.user);
            }
        }
    }
}

/// One acknowledged connection: whose it is, until when, and what it holds.
struct Session {
    user: String,
    deadline: Instant,
    limits: SocketLimits,
    connection: Arc<AtomicUsize>,
    subscriptions: Arc<Subscriptions>,
}

impl Session {
    /// A place for one more operation, or LIMIT_EXCEEDED.
    fn slot(&self) -> Result<Slot, ApiError> {
        let mut by_user = self.subscriptions.by_user.lock().unwrap_or_else(PoisonError::into_inner);
        let limits = self.limits;
        if self.connection.load(Ordering::SeqCst) >= limits.max_subscriptions_per_connection {
            return Err(ApiError::LimitExceeded(format!(
                "this connection already holds {} subscriptions, the most one connection may; complete one first",
                limits.max_subscriptions_per_connection
            )));
        }
        let held = by_user.entry(self.user.clone()).or_insert(0);
        if *held >= limits.max_subscriptions_per_user {
            return Err(ApiError::LimitExceeded(format!(
                "you already hold {} subscriptions over your connections, the most one user may; complete one first",
                limits.max_subscriptions_per_user
            )));
        }
        *held += 1;
        self.connection.fetch_add(1, Ordering::SeqCst);
        Ok(Slot {
            subscriptions: Arc::clone(&self.subscriptions),
            connection: Arc::clone(&self.connection),
            user: self.user.clone(),
        })
    }
}

/// The schema as one connection runs it: each operation within the caps and the token's life.
#[derive(Clone)]
struct SessionExecutor<E> {
    executor: E,
    session: Arc<Session>,
}

/// A response carrying only `error`.
fn refusal(error: ApiError) -> Response {
    let error = async_graphql::Error::from(error);
    let mut server_error = ServerError::new(error.message, None);
    server_error.extensions = error.extensions;
    Response::from_errors(vec![server_error])
}

fn expired() -> ApiError {
    ApiError::Unauthenticated("the token has expired; connect again with a new one".into())
}

impl<E: Executor> Executor for SessionExecutor<E> {
    /// Not used by the WebSocket protocols, which run everything as streams: the first response
    /// of the stream, under the same rules.
    async fn execute(&self, request: Request) -> Response {
        self.execute_stream(request, None).next().await.unwrap_or_default()
    }

    fn execute_stream(&self, request: Request, session_data: Option<Arc<Data>>) -> BoxStream<'static, Response> {
        let deadline = self.session.deadline;
        if Instant::now() >= deadline {
            return futures_util::stream::once(async { refusal(expired()) }).boxed();
        }
        let slot = match self.session.slot() {
            Ok(slot) => slot,
            Err(error) => return futures_util::stream::once(async { refusal(error) }).boxed(),
        };
        let inner = self.executor.execute_stream(request, session_data);
        let expiry = Box::pin(tokio::time::sleep_until(deadline));
        // The slot lives as long as the stream: the protocol drops a stream when it completes,
        // when the client completes it, and when the socket goes.
        futures_util::stream::unfold(Some((inner, expiry, slot)), |state| async move {
            let (mut inner, mut expiry, slot) = state?;
            tokio::select! {
                biased;
                () = &mut expiry => Some((refusal(expired()), None)),
                response = inner.next() => response.map(|response| (response, Some((inner, expiry, slot)))),
            }
        })
        .boxed()
    }
}

/// The shape every client message shares.
#[derive(serde::Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    payload: Option<Value>,
}

type Sink = SplitSink<WebSocket, Message>;
type Source = SplitStream<WebSocket>;

/// A close frame; the reason is cut to the 123 bytes a frame allows.
fn close(code: u16, reason: &str) -> Message {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::Close(Some(CloseFrame { code, reason: reason[..end].into() }))
}

/// Refuses the connection: on graphql-ws first a `connection_error` naming `code`, then the close.
async fn refuse(sink: &mut Sink, protocol: WebSocketProtocols, close_code: u16, reason: &str, code: &str) {
    if protocol == WebSocketProtocols::SubscriptionsTransportWS {
        let error =
            json!({ "type": "connection_error", "payload": { "message": reason, "extensions": { "code": code } } });
        let _ = sink.send(Message::Text(error.to_string().into())).await;
    }
    let _ = sink.send(close(close_code, reason)).await;
}

/// The caller of an accepted `connection_init`, and the message itself for the protocol to
/// acknowledge; `None` once the socket is refused or gone.
async fn handshake(
    sink: &mut Sink,
    source: &mut Source,
    protocol: WebSocketProtocols,
    keys: &Keys,
) -> Option<(Caller, Bytes)> {
    while let Some(Ok(message)) = source.next().await {
        let bytes = match message {
            Message::Text(_) | Message::Binary(_) => message.into_data(),
            Message::Close(_) => return None,
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        let Ok(envelope) = serde_json::from_slice::<Envelope>(&bytes) else {
            refuse(sink, protocol, CLOSE_BAD_REQUEST, "Invalid message", "INVALID_INPUT").await;
            return None;
        };
        match envelope.kind.as_str() {
            "connection_init" => {
                let payload = envelope.payload.unwrap_or_default();
                let authorization = payload.get("Authorization").or_else(|| payload.get("authorization"));
                let caller = match authorization.and_then(Value::as_str) {
                    Some(value) => keys.verify_authorization(value),
                    None => Err(AuthError::Missing),
                };
                // Strictly at `exp`: the verifier's leeway for clock skew would let a token that
                // just expired open a socket that closes at once.
                let caller = caller.and_then(|caller| {
                    if caller.expires_at > chrono::Utc::now().timestamp() {
                        Ok(caller)
                    } else {
                        Err(AuthError::Invalid("the token has expired".into()))
                    }
                });
                match caller {
                    Ok(caller) => return Some((caller, bytes)),
                    Err(error) => {
                        let reason = format!("Forbidden: {error}");
                        refuse(sink, protocol, CLOSE_FORBIDDEN, &reason, "UNAUTHENTICATED").await;
                        return None;
                    }
                }
            }
            "subscribe" | "start" => {
                refuse(sink, protocol, CLOSE_UNAUTHORIZED, "Unauthorized", "UNAUTHENTICATED").await;
                return None;
            }
            "ping" => {
                let _ = sink.send(Message::Text(json!({ "type": "pong" }).to_string().into())).await;
            }
            "connection_terminate" => return None,
            "pong" | "complete" | "stop" => {}
            _ => {
                refuse(sink, protocol, CLOSE_BAD_REQUEST, "Invalid message", "INVALID_INPUT").await;
                return None;
            }
        }
    }
    None
}

/// Serves one upgraded socket: the handshake, then the protocol, until the client leaves or the
/// token expires.
pub(crate) async fn serve<E: Executor>(
    socket: WebSocket,
    executor: E,
    keys: Keys,
    limits: SocketLimits,
    subscriptions: Arc<Subscriptions>,
) {
    // The protocol negotiated at the upgrade; the route accepts only these two.
    let protocol = socket
        .protocol()
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .unwrap_or(WebSocketProtocols::GraphQLWS);
    let (mut sink, mut source) = socket.split();
    let accepted =
        tokio::time::timeout(CONNECTION_INIT_TIMEOUT, handshake(&mut sink, &mut source, protocol, &keys)).await;
    let (caller, init) = match accepted {
        Ok(Some(accepted)) => accepted,
        Ok(None) => return,
        Err(_) => {
            let reason = "Connection initialisation timeout";
            refuse(&mut sink, protocol, CLOSE_INIT_TIMEOUT, reason, "UNAUTHENTICATED").await;
            return;
        }
    };
    let remaining = (chrono::DateTime::from_timestamp(caller.expires_at, 0).unwrap_or_default() - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    let deadline = Instant::now() + remaining;
    let session = Arc::new(Session {
        user: caller.user.clone(),
        deadline,
        limits,
        connection: Arc::new(AtomicUsize::new(0)),
        subscriptions,
    });
    let mut data = Data::default();
    data.insert(Ok::<Caller, AuthError>(caller));
    // The accepted `connection_init` goes to the protocol first, which acknowledges it.
    let input = futures_util::stream::once(async move { init }).chain(
        source.take_while(|message| std::future::ready(!matches!(message, Err(_) | Ok(Message::Close(_))))).filter_map(
            |message| {
                std::future::ready(match message {
                    Ok(message @ (Message::Text(_) | Message::Binary(_))) => Some(message.into_data()),
                    _ => None,
                })
            },
        ),
    );
    let output = Protocol::new(SessionExecutor { executor, session }, input, protocol)
        .on_connection_init(move |_| async move { Ok(data) })
        .map(|message| match message {
            WsMessage::Text(text) => Message::Text(text.into()),
            WsMessage::Close(code, reason) => close(code, &reason),
        });
    futures_util::pin_mut!(output);
    let expiry = tokio::time::sleep_until(deadline);
    futures_util::pin_mut!(expiry);
    loop {
        tokio::select! {
            message = output.next() => match message {
                Some(message) => {
                    if sink.send(message).await.is_err() {
                        return;
                    }
                }
                None => return,
            },
            () = &mut expiry => {
                // Each operation ends at the same instant with UNAUTHENTICATED: send what they
                // say, then close.
                while let Some(Some(message)) = output.next().now_or_never() {
                    if sink.send(message).await.is_err() {
                        return;
                    }
                }
                let _ = sink.send(close(CLOSE_FORBIDDEN, "Forbidden: the token has expired")).await;
                return;
            }
        }
    }
}
