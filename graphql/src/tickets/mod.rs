//! Tickets (工单): their GraphQL types, the ticket queries, the ticket commands and the ticket
//! subscription. Depends on no other feature.

pub mod mutation;
pub mod query;
pub mod subscription;
pub mod types;
