//! The MHLW self-assessment: checklist catalogs (fiscal year × form × items) as data.

pub mod catalog;
pub mod export;
pub mod inspections;
pub mod reminders;
pub mod submissions;
pub mod windows;
pub mod xlsx;
