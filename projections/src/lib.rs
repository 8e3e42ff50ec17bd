//! The read side of Hotline: projections, read models and the live feed.
//!
//! ```no_run
//! # async fn example(log: std::sync::Arc<dyn hotline_commands::store::EventStore>) -> Result<(), Box<dyn std::error::Error>> {
//! use hotline_projections::{runner::Runner, store::ReadStore, all_projections};
//! use std::sync::Arc;
//! let read = ReadStore::open_sqlite("hotline-data/readmodels.db".as_ref()).await?;
//! let runner = Arc::new(Runner::new(log, read, all_projections()));
//! runner.spawn(); // catch up, then follow the log's commit notifications
//! # Ok(()) }
//! ```
//!
//! # Contents
//! - [`store`]: the read-model database (SQLite or PostgreSQL, one SQL dialect via sqlx `Any`).
//! - [`health`]: what each projection's runner is doing (in memory), and which database errors
//!   are transient (retried) or permanent (the projection stops).
//! - [`runner`]: the [`runner::Projection`] trait and [`runner::Runner`]: events applied in
//!   batches, checkpoint committed with the writes, catch-up then live, rebuild (the log read once
//!   for all projections), read-your-writes waits, the in-process live feed.
//! - [`tickets`]: pools, ticket detail and timeline (`rm_ticket`, `rm_ticket_timeline`); folds a
//!   batch in memory and writes it with multi-row statements.
//! - [`approvals`]: pending approvals with their overdue flag (`rm_approval`).
//! - [`customers`]: customers and the phone index (`rm_customer`, `rm_customer_phone`).
//! - [`kpi`]: ticket KPIs by scope and time bucket.
//! - [`calls`]: one row per call, a caller's recent calls, a queue at an instant (`rm_call`).
//! - [`call_kpi`]: call counters per tenant, queue, agent and hour, and the call KPIs (接通率,
//!   呼损率, ASA, service level, AHT) by scope and bucket (`rm_call_kpi`).
//! - [`agents`]: the agent board with seat phones online or not (`rm_agent`, `rm_seat`,
//!   `rm_phone`).
//! - [`bus`]: the log published to NATS JetStream for other processes and systems.
//!
//! Views are typed (times as `DateTime<Utc>`, the domain's enums and ids); `columns` decodes each
//! row once where it is read, and a value that does not decode is an error naming the column and
//! the value, never a default.
//!
//! # Architecture Invariants
//! - Reads the log in order from each projection's checkpoint; never writes to the log.
//! - Every read model can be dropped and rebuilt from position 0 (`hotline rebuild`).
//! - A projection never re-derives a business fact: deadlines, first-time fix and lateness, call
//!   waits, talk and hold times, service-level verdicts and short abandons come from the events.
//!
//! # API Boundary
//! The query types (`TicketQueries`, `ApprovalQueries`, `CustomerQueries`, `CallQueries`,
//! `AgentQueries`, `ticket_kpis`, `call_kpis`) and
//! the runner are used by `graphql` and `ops`.

pub mod agents;
pub mod approvals;
pub mod bus;
pub mod call_kpi;
pub mod calls;
mod columns;
pub mod customers;
pub mod health;
pub mod kpi;
pub mod runner;
pub mod store;
pub mod tickets;

use runner::Projection;
use std::sync::Arc;

/// Every projection, in the order they are run.
pub fn all_projections() -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(tickets::TicketProjection),
        Arc::new(approvals::ApprovalProjection),
        Arc::new(customers::CustomerProjection),
        Arc::new(calls::CallProjection),
        Arc::new(call_kpi::CallKpiProjection),
        Arc::new(agents::AgentProjection),
    ]
}
