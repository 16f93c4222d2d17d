//! Answers to KPI queries, kept until the KPI data changes. Dashboards ask the same few reports
//! over and over, and a national report is ~2,500 rows: most of its cost is GraphQL resolving
//! and writing them, not the database. An answer is kept per caller's view (role, organisation,
//! prefecture — what row-level security decides on), day (open improvements depend on it) and
//! operation text with its variables, and is used only while `kpi_generation`, which every change
//! to the facts, sums, registry or designations moves inside its own transaction, still has the
//! number read before the answer was computed. So an answer can only be as old as the
//! generation it was filed under, never older.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use renkei_core::Principal;
use serde_json::value::RawValue;

/// The operations answered from the cache: those whose every root field is one of these.
const CACHEABLE: &[&str] = &["kpiReport"];

/// `KPI_CACHE_ENTRIES` when unset.
pub const DEFAULT_ENTRIES: usize = 256;

pub struct KpiCache {
    entries: Mutex<HashMap<String, (i64, Arc<RawValue>)>>,
    /// Kept answers, at most (`KPI_CACHE_ENTRIES`; a national report is ~200 kB); 0 keeps none.
    capacity: usize,
}

impl Default for KpiCache {
    fn default() -> Self {
        Self::new(DEFAULT_ENTRIES)
    }
}

impl KpiCache {
    pub fn new(capacity: usize) -> Self {
        Self { entries: Mutex::default(), capacity }
    }

    /// Whether an operation with these root fields may be answered from the cache.
    pub fn cacheable<'a>(mut root_fields: impl Iterator<Item = &'a str>) -> bool {
        let mut any = false;
        let all = root_fields.all(|name| {
            any = true;
            CACHEABLE.contains(&name)
        });
        any && all
    }

    pub fn key(principal: &Principal, today: impl std::fmt::Display, operation: &str, variables: &str) -> String {
        let [role, organisation, prefecture] = principal.rls_settings();
        format!("{role}\u{1f}{organisation}\u{1f}{prefecture}\u{1f}{today}\u{1f}{operation}\u{1f}{variables}")
    }

    pub fn get(&self, key: &str, generation: i64) -> Option<Arc<RawValue>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(key).filter(|(g, _)| *g == generation).map(|(_, answer)| answer.clone())
    }

    pub fn put(&self, key: String, generation: i64, answer: Arc<RawValue>) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            // Answers of older generations go first; failing that, start over.
            entries.retain(|_, (g, _)| *g == generation);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (generation, answer));
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn only_operations_of_kpi_reports_alone_are_cacheable() {
        assert!(KpiCache::cacheable(["kpiReport", "kpiReport"].into_iter()));
        assert!(!KpiCache::cacheable(["kpiReport", "viewer"].into_iter()));
        assert!(!KpiCache::cacheable(std::iter::empty()));
    }

    /// What row-level security tells apart, and the day (open improvements depend on it), each
    /// give a key of their own; the rest of the view is the operation and its variables.
    #[test]
    fn a_key_differs_by_every_part_of_the_view_and_by_day() {
        use renkei_core::Role;
        let org = uuid::Uuid::from_u128(1);
        let day = renkei_core::kpis::today();
        let key = |p: &Principal, d| KpiCache::key(p, d, "{ kpiReport }", "{}");
        let official = Principal::new("a".into(), Role::Prefecture, Some(org), Some(13)).expect("p");
        let views = [
            official.clone(),
            Principal::new("a".into(), Role::Prefecture, Some(org), Some(27)).expect("p"),
            Principal::new("a".into(), Role::Prefecture, Some(uuid::Uuid::from_u128(2)), Some(13)).expect("p"),
            Principal::new("a".into(), Role::HealthCentre, Some(org), Some(13)).expect("p"),
            Principal::new("a".into(), Role::Dashboard, None, None).expect("p"),
            Principal::new("a".into(), Role::National, None, None).expect("p"),
        ];
        let keys: std::collections::HashSet<String> = views.iter().map(|p| key(p, day)).collect();
        assert_eq!(keys.len(), views.len(), "each view its own key");
        assert_ne!(key(&official, day), key(&official, day.succ_opt().expect("next")), "a new day, a new key");
        let other_user = Principal::new("b".into(), Role::Prefecture, Some(org), Some(13)).expect("p");
        assert_eq!(key(&official, day), key(&other_user, day), "two officials of one office share answers");
        assert_ne!(
            KpiCache::key(&official, day, "{ kpiReport }", "{}"),
            KpiCache::key(&official, day, "{ kpiReport }", "{\"fy\":1}"),
        );
    }

    #[test]
    fn an_answer_serves_only_its_own_generation() {
        let cache = KpiCache::default();
        let answer: Arc<RawValue> = RawValue::from_string("{\"data\":1}".into()).expect("raw").into();
        cache.put("k".into(), 7, answer);
        assert!(cache.get("k", 7).is_some());
        assert!(cache.get("k", 8).is_none());
        assert!(cache.get("other", 7).is_none());
        let off = KpiCache::new(0);
        off.put("k".into(), 7, RawValue::from_string("1".into()).expect("raw").into());
        assert!(off.get("k", 7).is_none(), "0 entries: nothing kept");
    }
}
