//! The one API of Hotline: the async-graphql schema, the axum router, authentication, RBAC,
//! tenant scoping and limits.
//!
//! Built in the "GraphQL API and `hotline serve`" issue; until then the crate holds nothing but
//! this map, and `hotline serve` answers only `GET /healthz`.
//!
//! # Architecture Invariants
//! - The only crate that knows GraphQL: it has its own DTOs; domain types never derive GraphQL
//!   traits.
//! - Holds no business rule and no SQL that belongs to a read model.
//!
//! # API Boundary
//! The GraphQL schema (kept as an insta snapshot) is the contract with every frontend.
