//! Organisations: the ministry, prefecture offices, health centres (保健所), hospitals (病院),
//! clinics (診療所) and vendors (事業者).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::authority;
use crate::db::Conn;
use crate::schema::{critical_designations, organisations, vendor_links};
use crate::text::{like_pattern, text_enum, text_field};
use crate::{Error, Principal, Result, Role};

text_enum! {
    /// What an organisation is; decides which roles its users may hold.
    OrganisationKind {
        Ministry = "ministry",
        PrefectureOffice = "prefecture_office",
        HealthCentre = "health_centre",
        Hospital = "hospital",
        Clinic = "clinic",
        Vendor = "vendor",
    }
}

impl OrganisationKind {
    /// Hospitals and clinics: the organisations that give care, have beds and a health centre.
    pub fn gives_care(self) -> bool {
        matches!(self, Self::Hospital | Self::Clinic)
    }
}

text_enum! {
    /// Roles in regional care that matter for continuity planning and designation.
    HospitalFunction {
        /// 災害拠点病院
        DisasterBase = "disaster_base",
        /// 三次救急（救命救急センター）
        TertiaryEmergency = "tertiary_emergency",
        /// 二次救急
        SecondaryEmergency = "secondary_emergency",
        /// 地域医療支援病院
        RegionalSupport = "regional_support",
        /// 精神科救急
        PsychiatricEmergency = "psychiatric_emergency",
        /// 周産期母子医療センター
        PerinatalCentre = "perinatal_centre",
        /// がん診療連携拠点病院
        CancerCentre = "cancer_centre",
        /// 特定機能病院
        SpecificFunction = "specific_function",
    }
}

/// The bed-size bands of DESIGN §3 (licensed beds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BedBand {
    Under20,
    From20To99,
    From100To199,
    From200To299,
    From300To399,
    From400To499,
    From500,
}

impl BedBand {
    pub const ALL: [BedBand; 7] = [
        BedBand::Under20,
        BedBand::From20To99,
        BedBand::From100To199,
        BedBand::From200To299,
        BedBand::From300To399,
        BedBand::From400To499,
        BedBand::From500,
    ];

    /// Inclusive lower and upper bounds of licensed beds.
    pub fn bounds(self) -> (i32, i32) {
        match self {
            BedBand::Under20 => (0, 19),
            BedBand::From20To99 => (20, 99),
            BedBand::From100To199 => (100, 199),
            BedBand::From200To299 => (200, 299),
            BedBand::From300To399 => (300, 399),
            BedBand::From400To499 => (400, 499),
            BedBand::From500 => (500, i32::MAX),
        }
    }

    pub fn of(beds: i32) -> BedBand {
        BedBand::ALL.into_iter().find(|b| beds <= b.bounds().1).unwrap_or(BedBand::From500)
    }

    /// The label used in MHLW tables.
    pub fn label(self) -> &'static str {
        match self {
            BedBand::Under20 => "<20",
            BedBand::From20To99 => "20-99",
            BedBand::From100To199 => "100-199",
            BedBand::From200To299 => "200-299",
            BedBand::From300To399 => "300-399",
            BedBand::From400To499 => "400-499",
            BedBand::From500 => "500+",
        }
    }
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = organisations)]
pub struct Organisation {
    pub id: Uuid,
    pub kind: OrganisationKind,
    pub name: String,
    pub name_en: Option<String>,
    pub prefecture_code: i16,
    pub jurisdiction_id: Option<Uuid>,
    pub licensed_beds: Option<i32>,
    pub functions: Vec<HospitalFunction>,
    pub ehr_in_use: Option<bool>,
    pub ehr_product: Option<String>,
    pub medical_institution_code: Option<String>,
    pub gmis_id: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Filters of the organisations list; all given ones must hold.
#[derive(Clone, Debug, Default)]
pub struct OrganisationFilter {
    pub prefecture: Option<i16>,
    pub kinds: Vec<OrganisationKind>,
    pub bed_band: Option<BedBand>,
    pub jurisdiction_id: Option<Uuid>,
    pub designated: Option<bool>,
    pub name_contains: Option<String>,
}

/// Keyset position: the list is ordered by (name, id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    pub name: String,
    pub id: Uuid,
}

type Boxed<'a> = organisations::BoxedQuery<'a, diesel::pg::Pg>;

/// The organisations `p` may see. The same rule as the `organisations_read` policy: the
/// resolvers apply it and PostgreSQL enforces it again, so neither alone guards a tenant.
fn visible_to(p: &Principal) -> Boxed<'static> {
    let q = organisations::table.into_boxed();
    let org = p.organisation_id.unwrap_or_default();
    match p.role {
        Role::National => q,
        Role::Prefecture => q.filter(
            organisations::prefecture_code
                .eq(p.prefecture.unwrap_or_default())
                .and(organisations::kind.ne(OrganisationKind::Ministry))
                .or(organisations::kind.eq(OrganisationKind::Vendor)),
        ),
        Role::HealthCentre => q.filter(organisations::id.eq(org).or(organisations::jurisdiction_id.eq(org))),
        Role::HospitalAdmin => q.filter(organisations::id.eq(org).or(organisations::kind.eq(OrganisationKind::Vendor))),
        Role::HospitalStaff => q.filter(organisations::id.eq(org)),
        Role::Vendor => q
            .filter(organisations::id.eq(org).or(organisations::id.eq_any(
                vendor_links::table.filter(vendor_links::vendor_id.eq(org)).select(vendor_links::hospital_id),
            ))),
        // Dashboards read aggregates only.
        Role::Dashboard => q.filter(diesel::dsl::sql::<diesel::sql_types::Bool>("false")),
    }
}

fn filtered(p: &Principal, filter: &OrganisationFilter) -> Boxed<'static> {
    let mut q = visible_to(p);
    if let Some(p) = filter.prefecture {
        q = q.filter(organisations::prefecture_code.eq(p));
    }
    if !filter.kinds.is_empty() {
        q = q.filter(organisations::kind.eq_any(filter.kinds.clone()));
    }
    if let Some(band) = filter.bed_band {
        let (low, high) = band.bounds();
        q = q.filter(organisations::licensed_beds.between(low, high));
    }
    if let Some(j) = filter.jurisdiction_id {
        q = q.filter(organisations::jurisdiction_id.eq(j));
    }
    if let Some(designated) = filter.designated {
        let today = Utc::now().date_naive();
        let current = diesel::dsl::exists(
            critical_designations::table.filter(
                critical_designations::hospital_id
                    .eq(organisations::id)
                    .and(critical_designations::designated_on.le(today))
                    .and(critical_designations::revoked_on.is_null().or(critical_designations::revoked_on.gt(today))),
            ),
        );
        q = if designated { q.filter(current) } else { q.filter(diesel::dsl::not(current)) };
    }
    if let Some(needle) = &filter.name_contains {
        let pattern = like_pattern(needle);
        q = q.filter(organisations::name.ilike(pattern.clone()).or(organisations::name_en.ilike(pattern)));
    }
    q
}

/// One page of organisations after `after`, at most `first`; the flag says whether more follow.
pub async fn list(
    conn: &mut Conn,
    p: &Principal,
    filter: &OrganisationFilter,
    first: i64,
    after: Option<Position>,
) -> Result<(Vec<Organisation>, bool)> {
    let mut q = filtered(p, filter);
    if let Some(after) = after {
        // (name, id) > (after): the first conjunct alone is what lets PostgreSQL start the
        // index scan at the cursor instead of sorting every visible organisation.
        q = q
            .filter(organisations::name.ge(after.name.clone()))
            .filter(organisations::name.gt(after.name).or(organisations::id.gt(after.id)));
    }
    let mut rows: Vec<Organisation> = q
        .select(Organisation::as_select())
        .order((organisations::name, organisations::id))
        .limit(first + 1)
        .load(conn)
        .await?;
    let more = rows.len() as i64 > first;
    rows.truncate(first as usize);
    Ok((rows, more))
}

pub async fn count(conn: &mut Conn, p: &Principal, filter: &OrganisationFilter) -> Result<i64> {
    Ok(filtered(p, filter).count().get_result(conn).await?)
}

/// The organisation, if it exists and the caller may see it.
pub async fn find(conn: &mut Conn, p: &Principal, id: Uuid) -> Result<Option<Organisation>> {
    Ok(visible_to(p).filter(organisations::id.eq(id)).select(Organisation::as_select()).first(conn).await.optional()?)
}

pub async fn get(conn: &mut Conn, p: &Principal, id: Uuid) -> Result<Organisation> {
    find(conn, p, id).await?.ok_or_else(|| Error::not_found("organisation"))
}

/// A new organisation, validated before it reaches the database.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = organisations)]
pub struct NewOrganisation {
    pub kind: OrganisationKind,
    pub name: String,
    pub name_en: Option<String>,
    pub prefecture_code: i16,
    pub jurisdiction_id: Option<Uuid>,
    pub licensed_beds: Option<i32>,
    pub functions: Vec<HospitalFunction>,
    pub ehr_in_use: Option<bool>,
    pub ehr_product: Option<String>,
    pub medical_institution_code: Option<String>,
    pub gmis_id: Option<String>,
}

fn check_beds(kind: OrganisationKind, beds: Option<i32>) -> Result<()> {
    match (kind, beds) {
        (_, Some(b)) if !(0..=5000).contains(&b) => {
            Err(Error::bad_input(format!("licensedBeds: must be between 0 and 5000 (got {b})")))
        }
        (OrganisationKind::Hospital, None) => Err(Error::bad_input("licensedBeds: required for a hospital")),
        (OrganisationKind::Hospital, Some(b)) if b < 20 => Err(Error::bad_input(format!(
            "licensedBeds: a hospital has 20 beds or more (got {b}; fewer makes it a clinic)"
        ))),
        (OrganisationKind::Clinic, Some(b)) if b > 19 => {
            Err(Error::bad_input(format!("licensedBeds: a clinic has at most 19 beds (got {b})")))
        }
        (k, Some(_)) if !k.gives_care() => Err(Error::bad_input("licensedBeds: only hospitals and clinics have beds")),
        _ => Ok(()),
    }
}

pub(crate) fn check_identifiers(code: Option<&str>, gmis: Option<&str>) -> Result<()> {
    if let Some(code) = code
        && (code.len() != 10 || !code.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(Error::bad_input("medicalInstitutionCode: must be 10 digits"));
    }
    if let Some(gmis) = gmis
        && (gmis.is_empty() || gmis.len() > 32 || !gmis.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    {
        return Err(Error::bad_input("gmisId: 1 to 32 letters, digits or hyphens"));
    }
    Ok(())
}

impl NewOrganisation {
    /// An organisation with a name and a prefecture and nothing else yet.
    pub fn named(kind: OrganisationKind, name: String, name_en: Option<String>, prefecture_code: i16) -> Self {
        Self {
            kind,
            name,
            name_en,
            prefecture_code,
            jurisdiction_id: None,
            licensed_beds: None,
            functions: Vec::new(),
            ehr_in_use: None,
            ehr_product: None,
            medical_institution_code: None,
            gmis_id: None,
        }
    }

    /// Trims text, checks every field and names the first that breaks a rule.
    pub fn validated(mut self) -> Result<Self> {
        self.name = text_field("name", &self.name, 200)?;
        self.name_en = self.name_en.map(|n| text_field("nameEn", &n, 200)).transpose()?;
        self.ehr_product = self.ehr_product.map(|n| text_field("ehrProduct", &n, 200)).transpose()?;
        if !(1..=47).contains(&self.prefecture_code) {
            return Err(Error::bad_input(format!("prefecture: unknown prefecture code {}", self.prefecture_code)));
        }
        check_beds(self.kind, self.licensed_beds)?;
        check_identifiers(self.medical_institution_code.as_deref(), self.gmis_id.as_deref())?;
        // The code's first two digits are its prefecture (都道府県番号); PostgreSQL checks it again.
        if let Some(code) = &self.medical_institution_code
            && code.get(..2) != Some(format!("{:02}", self.prefecture_code).as_str())
        {
            return Err(Error::bad_input("medicalInstitutionCode: must start with the prefecture's two-digit code"));
        }
        if !self.kind.gives_care() {
            if self.jurisdiction_id.is_some() {
                return Err(Error::bad_input("healthCentreId: only hospitals and clinics belong to a health centre"));
            }
            if !self.functions.is_empty() {
                return Err(Error::bad_input("functions: only hospitals and clinics have care functions"));
            }
            if self.medical_institution_code.is_some() || self.gmis_id.is_some() {
                return Err(Error::bad_input("medicalInstitutionCode/gmisId: only for hospitals and clinics"));
            }
        }
        self.functions.sort();
        self.functions.dedup();
        Ok(self)
    }
}

/// Registers an organisation, as `p` may ([`authority::may_register`]); the health centre it
/// names, if any, must be one of its prefecture's.
pub async fn create(conn: &mut Conn, p: &Principal, new: NewOrganisation) -> Result<Organisation> {
    authority::may_register(p, new.kind, new.prefecture_code)?;
    let new = new.validated()?;
    if let Some(centre) = new.jurisdiction_id {
        health_centre_of(conn, p, centre, new.prefecture_code).await?;
    }
    Ok(diesel::insert_into(organisations::table)
        .values(&new)
        .returning(Organisation::as_returning())
        .get_result(conn)
        .await?)
}

/// Changes to an organisation; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, AsChangeset)]
#[diesel(table_name = organisations)]
pub struct OrganisationChanges {
    pub name: Option<String>,
    pub name_en: Option<String>,
    pub licensed_beds: Option<i32>,
    pub functions: Option<Vec<HospitalFunction>>,
    pub ehr_in_use: Option<bool>,
    pub ehr_product: Option<String>,
    pub medical_institution_code: Option<String>,
    pub gmis_id: Option<String>,
    pub active: Option<bool>,
}

impl OrganisationChanges {
    /// Whether only the fields a hospital may keep current itself are touched.
    pub fn only_ehr_details(&self) -> bool {
        let Self {
            name,
            name_en,
            licensed_beds,
            functions,
            ehr_in_use: _,
            ehr_product: _,
            medical_institution_code,
            gmis_id,
            active,
        } = self;
        name.is_none()
            && name_en.is_none()
            && licensed_beds.is_none()
            && functions.is_none()
            && medical_institution_code.is_none()
            && gmis_id.is_none()
            && active.is_none()
    }

    fn is_empty(&self) -> bool {
        self.only_ehr_details() && self.ehr_in_use.is_none() && self.ehr_product.is_none()
    }
}

/// Applies `changes`, as `p` may ([`authority::may_change`]), after checking them against the
/// organisation as it stands.
pub async fn update(
    conn: &mut Conn,
    p: &Principal,
    id: Uuid,
    mut changes: OrganisationChanges,
) -> Result<Organisation> {
    authority::may_change(p, id, &changes)?;
    let current = get(conn, p, id).await?;
    authority::may_change_entry(p, &current)?;
    if changes.is_empty() {
        return Ok(current);
    }
    changes.name = changes.name.map(|n| text_field("name", &n, 200)).transpose()?;
    changes.name_en = changes.name_en.map(|n| text_field("nameEn", &n, 200)).transpose()?;
    changes.ehr_product = changes.ehr_product.map(|n| text_field("ehrProduct", &n, 200)).transpose()?;
    if changes.licensed_beds.is_some() {
        check_beds(current.kind, changes.licensed_beds)?;
    }
    check_identifiers(changes.medical_institution_code.as_deref(), changes.gmis_id.as_deref())?;
    if !current.kind.gives_care()
        && (changes.functions.as_ref().is_some_and(|f| !f.is_empty())
            || changes.medical_institution_code.is_some()
            || changes.gmis_id.is_some())
    {
        return Err(Error::bad_input("functions and medical identifiers apply only to hospitals and clinics"));
    }
    if let Some(f) = changes.functions.as_mut() {
        f.sort();
        f.dedup();
    }
    let updated = diesel::update(organisations::table.find(id))
        .set(&changes)
        .returning(Organisation::as_returning())
        .get_result(conn)
        .await
        .optional()?;
    updated.ok_or_else(|| Error::forbidden("not allowed to change this organisation"))
}

/// Puts a hospital or clinic under a health centre's jurisdiction (or none).
pub async fn set_jurisdiction(
    conn: &mut Conn,
    p: &Principal,
    hospital_id: Uuid,
    health_centre_id: Option<Uuid>,
) -> Result<Organisation> {
    authority::may_assign_health_centre(p)?;
    let hospital = get(conn, p, hospital_id).await?;
    authority::may_change_entry(p, &hospital)?;
    if !hospital.kind.gives_care() {
        return Err(Error::bad_input("hospitalId: not a hospital or clinic"));
    }
    if let Some(centre) = health_centre_id {
        health_centre_of(conn, p, centre, hospital.prefecture_code).await?;
    }
    let updated = diesel::update(organisations::table.find(hospital_id))
        .set(organisations::jurisdiction_id.eq(health_centre_id))
        .returning(Organisation::as_returning())
        .get_result(conn)
        .await
        .optional()?;
    updated.ok_or_else(|| Error::forbidden("not allowed to change this organisation"))
}

/// Checks that `id` is a health centre of `prefecture`, for a hospital there to be put under it.
async fn health_centre_of(conn: &mut Conn, p: &Principal, id: Uuid, prefecture: i16) -> Result<()> {
    let centre = find(conn, p, id).await?.ok_or_else(|| Error::bad_input("healthCentreId: no such health centre"))?;
    if centre.kind != OrganisationKind::HealthCentre {
        return Err(Error::bad_input("healthCentreId: not a health centre"));
    }
    if centre.prefecture_code != prefecture {
        return Err(Error::bad_input("healthCentreId: the health centre is in another prefecture"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bed_bands_cover_every_bed_count_once() {
        assert_eq!(BedBand::of(0), BedBand::Under20);
        assert_eq!(BedBand::of(19), BedBand::Under20);
        assert_eq!(BedBand::of(20), BedBand::From20To99);
        assert_eq!(BedBand::of(199), BedBand::From100To199);
        assert_eq!(BedBand::of(499), BedBand::From400To499);
        assert_eq!(BedBand::of(500), BedBand::From500);
        assert_eq!(BedBand::of(5000), BedBand::From500);
        for beds in 0..=1000 {
            let band = BedBand::of(beds);
            let (low, high) = band.bounds();
            assert!(low <= beds && beds <= high, "{beds} in {}", band.label());
        }
    }

    #[test]
    fn hospitals_and_clinics_are_told_apart_by_beds() {
        assert!(check_beds(OrganisationKind::Hospital, Some(20)).is_ok());
        assert!(check_beds(OrganisationKind::Hospital, Some(19)).is_err());
        assert!(check_beds(OrganisationKind::Clinic, Some(19)).is_ok());
        assert!(check_beds(OrganisationKind::Clinic, Some(20)).is_err());
        assert!(check_beds(OrganisationKind::Clinic, Some(-1)).is_err());
        assert!(check_beds(OrganisationKind::Vendor, Some(1)).is_err());
        assert!(check_beds(OrganisationKind::Vendor, None).is_ok());
    }
}
