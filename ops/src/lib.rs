//! The `hotline` binary's commands, as a library so tests can drive them.
//!
//! - [`config`]: where the log lives (embedded SQLite under `./hotline-data/` by default, or
//!   PostgreSQL with `HOTLINE_DATABASE_URL`).
//! - [`serve`]: the HTTP service; [`http`], its accept loop and request rates; [`limits`], the
//!   flags that bound what a caller may send.
//! - [`health`]: `/healthz` (liveness), `/readyz` (readiness) and the health figures of
//!   `/metrics`: the database probe, the appends' outcome, each projection's state.
//! - [`demo`]: a realistic, seeded history generated through the real command path.
//! - [`verify`]: recomputes every stream hash and names the first altered event.
//! - [`bench`]: performance figures beside same-run baselines.
//! - [`throwaway`]: a PostgreSQL cluster of the process's own, for the bench and fault tests.
//!
//! # Architecture Invariants
//! - Holds no logic other crates need: it wires them together, parses arguments and reports.
//! - The only crate that uses `anyhow` and `#[tokio::main]`.

pub mod bench;
pub mod config;
pub mod demo;
pub mod health;
pub mod http;
pub mod limits;
pub mod serve;
pub mod throwaway;
pub mod verify;
