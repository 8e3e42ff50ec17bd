//! Approvals of gated operations (delay, return, void, redispatch, cancel, callback exemption):
//! their types, the approvals query, requesting and deciding one, and the pending approvals
//! subscription. Uses `tickets` to check that the caller sees the ticket.

pub mod mutation;
pub mod query;
pub mod subscription;
pub mod types;
