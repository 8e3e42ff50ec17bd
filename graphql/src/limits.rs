//! What a `POST /graphql` may be before the engine sees it: the body's size, its media type, its
//! nesting, how long it may take to arrive, and the GraphQL-shaped refusal ([`Refusal`]) of
//! anything else. [`Limits`] also holds what a document may cost and how long it may run, which
//! `crate::guard` enforces for HTTP and WebSocket alike, what a WebSocket connection may hold
//! ([`SocketLimits`]) and who may introspect the schema ([`Introspection`]).
//!
//! Every check here is a flat loop over bytes: nothing recurses on what a caller sent until the
//! nesting is known to be shallow, so a deep document is refused instead of overflowing the stack.

use crate::introspection::Introspection;
use crate::websocket::SocketLimits;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::time::Duration;

/// Limits of one HTTP request to the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest body read from an authenticated caller (413 beyond it).
    pub max_body_bytes: usize,
    /// Largest body read from a caller without a valid token (401 beyond it): enough for any
    /// query an anonymous caller may run, too little to make the server parse for long.
    pub max_anonymous_body_bytes: usize,
    /// Deepest nesting of brackets, braces and parentheses outside string literals and comments,
    /// in the JSON body and in the GraphQL document.
    pub max_nesting: usize,
    /// Longest GraphQL document (the `query` text), in bytes.
    pub max_document_bytes: usize,
    /// Most lexical tokens in a document.
    pub max_tokens: usize,
    /// Most fields a document selects, `__typename` included and each fragment counted as often
    /// as it is spread.
    pub max_fields: usize,
    /// Most aliased fields in a document, counted the same way.
    pub max_aliases: usize,
    /// Longest a query or mutation runs before it is cancelled (`TIMEOUT`).
    pub request_timeout: Duration,
    /// Longest a caller may take to send a request's head, and then its body (408).
    pub read_timeout: Duration,
    /// What a WebSocket connection, and one user over their connections, may hold.
    pub socket: SocketLimits,
    /// Who may introspect the schema.
    pub introspection: Introspection,
}

/// 1 MiB: a page of offline commands from the field app is well under it.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// 64 KiB.
pub const DEFAULT_MAX_ANONYMOUS_BODY_BYTES: usize = 64 * 1024;
/// 64 levels: the deepest real query (depth limit 10, nested input objects) needs about 20.
pub const DEFAULT_MAX_NESTING: usize = 64;
/// 64 KiB: the largest real document (the schema's every ticket field, twice) is under 4 KiB.
pub const DEFAULT_MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// 10,000 tokens.
pub const DEFAULT_MAX_TOKENS: usize = 10_000;
/// 2,000 fields: a ticket page with every field is about 60.
pub const DEFAULT_MAX_FIELDS: usize = 2_000;
/// 100 aliases: a wallboard asking for every KPI of every station of a subsidiary under its own
/// name uses about 40.
pub const DEFAULT_MAX_ALIASES: usize = 100;
/// 30 s: a month's KPIs over PostgreSQL take well under a second.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// 10 s, for the head and again for the body: a field app on a poor mobile link sends a 1 MiB
/// sync batch in that time.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_anonymous_body_bytes: DEFAULT_MAX_ANONYMOUS_BODY_BYTES,
            max_nesting: DEFAULT_MAX_NESTING,
            max_document_bytes: DEFAULT_MAX_DOCUMENT_BYTES,
            max_tokens: DEFAULT_MAX_TOKENS,
            max_fields: DEFAULT_MAX_FIELDS,
            max_aliases: DEFAULT_MAX_ALIASES,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
            socket: SocketLimits::default(),
            introspection: Introspection::default(),
        }
    }
}

/// A request refused before execution, answered as GraphQL-shaped JSON with `extensions.code`.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The body is larger than the limit (413).
    #[error("the request body is larger than {limit} bytes")]
    TooLarge {
        /// The limit that applied.
        limit: usize,
    },
    /// A caller without a valid token sent a body larger than anonymous callers may (401).
    #[error("a bearer token is required for a request body larger than {limit} bytes")]
    LargeAnonymous {
        /// The anonymous limit.
        limit: usize,
    },
    /// The media type is not JSON (415).
    #[error("the request body must be application/json")]
    MediaType,
    /// The body is empty, not UTF-8 or not a GraphQL request in JSON (400).
    #[error("the request body is not a GraphQL request in JSON: {0}")]
    Malformed(String),
    /// The body or the document nests deeper than the limit (400).
    #[error("the request nests deeper than {limit} brackets, braces or parentheses")]
    TooDeep {
        /// The limit that applied.
        limit: usize,
    },
    /// The body could not be read (400).
    #[error("the request body could not be read")]
    Unreadable,
    /// The body did not arrive within the read time limit (408).
    #[error("the request body did not arrive within {seconds} s")]
    Slow {
        /// The limit that applied.
        seconds: u64,
    },
}

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Refusal::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::LargeAnonymous { .. } => StatusCode::UNAUTHORIZED,
            Refusal::MediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Refusal::Slow { .. } => StatusCode::REQUEST_TIMEOUT,
            Refusal::Malformed(_) | Refusal::TooDeep { .. } | Refusal::Unreadable => StatusCode::BAD_REQUEST,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Refusal::LargeAnonymous { .. } => "UNAUTHENTICATED",
            Refusal::Slow { .. } => "TIMEOUT",
            _ => "INVALID_INPUT",
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = json!({ "errors": [{ "message": self.to_string(), "extensions": { "code": self.code() } }] });
        let mut response = (self.status(), axum::Json(body)).into_response();
        if matches!(self, Refusal::LargeAnonymous { .. }) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The body's declared length, when the caller declared one.
pub(crate) fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

/// JSON, or no media type at all (curl's habit); anything else is refused.
pub(crate) fn check_media_type(headers: &HeaderMap) -> Result<(), Refusal> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else { return Ok(()) };
    let value = value.to_str().map_err(|_| Refusal::MediaType)?;
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/json" | "application/graphql-response+json" => Ok(()),
        _ => Err(Refusal::MediaType),
    }
}

/// How strings are written in the text being measured.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Syntax {
    /// `"…"` with backslash escapes.
    Json,
    /// `"…"` with backslash escapes, `"""…"""` block strings and `#` comments.
    GraphQl,
}

/// Refuses text whose brackets, braces and parentheses (counted outside strings and comments) nest deeper than
/// `limit`. Unbalanced text is left to the parser to refuse.
pub(crate) fn check_nesting(text: &[u8], syntax: Syntax, limit: usize) -> Result<(), Refusal> {
    let graphql = matches!(syntax, Syntax::GraphQl);
    let mut depth = 0usize;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'[' | b'{' | b'(' => {
                depth += 1;
                if depth > limit {
                    return Err(Refusal::TooDeep { limit });
                }
            }
            b']' | b'}' | b')' => depth = depth.saturating_sub(1),
            b'#' if graphql => {
                while i < text.len() && text[i] != b'\n' && text[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if graphql && text[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < text.len() && !text[i..].starts_with(b"\"\"\"") {
                    // A block string escapes only its closing quotes.
                    i += if text[i..].starts_with(b"\\\"\"\"") { 4 } else { 1 };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < text.len() && text[i] != b'"' {
                    i += if text[i] == b'\\' { 2 } else { 1 };
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, syntax: Syntax, limit: usize, deep: bool) {
        let refused = matches!(check_nesting(text.as_bytes(), syntax, limit), Err(Refusal::TooDeep { .. }));
        assert_eq!(refused, deep, "{text}");
    }

    #[test]
    fn nesting_is_counted_outside_strings_and_comments() {
        check("{ a(x: [[1]]) }", Syntax::GraphQl, 4, false);
        check("{ a(x: [[[1]]]) }", Syntax::GraphQl, 4, true);
        check(r#"{ a(x: "[[[[[[") }"#, Syntax::GraphQl, 4, false);
        check(r#"{ a(x: "\"[[[[[[") }"#, Syntax::GraphQl, 4, false);
        check("{ a(x: \"\"\"[[[[\"[[\"\"\") }", Syntax::GraphQl, 4, false);
        check("# [[[[[[\n{ a }", Syntax::GraphQl, 4, false);
        check(r#"{"query": "{{{{{{{{", "variables": {"a": [[1]]}}"#, Syntax::Json, 4, false);
        check(r#"{"variables": {"a": [[[1]]]}}"#, Syntax::Json, 4, true);
    }
}
