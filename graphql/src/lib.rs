//! The one API of Hotline: the async-graphql schema, the axum router, authentication, RBAC,
//! tenant scoping and limits.
//!
//! ```no_run
//! # fn example(api: hotline_graphql::schema::Api, keys: hotline_graphql::auth::Keys) -> axum::Router {
//! // POST /graphql, GET /graphql (GraphiQL), /graphql/ws
//! hotline_graphql::router(api, keys, hotline_graphql::limits::Limits::default())
//! # }
//! ```
//!
//! # Contents
//! - [`schema`]: the query, mutation and subscription roots, merged from the features below in
//!   the order of the SDL, and [`schema::Api`], what the schema is built with.
//! - One module per feature, each with its `types`, and its `query`, `mutation` and `subscription`
//!   parts where it has them:
//!   - [`tickets`]: tickets (工单), the ticket list, history and state at an instant for
//!     auditors, the ticket commands, `ticketChanged`.
//!   - [`approvals`]: approvals of gated operations, requesting and deciding them,
//!     `approvalsPending`.
//!   - [`kpi`]: ticket KPIs and the live KPI board.
//!   - [`customers`]: who is reachable at a phone number.
//!   - [`directory`]: `me`, the dictionaries with their zh-CN labels, the organisation's units.
//!   - [`sync`]: `syncBatch`, the offline mobile app's commands.
//!   - [`telephony`]: calls, the agent board, call KPIs, a queue at an instant, the agent's screen
//!     pop (弹屏), agents' sign-in and status, admins' telephony configuration.
//! - `audit`: one audit event per request, listing every audited read it was shown.
//! - `context`: what every resolver shares (the caller, read-your-writes, a command's context,
//!   labels, masked numbers, code enums, UUIDs).
//! - [`auth`]: bearer JWT (HS256 or RS256) → [`auth::Caller`]: scope, masking, permissions.
//! - [`error`]: typed errors with `extensions.code`.
//! - [`limits`]: what a request may be (body size, media type, nesting, time to arrive) before
//!   the engine sees it, and the GraphQL-shaped refusal of anything else.
//! - `guard`: what a document may cost (size, tokens, fields with fragments expanded, aliases)
//!   and how long an operation may run, for HTTP and WebSocket alike.
//! - [`websocket`]: `/graphql/ws`: the token at `connection_init` (close 4403 without a valid
//!   one), operations ended when it expires, caps per connection and per user.
//! - [`introspection`]: `__schema` and `__type` for authenticated callers only, or for no one.
//!
//! Features depend one way: `approvals` and `sync` use `tickets`; `telephony` uses `tickets`,
//! `customers` and `kpi`; nothing uses `telephony`. Inside a feature, `types` uses no sibling.
//!
//! # Architecture Invariants
//! - The only crate that knows GraphQL: it has its own DTOs; domain types never derive GraphQL
//!   traits.
//! - Holds no business rule and no SQL: rules are the domain's, queries the read models'.
//! - Every resolver narrows what it reads to the caller's scope; a subsidiary never sees another's
//!   tickets.
//!
//! # API Boundary
//! The GraphQL schema (kept as an insta snapshot, `tests/snapshots`) is the contract with every
//! frontend.

pub mod approvals;
mod audit;
pub mod auth;
mod boards;
mod context;
pub mod customers;
pub mod directory;
pub mod error;
mod guard;
pub mod introspection;
pub mod kpi;
pub mod limits;
pub mod schema;
pub mod sync;
pub mod telephony;
pub mod tickets;
pub mod websocket;

use async_graphql::Schema;
use async_graphql_axum::{GraphQLProtocol, GraphQLResponse};
use auth::{AuthError, Caller, Keys};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use limits::{Limits, Refusal, Syntax};
use schema::{Api, MutationRoot, QueryRoot, SubscriptionRoot};

/// The schema type.
pub type HotlineSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Deepest query accepted.
pub const MAX_DEPTH: usize = 10;
/// Most complex query accepted: a page of 200 tickets with every field is about 5,400.
pub const MAX_COMPLEXITY: usize = 10_000;
/// Most directives on one field, fragment or operation.
pub const MAX_DIRECTIVES: usize = 8;

/// Builds the schema with the default [`Limits`].
pub fn build_schema(api: Api) -> HotlineSchema {
    build_schema_with(api, Limits::default())
}

/// Builds the schema with these limits on what a document may cost, how long it may run and who
/// may introspect it.
pub fn build_schema_with(api: Api, limits: Limits) -> HotlineSchema {
    Schema::build(QueryRoot::default(), MutationRoot::default(), SubscriptionRoot::default())
        .data(api)
        .data(kpi::subscription::KpiBoards::default())
        .data(telephony::subscription::CallKpiBoards::default())
        .extension(guard::Guard(limits))
        .extension(introspection::IntrospectionGuard(limits.introspection))
        .extension(audit::Audit)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_directives(MAX_DIRECTIVES)
        .finish()
}

#[derive(Clone)]
struct AppState {
    schema: HotlineSchema,
    keys: Keys,
    limits: Limits,
    subscriptions: std::sync::Arc<websocket::Subscriptions>,
}

/// The API's routes: `POST /graphql`, `GET /graphql` (GraphiQL), `/graphql/ws`, each request
/// within `limits`.
pub fn router(api: Api, keys: Keys, limits: Limits) -> Router {
    let schema = build_schema_with(api, limits);
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/graphql/ws", get(graphql_ws))
        .with_state(AppState { schema, keys, limits, subscriptions: Default::default() })
}

/// The caller a request's `Authorization: Bearer <token>` header names (the scheme in any case);
/// also used by `hotline serve` for its operator routes.
pub fn authenticate(keys: &Keys, headers: &HeaderMap) -> Result<Caller, AuthError> {
    let header = headers.get(axum::http::header::AUTHORIZATION).ok_or(AuthError::Missing)?;
    let value = header.to_str().map_err(|_| AuthError::Invalid("non-ASCII authorization header".into()))?;
    keys.verify_authorization(value)
}

/// Reads and decodes the body within the limits: the token is checked first, so a caller without
/// one is refused a large body before it is read, and nothing recurses on the body or the
/// document before their nesting is known to be within the limit.
async fn read_request(
    limits: &Limits,
    authenticated: bool,
    headers: &HeaderMap,
    body: Body,
) -> Result<async_graphql::Request, Refusal> {
    limits::check_media_type(headers)?;
    let limit = if authenticated { limits.max_body_bytes } else { limits.max_anonymous_body_bytes };
    let refuse = || {
        if authenticated || limits.max_body_bytes <= limits.max_anonymous_body_bytes {
            Refusal::TooLarge { limit: limits.max_body_bytes }
        } else {
            Refusal::LargeAnonymous { limit }
        }
    };
    match limits::content_length(headers) {
        Some(length) if length > limits.max_body_bytes as u64 => {
            return Err(Refusal::TooLarge { limit: limits.max_body_bytes })
        }
        Some(length) if length > limit as u64 => return Err(refuse()),
        _ => {}
    }
    let read = async {
        let mut bytes = Vec::new();
        let mut chunks = body.into_data_stream();
        while let Some(chunk) = futures_util::StreamExt::next(&mut chunks).await {
            let chunk = chunk.map_err(|_| Refusal::Unreadable)?;
            if bytes.len() + chunk.len() > limit {
                return Err(refuse());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    };
    // A body sent a byte at a time holds a connection and a task: it has as long as the head had.
    let bytes = tokio::time::timeout(limits.read_timeout, read)
        .await
        .map_err(|_| Refusal::Slow { seconds: limits.read_timeout.as_secs() })??;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Refusal::Malformed("the body is empty".into()));
    }
    limits::check_nesting(&bytes, Syntax::Json, limits.max_nesting)?;
    let request: async_graphql::Request =
        serde_json::from_slice(&bytes).map_err(|error| Refusal::Malformed(error.to_string()))?;
    limits::check_nesting(request.query.as_bytes(), Syntax::GraphQl, limits.max_nesting)?;
    Ok(request)
}

async fn graphql(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let caller = authenticate(&state.keys, &headers);
    let request = match read_request(&state.limits, caller.is_ok(), &headers, body).await {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    let mut response = state.schema.execute(request.data(caller)).await;
    // The engine's own refusals (parse errors, depth and complexity limits, unknown fields) carry
    // no code: they are bad input.
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", "INVALID_INPUT");
        }
    }
    // GraphQL over HTTP allows 401 with application/json: a client sees it without reading errors.
    let unauthenticated = response.errors.iter().any(|error| {
        error.extensions.as_ref().and_then(|e| e.get("code")) == Some(&async_graphql::Value::from("UNAUTHENTICATED"))
    });
    let mut http = GraphQLResponse::from(response).into_response();
    if unauthenticated {
        *http.status_mut() = StatusCode::UNAUTHORIZED;
    }
    http
}

/// The schema's SDL, for the snapshot and for frontend code generation.
pub fn sdl() -> String {
    Schema::build(QueryRoot::default(), MutationRoot::default(), SubscriptionRoot::default()).finish().sdl()
}

/// graphql-transport-ws (and the older graphql-ws): the token comes in the `connection_init`
/// payload, `{"Authorization": "Bearer …"}`; see [`websocket`] for the refusals, the token's
/// expiry and the caps.
async fn graphql_ws(
    State(state): State<AppState>,
    _protocol: GraphQLProtocol,
    upgrade: axum::extract::ws::WebSocketUpgrade,
) -> axum::response::Response {
    upgrade.protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS).on_upgrade(move |socket| {
        websocket::serve(socket, state.schema, state.keys, state.limits.socket, state.subscriptions)
    })
}

async fn graphiql() -> impl IntoResponse {
    Html(
        async_graphql::http::GraphiQLSource::build().endpoint("/graphql").subscription_endpoint("/graphql/ws").finish(),
    )
}
