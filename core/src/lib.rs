//! Renkei's domain model and database access, shared by the API and the worker.
//!
//! Nothing here knows about HTTP or GraphQL: the API and the worker depend on this crate, never
//! the other way round.

pub mod alerts;
pub mod audit;
pub mod auth;
pub mod bundles;
pub mod checklists;
pub mod config;
pub mod db;
pub mod error;
pub mod identity;
pub mod incidents;
pub mod jobs;
pub mod kpis;
pub mod mail;
pub mod metrics;
pub mod principal;
pub mod registry;
pub mod schema;
pub mod seed;
pub mod telemetry;
pub mod text;

pub use error::{Error, ErrorCode, RequestCode, Result};
pub use identity::Identity;
pub use principal::{Principal, Role};
