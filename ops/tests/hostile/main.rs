//! Issue 12: what a hostile or careless caller sends to a real `hotline serve`, and the cheap,
//! typed refusal it gets. One server (embedded SQLite in a temporary data directory) is shared by
//! every test of a test process, so a request that stops it fails every test after it; each test
//! is named by what the attacker sends.
//!
//! Requests are raw HTTP/1.1 over `TcpStream`, so a test can send exactly the bytes an attacker
//! would: broken UTF-8, a lying `Content-Length`, a body the server refuses before reading it.
//!
//! One module per kind of attack; [`support`] starts the server and speaks HTTP to it.

mod approvals;
mod input;
mod scope;
mod support;
mod tokens;
