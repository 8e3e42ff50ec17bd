//! The read side of Hotline: projections, read models and the live feed.
//!
//! Owns the projection trait and runner (checkpoint committed in the same transaction as the
//! read-model writes), the read models (ticket pools, ticket detail and timeline, pending
//! approvals, customer index, KPIs), the live bus (in-process or NATS JetStream), the sealer and
//! rebuilds. It is built in the "Projections, read models, the live bus" issue; until then the
//! crate holds nothing but this map.
//!
//! # Architecture Invariants
//! - Reads the log in order from its own checkpoint; never writes to it except through
//!   `commands`.
//! - Every read model can be dropped and rebuilt from position 0.
//!
//! # API Boundary
//! Read-model views are used by `graphql`; the live feed by `graphql` and `gateway-adapters`.
