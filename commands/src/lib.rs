//! The write side of Hotline: the log and command handling.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use hotline_commands::{clock::SystemClock, store::sqlite::SqliteEventStore, Hotline};
//! use std::sync::Arc;
//! let store = SqliteEventStore::open("hotline-data/hotline.db".as_ref(), Arc::new(SystemClock)).await?;
//! let hotline = Hotline::new(Arc::new(store), Arc::new(SystemClock), "hq");
//! # let _ = hotline; Ok(()) }
//! ```
//!
//! # Contents
//! - [`store`]: the [`store::EventStore`] contract, the envelope, hash chaining, SQLite and
//!   PostgreSQL backends.
//! - [`handler`]: load → decide → append with expected version, bounded retry on conflict,
//!   idempotency by command id.
//! - [`service`]: [`Hotline`], the application service: gathers what a command needs from other
//!   streams (policy, station, approval) and runs it. Every entry point (GraphQL, mobile sync,
//!   SIP, timers, CLI) goes through it.
//! - [`snapshots`]: folded states of long streams, in memory, so a load folds only their tail.
//! - [`process`]: process managers (ticket timers, the approval applier).
//! - [`seal`]: the sealer (signed Merkle checkpoints in the log) and their checker.
//! - [`witness`]: copies of the checkpoints outside the database (a witness file; NATS in
//!   `projections`), which `hotline verify --witness` checks the log against.
//! - [`bundle`]: compliance export bundles (events, inclusion proofs, signed checkpoint, zh-CN CSV)
//!   of approved export requests, and their offline verification.
//! - [`telephony`]: telephony configuration, calls, agents and phones in the service.
//! - [`clock`]: injected time.
//!
//! # Architecture Invariants
//! - Knows nothing of read models: every decision is made from streams in the log.
//! - The log is append-only; no code path here updates or deletes an event.
//! - `recorded_at` comes from the server clock here; `occurred_at` comes from the caller.
//!
//! # API Boundary
//! [`store::EventStore`] and [`Hotline`] are used by `projections`, `graphql`, `gateway-adapters`
//! and `ops`.

pub mod bundle;
pub mod clock;
pub mod handler;
pub mod process;
pub mod seal;
mod seats;
pub mod service;
pub mod snapshots;
pub mod store;
pub mod telephony;
pub mod witness;

pub use service::Hotline;
