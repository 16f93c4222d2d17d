//! GraphQL enums mirroring the domain's, one `From` each way.

use juniper::GraphQLEnum;
use renkei_core::Role as CoreRole;
use renkei_core::registry::organisations::{
    BedBand as CoreBand, HospitalFunction as CoreFunction, OrganisationKind as CoreKind,
};

/// Declares a GraphQL enum with the same variants as a domain enum, and conversions both ways.
macro_rules! mirror {
    ($(#[$meta:meta])* $name:ident <=> $core:ident { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, GraphQLEnum)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl From<$core> for $name {
            fn from(v: $core) -> Self { match v { $($core::$variant => $name::$variant),+ } }
        }

        impl From<$name> for $core {
            fn from(v: $name) -> Self { match v { $($name::$variant => $core::$variant),+ } }
        }
    };
}

mirror! {
    /// The roles of a Renkei user.
    Role <=> CoreRole {
        /// MHLW medical-information office: everything, national aggregates.
        National,
        /// Prefecture official: its prefecture's organisations, submissions and incidents.
        Prefecture,
        /// Health-centre inspector: hospitals in its jurisdiction.
        HealthCentre,
        /// A hospital's security manager or IT lead.
        HospitalAdmin,
        /// Any clinician or clerk of a hospital.
        HospitalStaff,
        /// A system vendor, for the hospitals that linked it.
        Vendor,
        /// A KPI dashboard's service account: aggregates only.
        Dashboard,
    }
}

mirror! {
    /// What an organisation is.
    OrganisationKind <=> CoreKind {
        /// The Ministry of Health, Labour and Welfare (厚生労働省).
        Ministry,
        /// A prefectural government (都道府県庁).
        PrefectureOffice,
        /// A public health centre (保健所).
        HealthCentre,
        /// A hospital (病院, 20 beds or more).
        Hospital,
        /// A clinic (診療所, 19 beds or fewer).
        Clinic,
        /// A system vendor (事業者).
        Vendor,
    }
}

mirror! {
    /// A hospital's role in regional care.
    HospitalFunction <=> CoreFunction {
        /// 災害拠点病院
        DisasterBase,
        /// 三次救急
        TertiaryEmergency,
        /// 二次救急
        SecondaryEmergency,
        /// 地域医療支援病院
        RegionalSupport,
        /// 精神科救急
        PsychiatricEmergency,
        /// 周産期母子医療センター
        PerinatalCentre,
        /// がん診療連携拠点病院
        CancerCentre,
        /// 特定機能病院
        SpecificFunction,
    }
}

/// Licensed-bed bands used in every KPI table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, GraphQLEnum)]
pub enum BedBand {
    /// Fewer than 20 beds (clinics).
    #[graphql(name = "BEDS_UNDER_20")]
    Under20,
    #[graphql(name = "BEDS_20_99")]
    From20To99,
    #[graphql(name = "BEDS_100_199")]
    From100To199,
    #[graphql(name = "BEDS_200_299")]
    From200To299,
    #[graphql(name = "BEDS_300_399")]
    From300To399,
    #[graphql(name = "BEDS_400_499")]
    From400To499,
    /// 500 beds or more.
    #[graphql(name = "BEDS_500_PLUS")]
    From500,
}

impl From<CoreBand> for BedBand {
    fn from(v: CoreBand) -> Self {
        match v {
            CoreBand::Under20 => Self::Under20,
            CoreBand::From20To99 => Self::From20To99,
            CoreBand::From100To199 => Self::From100To199,
            CoreBand::From200To299 => Self::From200To299,
            CoreBand::From300To399 => Self::From300To399,
            CoreBand::From400To499 => Self::From400To499,
            CoreBand::From500 => Self::From500,
        }
    }
}

impl From<BedBand> for CoreBand {
    fn from(v: BedBand) -> Self {
        match v {
            BedBand::Under20 => Self::Under20,
            BedBand::From20To99 => Self::From20To99,
            BedBand::From100To199 => Self::From100To199,
            BedBand::From200To299 => Self::From200To299,
            BedBand::From300To399 => Self::From300To399,
            BedBand::From400To499 => Self::From400To499,
            BedBand::From500 => Self::From500,
        }
    }
}

use renkei_core::incidents::clocks::ClockState as CoreClockState;
use renkei_core::incidents::stats::GroupBy as CoreGroupBy;
use renkei_core::incidents::{
    CareService as CoreCareService, IncidentKind as CoreIncidentKind, InfectionVector as CoreVector,
    LeakStatus as CoreLeak, Phase as CorePhase, Recipient as CoreRecipient, ReportKind as CoreReportKind,
    SpreadRisk as CoreSpread,
};

mirror! {
    /// What happened; NEAR_MISS and THREAT_INFO are lighter reports without regulatory clocks.
    IncidentKind <=> CoreIncidentKind {
        Ransomware, UnauthorisedAccess, Malware, Phishing, Dos, Other, NearMiss, ThreatInfo,
    }
}

mirror! {
    /// Where an incident stands on the MHLW flowchart.
    IncidentPhase <=> CorePhase {
        /// 検知
        Detection,
        /// 初動対応
        InitialResponse,
        /// 復旧処理
        Recovery,
        /// 事後対応
        PostIncident,
        Closed,
    }
}

mirror! {
    /// Whether personal data leaked.
    LeakStatus <=> CoreLeak { None, Suspected, Confirmed }
}

mirror! {
    /// How the attacker got in.
    InfectionVector <=> CoreVector {
        VpnDevice, RemoteDesktop, Email, UsbMedia, VendorRemoteMaintenance, SupplyChain, Other, Unknown,
    }
}

mirror! {
    /// A care service that can be suspended.
    CareService <=> CoreCareService { Emergency, Outpatient, Surgery, Admissions }
}

mirror! {
    /// The chance of further spread.
    SpreadRisk <=> CoreSpread { Unknown, Contained, Low, High }
}

mirror! {
    /// Who was told.
    NotificationRecipient <=> CoreRecipient {
        /// 厚生労働省 (flowchart 2-13)
        Mhlw,
        /// 警察 (2-18)
        Police,
        /// 都道府県
        Prefecture,
        /// 個人情報保護委員会 速報 (4-3)
        PpcPreliminary,
        /// 個人情報保護委員会 確報 (4-3)
        PpcFinal,
        /// 本人通知
        Patients,
    }
}

mirror! {
    /// Which report a version is.
    ReportKind <=> CoreReportKind { First, Update, Final }
}

mirror! {
    /// Where a regulatory clock stands.
    ClockState <=> CoreClockState {
        Running,
        /// Inside the warning period.
        DueSoon,
        Overdue,
        MetOnTime,
        MetLate,
    }
}

mirror! {
    /// How incident statistics are grouped.
    IncidentGroupBy <=> CoreGroupBy { Kind, InfectionVector, BedBand, Region, Prefecture, Month }
}

use renkei_core::checklists::catalog::{AnswerType as CoreAnswer, Form as CoreForm, ItemStatus as CoreStatus};

mirror! {
    /// Which checklist form.
    ChecklistForm <=> CoreForm {
        /// 医療機関確認用
        Hospital,
        /// 事業者確認用
        Vendor,
        /// The annual posture survey
        Survey,
    }
}

mirror! {
    /// How a checklist item is answered.
    AnswerType <=> CoreAnswer { YesNo, Number, Date, Choice, MultiChoice }
}

mirror! {
    /// An item's status in its year.
    ItemStatus <=> CoreStatus {
        /// Checked at on-site inspection.
        Required,
        /// 参考項目: asked, not checked at inspection that year.
        Reference,
        /// Not asked that year.
        Absent,
    }
}

use renkei_core::kpis::coverage::Requirement as CoreRequirement;
use renkei_core::kpis::{Dimension as CoreDimension, Metric as CoreMetric};

mirror! {
    /// A KPI (DESIGN §3). Every row gives its numerator and denominator, never only a rate.
    KpiMetric <=> CoreMetric {
        /// Hospitals with a submitted checklist / hospitals in scope.
        SubmissionRate,
        /// Respondents with a cyber BCP (survey, or checklist 3-3) / respondents.
        BcpRate,
        /// Survey respondents making EHR backups / survey respondents.
        EhrBackupRate,
        /// Respondents keeping an offline backup / respondents making EHR backups.
        OfflineBackupRate,
        /// Checklist 1-1 (security manager) yes / hospitals with a submitted checklist.
        SecurityManagerRate,
        /// Every required item yes (first or second check) / hospitals with a submitted checklist.
        FullComplianceRate,
        /// Yes / answers, per yes/no item (`item` says which).
        ItemYesRate,
        /// "No" answers past their target date with no later yes / hospitals with a submitted
        /// checklist (the rate is per hospital).
        OverdueImprovements,
        /// Hospitals meeting the 診療録管理体制加算1 criteria / hospitals in scope.
        Addon1ReadinessRate,
    }
}

mirror! {
    /// What a KPI report is grouped by.
    KpiDimension <=> CoreDimension {
        BedBand,
        Prefecture,
        Region,
        /// Critical-infrastructure designation during the fiscal year.
        Designation,
        /// Hospital function (a hospital with several counts in each; `none` for those without).
        Function,
    }
}

mirror! {
    /// Where a requirement of the designation rules stands.
    DesignationRequirement <=> CoreRequirement {
        Met,
        NotYetDue,
        Missed,
    }
}

use renkei_core::kpis::Protection as CoreProtection;

mirror! {
    /// How a KPI row's figures relate to the truth for the caller (see the README's disclosure
    /// control).
    KpiProtection <=> CoreProtection {
        /// Every hospital behind the row is one the caller may see: the figures are exact.
        Exact,
        /// Some are not: their part of each fine cell (prefecture × bed band × designation)
        /// carries a bounded noise, the same in every table, so tables still add up.
        Perturbed,
        /// As perturbed, and fewer such hospitals than the threshold: numerator and rate withheld.
        Suppressed,
    }
}
