//! Telephony: calls, the agent board, call KPIs, a queue at an instant, the agent's screen pop
//! (弹屏), agents' sign-in and status, and admins' telephony configuration. Uses `tickets` and
//! `customers` for the screen pop and `kpi` for its bucket sizes; none of them uses telephony.

pub mod mutation;
pub mod query;
pub mod subscription;
pub mod types;
