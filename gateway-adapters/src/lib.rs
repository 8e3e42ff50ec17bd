//! Hotline's adapters to the outside: SIP/HEP3 ingestion with dialog tracking, phone
//! registration, outbound notifications and integration sync (billing, 12345).
//!
//! Built in the "Telephony" issue; until then the crate holds nothing but this map.
//!
//! # Architecture Invariants
//! - Holds no business rule: adapters turn outside signals into commands with deterministic
//!   command ids, so a duplicated packet never duplicates an event.
//! - Never panics on outside input: what cannot be parsed is counted and kept for inspection.
