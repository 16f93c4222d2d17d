//! The object, enum and input types of the schema.

pub mod audit;
pub mod bundle;
pub mod checklist;
pub mod designation;
pub mod enums;
pub mod geography;
pub mod incident;
pub mod job;
pub mod kpi;
pub mod organisation;
pub mod submission;
pub mod user;
pub mod viewer;
