//! Issue 12: what a hostile or careless caller sends to a real `hotline serve`, and the cheap,
//! typed refusal it gets. One server (embedded SQLite in a temporary data directory) is shared by
//! every test of a test process, so a request that stops it fails every test after it; each test
//! is named by what the attacker sends.
//!
//! Requests are raw HTTP/1.1 over `TcpStream`, so a test can send exactly the bytes an attacker
//! would: broken UTF-8, a lying `Content-Length`, a body the server refuses before reading it.
//! WebSocket tests speak graphql-transport-ws (and the older graphql-ws) through tokio-tungstenite.
//!
//! One module per kind of attack; [`support`] starts the servers and speaks HTTP to them. What
//! only PostgreSQL refuses (a NUL in `text`) runs against a second, PostgreSQL-backed server
//! ([`support::postgres_server`], a fresh database on `HOTLINE_TEST_DATABASE_URL`).

mod approvals;
mod audit;
mod cost;
#[path = "../../../commands/tests/support/mod.rs"]
mod db;
mod idempotency;
mod input;
mod introspection;
mod scope;
mod support;
mod text;
mod tokens;
mod websocket;
