//! `hotline serve`'s limits on what one caller may send and how often: the command-line flags
//! (each with an environment variable) and their defaults. The README's "Limits" section lists
//! them; `hotline serve --help` says each one.

use hotline_graphql::introspection::Introspection;
use hotline_graphql::limits::{self as api, Limits};
use hotline_graphql::websocket;
use std::time::Duration;

/// Limits of the API, as `hotline serve` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct LimitArgs {
    /// Largest request body (bytes) the API reads from a caller with a valid token; larger
    /// ones are refused with 413.
    #[arg(long, env = "HOTLINE_MAX_BODY_BYTES", default_value_t = api::DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Largest request body (bytes) the API reads from a caller without a valid token; larger
    /// ones are refused with 401 before they are read.
    #[arg(long, env = "HOTLINE_MAX_ANONYMOUS_BODY_BYTES", default_value_t = api::DEFAULT_MAX_ANONYMOUS_BODY_BYTES)]
    pub max_anonymous_body_bytes: usize,
    /// Deepest nesting of brackets, braces and parentheses (outside strings) in a request's
    /// JSON or GraphQL document; deeper requests are refused with INVALID_INPUT before they
    /// are parsed.
    #[arg(long, env = "HOTLINE_MAX_NESTING", default_value_t = api::DEFAULT_MAX_NESTING)]
    pub max_nesting: usize,
    /// Longest GraphQL document (bytes of the `query` text).
    #[arg(long, env = "HOTLINE_MAX_DOCUMENT_BYTES", default_value_t = api::DEFAULT_MAX_DOCUMENT_BYTES)]
    pub max_document_bytes: usize,
    /// Most lexical tokens in a GraphQL document.
    #[arg(long, env = "HOTLINE_MAX_TOKENS", default_value_t = api::DEFAULT_MAX_TOKENS)]
    pub max_tokens: usize,
    /// Most fields a document selects, `__typename` included, each fragment counted as often as
    /// it is spread.
    #[arg(long, env = "HOTLINE_MAX_FIELDS", default_value_t = api::DEFAULT_MAX_FIELDS)]
    pub max_fields: usize,
    /// Most aliased fields in a document, counted the same way.
    #[arg(long, env = "HOTLINE_MAX_ALIASES", default_value_t = api::DEFAULT_MAX_ALIASES)]
    pub max_aliases: usize,
    /// Longest a query or mutation runs (milliseconds) before it is cancelled with TIMEOUT.
    #[arg(long, env = "HOTLINE_REQUEST_TIMEOUT_MS", default_value_t = api::DEFAULT_REQUEST_TIMEOUT.as_millis() as u64)]
    pub request_timeout_ms: u64,
    /// Longest a caller may take (milliseconds) to send a request's head, and again its body;
    /// a slower connection is closed (head) or answered 408 (body).
    #[arg(long, env = "HOTLINE_READ_TIMEOUT_MS", default_value_t = api::DEFAULT_READ_TIMEOUT.as_millis() as u64)]
    pub read_timeout_ms: u64,
    /// Requests per second one user (a token's subject) may make on average; bursts of
    /// --rate-burst pass. 0 switches the per-user limit off. Beyond it: 429 RATE_LIMITED.
    #[arg(long, env = "HOTLINE_RATE_PER_USER", default_value_t = DEFAULT_RATE_PER_USER)]
    pub rate_per_user: u32,
    /// Requests per second one client address may make on average, with or without a token
    /// (every agent behind one gateway shares it, so it is high). 0 switches it off.
    #[arg(long, env = "HOTLINE_RATE_PER_ADDRESS", default_value_t = DEFAULT_RATE_PER_ADDRESS)]
    pub rate_per_address: u32,
    /// How many requests beyond the average rate a user or an address may make at once.
    #[arg(long, env = "HOTLINE_RATE_BURST", default_value_t = DEFAULT_RATE_BURST)]
    pub rate_burst: u32,
    /// Operations (subscriptions, and queries sent over the socket while they run) one
    /// WebSocket connection on /graphql/ws may hold at once; one more is refused with
    /// LIMIT_EXCEEDED and the others go on.
    #[arg(long, env = "HOTLINE_MAX_SUBSCRIPTIONS_PER_CONNECTION", default_value_t = websocket::DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION)]
    pub max_subscriptions_per_connection: usize,
    /// Operations one user (the token's subject) may hold at once over all their WebSocket
    /// connections to this process; one more is refused with LIMIT_EXCEEDED.
    #[arg(long, env = "HOTLINE_MAX_SUBSCRIPTIONS_PER_USER", default_value_t = websocket::DEFAULT_MAX_SUBSCRIPTIONS_PER_USER)]
    pub max_subscriptions_per_user: usize,
    /// Who may introspect the schema (`__schema`, `__type`): `authenticated` (callers with a
    /// valid token; others get UNAUTHENTICATED) or `off` (everyone gets FORBIDDEN).
    /// `__typename` is always allowed.
    #[arg(long, env = "HOTLINE_INTROSPECTION", default_value_t = Introspection::Authenticated)]
    pub introspection: Introspection,
}

/// 20 requests a second, every second, for one user: an agent's desk makes about one.
pub const DEFAULT_RATE_PER_USER: u32 = 20;
/// 500 a second from one address: a call centre of 300 agents behind one gateway at their
/// busiest makes under 300.
pub const DEFAULT_RATE_PER_ADDRESS: u32 = 500;
/// 200 requests at once: a field app syncing after a day offline pages through its batches.
pub const DEFAULT_RATE_BURST: u32 = 200;

/// How often a user or an address may call the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Per user, per second; 0 for none.
    pub per_user: u32,
    /// Per client address, per second; 0 for none.
    pub per_address: u32,
    /// Requests beyond the rate at once.
    pub burst: u32,
}

impl LimitArgs {
    /// The API's limits on one request.
    pub fn limits(&self) -> Limits {
        Limits {
            max_body_bytes: self.max_body_bytes,
            max_anonymous_body_bytes: self.max_anonymous_body_bytes,
            max_nesting: self.max_nesting,
            max_document_bytes: self.max_document_bytes,
            max_tokens: self.max_tokens,
            max_fields: self.max_fields,
            max_aliases: self.max_aliases,
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            read_timeout: Duration::from_millis(self.read_timeout_ms),
            socket: websocket::SocketLimits {
                max_subscriptions_per_connection: self.max_subscriptions_per_connection,
                max_subscriptions_per_user: self.max_subscriptions_per_user,
            },
            introspection: self.introspection,
        }
    }

    /// How often one caller may call.
    pub fn rates(&self) -> RateLimits {
        RateLimits { per_user: self.rate_per_user, per_address: self.rate_per_address, burst: self.rate_burst }
    }
}
