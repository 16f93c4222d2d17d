//! The registry of DESIGN §2: prefectures and regions, organisations, their users, vendor links
//! and critical-infrastructure designations.

pub mod authority;
pub mod designations;
pub mod geography;
pub mod organisations;
pub mod users;
pub mod vendors;
