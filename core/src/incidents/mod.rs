//! Incident reports along the MHLW incident-response flowchart (検知 → 初動対応 → 復旧処理 →
//! 事後対応): the report and its versions, the timeline, outside notifications and their
//! regulatory clocks, tasks, and the hospital's preparedness on the eleven ransomware points.

pub mod clocks;
pub mod report;
pub mod stats;
pub mod store;

pub use report::Report;

use crate::text::text_enum;

text_enum! {
    /// What happened. `near_miss` and `threat_info` are lighter reports without clocks.
    IncidentKind {
        Ransomware = "ransomware",
        UnauthorisedAccess = "unauthorised_access",
        Malware = "malware",
        Phishing = "phishing",
        Dos = "dos",
        Other = "other",
        NearMiss = "near_miss",
        ThreatInfo = "threat_info",
    }
}

impl IncidentKind {
    /// How alerts, bundles and reports name the kind in Japanese.
    pub fn label_ja(self) -> &'static str {
        match self {
            Self::Ransomware => "ランサムウェア",
            Self::UnauthorisedAccess => "不正アクセス",
            Self::Malware => "マルウェア感染",
            Self::Phishing => "フィッシング",
            Self::Dos => "サービス妨害",
            Self::Other => "その他",
            Self::NearMiss => "ヒヤリハット",
            Self::ThreatInfo => "脅威情報",
        }
    }

    /// Near misses and threat information follow no regulatory clock and may close at once.
    pub fn is_light(self) -> bool {
        matches!(self, Self::NearMiss | Self::ThreatInfo)
    }

    /// Kinds where a leak is presumed done with wrongful intent (the 60-day PPC case) unless the
    /// report says otherwise.
    pub fn presumes_wrongful_intent(self) -> bool {
        matches!(self, Self::Ransomware | Self::UnauthorisedAccess | Self::Malware | Self::Phishing)
    }
}

text_enum! {
    /// Where the incident stands on the flowchart.
    Phase {
        Detection = "detection",
        InitialResponse = "initial_response",
        Recovery = "recovery",
        PostIncident = "post_incident",
        Closed = "closed",
    }
}

impl Phase {
    /// The phase's name on the flowchart.
    pub fn label_ja(self) -> &'static str {
        match self {
            Self::Detection => "検知",
            Self::InitialResponse => "初動対応",
            Self::Recovery => "復旧処理",
            Self::PostIncident => "事後対応",
            Self::Closed => "完了",
        }
    }

    /// The only moves: one phase forward, and closing after the post-incident phase (or at
    /// once for near misses and threat information).
    pub fn may_move(self, to: Phase, kind: IncidentKind) -> bool {
        use Phase::*;
        matches!(
            (self, to),
            (Detection, InitialResponse)
                | (InitialResponse, Recovery)
                | (Recovery, PostIncident)
                | (PostIncident, Closed)
        ) || (kind.is_light() && to == Closed && self != Closed)
    }
}

text_enum! {
    /// Whether personal data leaked.
    LeakStatus {
        None = "none",
        Suspected = "suspected",
        Confirmed = "confirmed",
    }
}

text_enum! {
    /// How the attacker got in.
    InfectionVector {
        VpnDevice = "vpn_device",
        RemoteDesktop = "remote_desktop",
        Email = "email",
        UsbMedia = "usb_media",
        VendorRemoteMaintenance = "vendor_remote_maintenance",
        SupplyChain = "supply_chain",
        Other = "other",
        Unknown = "unknown",
    }
}

text_enum! {
    /// Care services that can be suspended.
    CareService {
        Emergency = "emergency",
        Outpatient = "outpatient",
        Surgery = "surgery",
        Admissions = "admissions",
    }
}

text_enum! {
    /// The chance of further spread (flowchart 2-10).
    SpreadRisk {
        Unknown = "unknown",
        Contained = "contained",
        Low = "low",
        High = "high",
    }
}

text_enum! {
    /// Outside bodies (and people) told of the incident.
    Recipient {
        /// 厚生労働省 (flowchart 2-13)
        Mhlw = "mhlw",
        /// 警察 (2-18)
        Police = "police",
        /// 都道府県
        Prefecture = "prefecture",
        /// 個人情報保護委員会, preliminary report (速報, 4-3)
        PpcPreliminary = "ppc_preliminary",
        /// 個人情報保護委員会, final report (確報, 4-3)
        PpcFinal = "ppc_final",
        /// 本人通知: the patients concerned
        Patients = "patients",
    }
}

impl Recipient {
    /// The duty towards this recipient, as a clock's alert names it.
    pub fn report_ja(self) -> &'static str {
        match self {
            Self::Mhlw => "厚生労働省への報告",
            Self::Police => "警察への届出",
            Self::Prefecture => "都道府県への報告",
            Self::PpcPreliminary => "個人情報保護委員会への速報",
            Self::PpcFinal => "個人情報保護委員会への確報",
            Self::Patients => "本人（患者）への通知",
        }
    }
}

text_enum! {
    /// Which report a version is.
    ReportKind {
        First = "first",
        Update = "update",
        Final = "final",
    }
}
