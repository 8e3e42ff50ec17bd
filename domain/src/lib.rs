//! Hotline's domain: what a hotline *is*, with no I/O.
//!
//! Every aggregate is a decider: [`Decider::decide`] turns a command and the current state into
//! new events (or a typed rejection), and [`Decider::evolve`] folds one event into the state.
//! The `commands` crate loads streams, calls `decide` and appends; this crate never sees a store.
//!
//! ```
//! use hotline_domain::{Decider, ticket::{Ticket, TicketState}};
//! // A ticket that was never created rejects every command but `Create`.
//! assert!(TicketState::default().status.is_none());
//! let _ = Ticket::evolve; // `evolve(state, &event) -> state`
//! ```
//!
//! # Contents
//! - [`text`]: what text may enter the log: lengths a form field would have, no control characters.
//! - [`values`]: ids, phone numbers with masking, org paths, locations, China Standard Time.
//! - [`codec`]: the wire identity of events (`event_type` + `schema_version`) and upcasters.
//! - [`ticket`]: the work order (工单) lifecycle.
//! - [`approval`]: multi-level approvals of gated operations.
//! - [`audit`]: reads that are facts (ticket histories, unmasked numbers).
//! - [`organisation`]: group → division → subsidiary → station → grid, users and roles.
//! - [`settings`]: per-tenant ticket types, workflow nodes, deadline rules and approval chains.
//! - [`customer`]: customers and their phone numbers.
//! - [`call`]: one inbound call from offer to survey, with its waits, talk and hold times.
//! - [`agent`]: an agent's sign-in at a seat and status (idle, busy, wrap-up, away).
//! - [`phone`]: an IP phone's SIP registration (online/offline).
//! - [`telephony`]: per-tenant queues, number routing, seat ↔ phone binding and the caller blacklist.
//! - [`numbering`]: the unique human ticket number per tenant and year.
//! - [`seal`]: signed checkpoints of the log.
//! - [`export`]: compliance exports, approved by a second person and recorded.
//! - [`kpi`]: KPI formulas (接通率, 呼损率, ASA, AHT, 办结率, 满意率, …) over counted facts.
//! - [`dictionary`]: zh-CN labels of every code users see.
//!
//! # Architecture Invariants
//! - No I/O, no tokio or sqlx, never reads the clock or makes ids: they arrive with the command.
//! - `decide` holds every business rule; `evolve` holds none and never fails.
//! - Events carry the facts read models need (e.g. the computed deadline), so no projection
//!   re-derives a business fact. Events hold plain data and always deserialize.
//! - An event's wire identity is its explicit `event_type` string and integer `schema_version`;
//!   an old version is upcast on read by a pure `Value -> Value` function in [`codec`].
//!
//! # API Boundary
//! Commands, events, states and errors of this crate are the contract of every other crate.

pub mod agent;
pub mod approval;
pub mod audit;
pub mod call;
pub mod codec;
pub mod customer;
pub mod dictionary;
pub mod export;
pub mod kpi;
pub mod numbering;
pub mod organisation;
pub mod phone;
pub mod seal;
pub mod settings;
pub mod telephony;
pub mod text;
pub mod ticket;
pub mod values;

#[cfg(test)]
mod rule_names;
#[cfg(test)]
mod spec;

pub use codec::{DecodeError, EventCodec};

/// An aggregate as a pure decider.
pub trait Decider {
    /// What `evolve` folds events into; `Default` is the state of a stream with no events.
    type State: Default + Clone + Send + Sync;
    /// What callers ask for.
    type Command;
    /// What happened; one enum per stream category.
    type Event: EventCodec + Clone + Send + Sync;
    /// Why a command was refused.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The stream category (`<category>-<id>`).
    const CATEGORY: &'static str;

    /// Holds every business rule: the events a command produces, or why it is refused.
    fn decide(state: &Self::State, command: &Self::Command) -> Result<Vec<Self::Event>, Self::Error>;

    /// Every text the command would carry into the log, each with the [`text::TextRule`] it must
    /// meet. The command layer checks them ([`text::check_all`]) before deciding, so a command
    /// with a NUL byte or a 10 MB description is refused whatever its entry point.
    fn texts(command: &Self::Command) -> Vec<text::Text<'_>>;

    /// Folds one event into the state; holds no rule and cannot fail.
    fn evolve(state: Self::State, event: &Self::Event) -> Self::State;

    /// Folds a whole history.
    fn fold<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Self::State
    where
        Self::Event: 'a,
    {
        events.into_iter().fold(Self::State::default(), Self::evolve)
    }
}
