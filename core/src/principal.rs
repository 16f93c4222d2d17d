//! Who is asking: the role and organisation a verified token speaks for.

use uuid::Uuid;

use crate::text::text_enum;
use crate::{Error, Result};

text_enum! {
    /// The roles of DESIGN §1.
    Role {
        /// MHLW medical-information office (厚生労働省).
        National = "national",
        /// Prefecture official (都道府県).
        Prefecture = "prefecture",
        /// Inspector at a public health centre (保健所).
        HealthCentre = "health_centre",
        /// The hospital's security manager (医療情報システム安全管理責任者) or IT lead.
        HospitalAdmin = "hospital_admin",
        /// Any clinician or clerk of a hospital.
        HospitalStaff = "hospital_staff",
        /// A system vendor (事業者) linked by hospitals.
        Vendor = "vendor",
        /// A national KPI dashboard's service account.
        Dashboard = "dashboard",
    }
}

impl Role {
    /// Roles that act for one organisation and cannot work without it.
    pub fn needs_organisation(self) -> bool {
        matches!(self, Role::HealthCentre | Role::HospitalAdmin | Role::HospitalStaff | Role::Vendor)
    }
}

/// The caller of one request. Built only from a verified token (or by admin commands), and
/// written into every transaction as `renkei.*` settings that the RLS policies read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The token's `sub`.
    pub subject: String,
    pub role: Role,
    pub organisation_id: Option<Uuid>,
    /// JIS code of the prefecture a `prefecture` official works for.
    pub prefecture: Option<i16>,
}

impl Principal {
    /// Checks the claims make sense together, so that no half-formed principal reaches the
    /// database: a prefecture official needs a prefecture, a hospital user a hospital.
    pub fn new(subject: String, role: Role, organisation_id: Option<Uuid>, prefecture: Option<i16>) -> Result<Self> {
        if subject.is_empty() || subject.len() > 255 || subject.chars().any(char::is_control) {
            return Err(Error::unauthenticated("token subject missing, too long or not text"));
        }
        if role.needs_organisation() && organisation_id.is_none() {
            return Err(Error::unauthenticated(format!("a {role} token must name an organisation")));
        }
        if role == Role::Prefecture && !matches!(prefecture, Some(1..=47)) {
            return Err(Error::unauthenticated("a prefecture token must name a prefecture (1-47)"));
        }
        Ok(Self { subject, role, organisation_id, prefecture })
    }

    /// A principal for admin commands and seeding, which act for the ministry.
    pub fn system() -> Self {
        Self { subject: "renkei-system".into(), role: Role::National, organisation_id: None, prefecture: None }
    }

    pub fn is(&self, role: Role) -> bool {
        self.role == role
    }

    /// What row-level security tells callers apart by: the values of the `renkei.role`,
    /// `renkei.org` and `renkei.prefecture` settings a tenant transaction carries, which every
    /// policy reads. Whatever is kept per caller (the KPI answers) is keyed by the same three,
    /// so that nothing kept crosses a line the policies draw.
    pub fn rls_settings(&self) -> [String; 3] {
        [
            self.role.as_str().to_owned(),
            self.organisation_id.map(|o| o.to_string()).unwrap_or_default(),
            self.prefecture.map(|p| p.to_string()).unwrap_or_default(),
        ]
    }

    pub fn is_any(&self, roles: &[Role]) -> bool {
        roles.contains(&self.role)
    }

    /// Fails with FORBIDDEN unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role], action: &str) -> Result<()> {
        if self.is_any(roles) { Ok(()) } else { Err(Error::forbidden(format!("role {} may not {action}", self.role))) }
    }
}
