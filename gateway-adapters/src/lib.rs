//! Hotline's adapters to the outside. Today: SIP/HEP3 ingestion — mirrored signalling in, call and
//! phone [`dialog::Signal`]s out. Later: outbound notifications and integration sync (billing, 12345).
//!
//! ```no_run
//! # async fn example() -> Result<(), hotline_gateway_adapters::listener::ListenerError> {
//! use hotline_gateway_adapters::listener::{Listener, ListenerConfig};
//!
//! let listener = Listener::bind(ListenerConfig::default()).await?; // HEP3 on 127.0.0.1:9060
//! let inspector = listener.inspector(); // counters and the last rejected datagrams
//! let (sender, mut signals) = tokio::sync::mpsc::channel(1024);
//! tokio::spawn(listener.run(sender));
//! while let Some(signal) = signals.recv().await {
//!     println!("{} {:?} ({} decoded so far)", signal.id, signal.kind, inspector.stats().decoded);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Contents
//! - [`hep`]: the strict HEP3 decoder and its encoder — [`hep::HepPacket::decode`],
//!   [`hep::HepPacket::encode`], [`hep::HepError`].
//! - [`sip`]: the SIP normaliser ([`sip::normalise`]: compact names, folded lines, comma-joined
//!   Via, LF line ends, keep-alives) and [`sip::SipParser`], which parses with `rsip` into the owned
//!   [`sip::SipMessage`] summary, or a [`sip::SipError`].
//! - [`dialog`]: [`dialog::DialogTracker`] — retransmissions, proxy double mirroring, forks, challenges,
//!   cancels, holds, transfers, registrations and time-outs — producing [`dialog::Signal`]s with
//!   deterministic ids. Its module docs state every rule.
//! - [`reorder`]: [`reorder::ReorderBuffer`], the short window that puts each call's mirrored
//!   messages back in capture order before the tracker decides.
//! - [`clock`]: [`clock::AgentClocks`], each capture agent's clock judged on its own, so one
//!   packet with a wrong time is dropped and counted instead of timing live calls out.
//! - [`listener`]: the tokio UDP [`listener::Listener`] for HEP3 and plain SIP: size cap, source allowlist,
//!   per-source rate limit, clock check, reorder window, counters ([`listener::StatsSnapshot`]) and
//!   the ring of rejected datagrams ([`listener::Inspector`]).
//! - [`ingest`]: [`ingest::Ingest`] turns signals into call and phone commands on the service
//!   (command id = signal id), with tenant, queue, seat and agent from the configuration in the log.
//! - [`fuzzing`]: the bodies of the cargo-fuzz targets in `fuzz/`, also run over the checked-in
//!   corpus by the ordinary test suite.
//! - `rig` (with the `rig` feature): real SIP peers — Kamailio mirroring HEP3 between SIPp
//!   peers, with the config template and scenarios embedded — for this crate's tests and the
//!   telephony rows of `hotline bench`.
//!
//! # Architecture Invariants
//! - Holds no business rule: adapters turn outside signals into facts with deterministic ids
//!   (UUID v5 over Call-ID, kind and what distinguishes it), so a duplicated packet never
//!   duplicates an event. Mapping numbers to queues and extensions to seats is configuration
//!   applied downstream, not here.
//! - Never panics on outside input: what cannot be parsed is counted, logged and kept for
//!   inspection; every parser is fuzzed and property-tested.
//! - Receive-only: the listeners never send a datagram, so they cannot be used as reflectors.
//! - Bounded memory: tracked dialogs, held messages, rate-limit buckets and kept rejects all have
//!   caps.
//! - No database and no clock inside the pure parts (`hep`, `sip`, `dialog`, `reorder`, `clock`):
//!   times arrive with the packet or the tick.
//!
//! # API Boundary
//! [`dialog::Signal`] and [`dialog::SignalKind`] are the contract with the command side; `rsip` types never
//! appear in the public API.

pub mod clock;
pub mod dialog;
pub mod fuzzing;
pub mod hep;
pub mod ingest;
pub mod listener;
pub mod reorder;
#[cfg(feature = "rig")]
pub mod rig;
pub mod sip;
pub mod socket;
