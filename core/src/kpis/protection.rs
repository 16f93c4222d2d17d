//! Disclosure control for KPI reports: what a caller may not see is perturbed once, at the
//! finest cells, and every table is summed from those perturbed cells.
//!
//! Why this and not complementary suppression (what Renkei did before): every report a caller
//! can ask for — national, regional or prefectural scope, any grouping — is a sum of the cells
//! prefecture × bed band × designation (× function for the function tables). Suppression chose
//! its complements per table, so one table's hidden cell was another's shown cell, and sums
//! across scopes, bounds (0 ≤ numerator ≤ denominator) and denominators that are other metrics'
//! numerators recovered cells of one to four hospitals. Here the part of a fine cell that the
//! caller may not see gets a fixed, bounded noise before anything is summed, so:
//!
//! - every table adds up, and the same cell has the same value in every table: subtraction,
//!   differencing across scopes and combining tables can give back the perturbed fine cells,
//!   never more;
//! - a perturbed value `v` only says that the true one lies in `v − D ..= v + D` (within its
//!   bounds), so no count — a zero or a full cell included — is determined, and no hospital's
//!   answer follows from it;
//! - the noise is a keyed hash of the cell, the count and its true value (the key is a secret
//!   kept in the database, migration `kpi_protection`): the same question gets the same answer
//!   every time, so asking again and averaging gains nothing, and it moves only when that count
//!   moves.
//!
//! Counts, not metrics, are perturbed, once per fine cell, parents first: the offline-backup
//! denominator *is* the EHR-backup numerator, the security-manager, full-compliance and overdue
//! denominators *are* the submission numerator, so a hidden number cannot be read from the same
//! cell of another metric, and a numerator never exceeds its denominator.
//!
//! The ministry, and every caller for the hospitals it may see (its row-level security on the
//! facts), get exact figures. Cells with fewer hidden hospitals than the threshold are, in
//! addition, not shown (numerator and rate withheld) — judged on the perturbed count, so the flag
//! tells nothing the figures do not.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::Metric;

/// How a row's figures relate to the truth, for the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protection {
    /// Every hospital behind the row is one the caller may see.
    Exact,
    /// Some are not: their part is perturbed by at most the noise bound per fine cell.
    Perturbed,
    /// As perturbed, and too few hospitals the caller may not see to show the numerator.
    Suppressed,
}

/// The quantities behind the metrics: each metric is a ratio of two of them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Count {
    /// Hospitals in scope.
    Scope,
    /// With a submitted checklist.
    Submitted,
    /// With a submitted checklist or survey.
    Respondents,
    Surveyed,
    Bcp,
    EhrBackup,
    OfflineBackup,
    SecurityManager,
    FullyCompliant,
    Addon1Ready,
    /// Overdue improvements (answers, not hospitals).
    Overdue,
    /// Hospitals that answered an item yes or no.
    Answered(String),
    /// Of those, yes.
    Yes(String),
}

impl Count {
    /// The count this one can never exceed (numerators are perturbed within their parent's
    /// perturbed value). Overdue improvements count answers, not hospitals: no parent.
    fn parent(&self) -> Option<Count> {
        use Count::*;
        match self {
            Scope | Overdue => None,
            Submitted | Respondents | Surveyed | Addon1Ready | Answered(_) => Some(Scope),
            Bcp => Some(Respondents),
            EhrBackup => Some(Surveyed),
            OfflineBackup => Some(EhrBackup),
            SecurityManager | FullyCompliant => Some(Submitted),
            Yes(code) => Some(Answered(code.clone())),
        }
    }

    /// Parents come first.
    fn depth(&self) -> u8 {
        self.parent().map_or(0, |p| p.depth() + 1)
    }

    fn key(&self) -> String {
        match self {
            Count::Answered(code) => format!("answered:{code}"),
            Count::Yes(code) => format!("yes:{code}"),
            other => format!("{other:?}"),
        }
    }

    /// The (numerator, denominator) counts of a metric as the engine names it (`item:<code>`
    /// for the per-item rates).
    pub fn of_metric(metric: &str) -> Option<(Count, Count)> {
        use Count::*;
        if let Some(code) = metric.strip_prefix("item:") {
            return Some((Yes(code.to_owned()), Answered(code.to_owned())));
        }
        Some(match metric.parse::<Metric>().ok()? {
            Metric::SubmissionRate => (Submitted, Scope),
            Metric::BcpRate => (Bcp, Respondents),
            Metric::EhrBackupRate => (EhrBackup, Surveyed),
            Metric::OfflineBackupRate => (OfflineBackup, EhrBackup),
            Metric::SecurityManagerRate => (SecurityManager, Submitted),
            Metric::FullComplianceRate => (FullyCompliant, Submitted),
            Metric::OverdueImprovements => (Overdue, Submitted),
            Metric::Addon1ReadinessRate => (Addon1Ready, Scope),
            Metric::ItemYesRate => return None,
        })
    }
}

/// The parameters, from the KPI settings.
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    /// Cells with fewer hidden hospitals than this are not shown.
    pub threshold: i64,
    /// The largest noise added to one fine cell's count.
    pub noise_bound: i64,
}

impl Rules {
    /// The noise bound that gives a protected cell (fewer than `threshold` hidden hospitals, so a
    /// denominator of at most `threshold - 1`) a feasible interval at least `percent`% of its
    /// denominator either side: at a bound (a perturbed 0, or a full cell) the interval is
    /// `noise_bound` wide, so it must reach 2 × percent% of the largest protected denominator.
    pub fn new(threshold: i64, percent: i64) -> Rules {
        let needed = 2 * percent * (threshold - 1).max(1);
        Rules { threshold, noise_bound: ((needed + 99) / 100).max(1) }
    }
}

/// One fine cell's counts: all of them, and the part the caller may see.
#[derive(Clone, Debug, Default)]
pub struct Split {
    pub total: BTreeMap<Count, i64>,
    pub visible: BTreeMap<Count, i64>,
}

/// A fine cell as shown: the visible part exact, the hidden part perturbed.
#[derive(Clone, Debug, Default)]
pub struct Shown {
    pub counts: BTreeMap<Count, i64>,
    /// Hospitals in scope the caller may not see, perturbed (0 when none).
    pub hidden_scope: i64,
    /// Whether any hospital behind the cell is hidden from the caller.
    pub hidden: bool,
}

impl Shown {
    /// A cell the caller sees whole.
    pub fn exact(counts: BTreeMap<Count, i64>) -> Shown {
        Shown { counts, hidden_scope: 0, hidden: false }
    }
}

/// The keyed noise generator. `secret` comes from the database, so every replica agrees.
pub struct Noise<'a> {
    pub secret: &'a [u8],
    pub rules: Rules,
}

impl Noise<'_> {
    /// Shows a fine cell. `cell` names it (fiscal year, prefecture, band, designation, function),
    /// so that the noise of one cell is independent of every other's; `sides` are the
    /// (numerator, denominator) counts of the metrics asked for.
    pub fn show(&self, cell: &str, mut fine: Split, sides: &[(Count, Count)]) -> Shown {
        // A count absent from a cell is a zero (the aggregates keep no empty rows): it is
        // perturbed like any other, with its parents, or its absence would tell.
        for count in sides.iter().flat_map(|(num, den)| [num, den]) {
            let mut c = Some(count.clone());
            while let Some(count) = c {
                c = count.parent();
                fine.total.entry(count).or_insert(0);
            }
        }
        let hidden_of = |c: &Count| fine.total.get(c).copied().unwrap_or(0) - fine.visible.get(c).copied().unwrap_or(0);
        let hidden = hidden_of(&Count::Scope) > 0;
        if !hidden {
            return Shown::exact(fine.total);
        }
        let mut order: Vec<&Count> = fine.total.keys().collect();
        order.sort_by_key(|c| c.depth());
        let mut perturbed: BTreeMap<Count, i64> = BTreeMap::new();
        for count in order {
            let truth = hidden_of(count);
            let ceiling = count.parent().map(|p| perturbed.get(&p).copied().unwrap_or(0));
            perturbed.insert(count.clone(), self.perturb(cell, count, truth, ceiling));
        }
        let counts =
            perturbed.iter().map(|(c, v)| (c.clone(), v + fine.visible.get(c).copied().unwrap_or(0))).collect();
        Shown { counts, hidden_scope: perturbed.get(&Count::Scope).copied().unwrap_or(0), hidden }
    }

    /// `truth` plus a noise in −D..=D (weights D+1−|e|: small changes likelier), reflected at 0
    /// and held at `ceiling` (the parent's perturbed value, which may lie below the truth) so
    /// that the result stays a possible count. Every value a perturbed count can show is reached
    /// from at least D + 1 true values (all of them when fewer are possible): the protection.
    fn perturb(&self, cell: &str, count: &Count, truth: i64, ceiling: Option<i64>) -> i64 {
        let d = self.rules.noise_bound;
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update([0]);
        h.update(cell.as_bytes());
        h.update([0]);
        h.update(count.key().as_bytes());
        h.update([0]);
        h.update(truth.to_le_bytes());
        let digest = h.finalize();
        let draw = u64::from_le_bytes(digest[..8].try_into().unwrap_or_default());
        let total_weight = ((d + 1) * (d + 1)) as u64;
        let mut pick = (draw % total_weight) as i64;
        let mut e = -d;
        loop {
            let w = d + 1 - e.abs();
            if pick < w {
                break;
            }
            pick -= w;
            e += 1;
        }
        let v = (truth + e).abs();
        ceiling.map_or(v, |top| v.min(top))
    }
}

/// Marks a row: exact when nothing behind it is hidden; suppressed when what is hidden is fewer
/// (perturbed) hospitals than the threshold.
pub fn protection(hidden: bool, hidden_scope: i64, rules: &Rules) -> Protection {
    match (hidden, hidden_scope < rules.threshold) {
        (false, _) => Protection::Exact,
        (true, true) => Protection::Suppressed,
        (true, false) => Protection::Perturbed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(secret: &[u8]) -> Noise<'_> {
        Noise { secret, rules: Rules::new(5, 20) }
    }

    fn fine(pairs: &[(Count, i64)]) -> Split {
        Split { total: pairs.iter().cloned().collect(), visible: BTreeMap::new() }
    }

    #[test]
    fn the_default_rules_give_a_noise_of_two() {
        assert_eq!(Rules::new(5, 20).noise_bound, 2);
        assert_eq!(Rules::new(10, 20).noise_bound, 4);
        assert_eq!(Rules::new(1, 0).noise_bound, 1);
    }

    #[test]
    fn the_noise_stays_within_its_bound_and_below_the_parent() {
        let n = noise(b"k");
        for cell in 0..2_000 {
            let cell = format!("cell{cell}");
            for truth in 0..6 {
                let shown = n.show(
                    &cell,
                    fine(&[
                        (Count::Scope, 6),
                        (Count::Surveyed, 6),
                        (Count::EhrBackup, truth),
                        (Count::OfflineBackup, 0),
                    ]),
                    &[],
                );
                let (ehr, surveyed) = (shown.counts[&Count::EhrBackup], shown.counts[&Count::Surveyed]);
                assert!((surveyed - 6).abs() <= 2 && surveyed <= 6 + 2);
                // Within the bound, or held at a parent perturbed below the truth.
                assert!((ehr - truth).abs() <= 2 || ehr == surveyed, "{cell}: {truth} shown as {ehr}");
                assert!(ehr <= surveyed && ehr >= 0);
                assert!(shown.counts[&Count::OfflineBackup] <= ehr);
            }
        }
    }

    #[test]
    fn zeros_and_full_cells_are_not_left_exact() {
        // Over many cells, a true 0 shows as 0, 1 and 2, and a full cell of 3 as 1, 2 and 3.
        let n = noise(b"k");
        let mut zero = std::collections::BTreeSet::new();
        let mut full = std::collections::BTreeSet::new();
        for cell in 0..500 {
            let cell = format!("cell{cell}");
            // The security-manager count is absent, as in a cell where nobody said yes: asked
            // for, it is filled in as a zero and perturbed.
            let manager = [(Count::SecurityManager, Count::Submitted)];
            let shown = n.show(&cell, fine(&[(Count::Scope, 3), (Count::Submitted, 3)]), &manager);
            zero.insert(shown.counts[&Count::SecurityManager]);
            let shown = n.show(&cell, fine(&[(Count::Scope, 3), (Count::Submitted, 3)]), &[]);
            full.insert(shown.counts[&Count::Submitted]);
        }
        assert_eq!(zero.into_iter().collect::<Vec<_>>(), vec![0, 1, 2]);
        assert!(full.len() >= 3, "{full:?}");
    }

    #[test]
    fn the_same_cell_always_shows_the_same_and_another_key_differs() {
        let f = fine(&[(Count::Scope, 4), (Count::Submitted, 2)]);
        let a: Vec<i64> =
            (0..50).map(|i| noise(b"k").show(&format!("c{i}"), f.clone(), &[]).counts[&Count::Submitted]).collect();
        let again: Vec<i64> =
            (0..50).map(|i| noise(b"k").show(&format!("c{i}"), f.clone(), &[]).counts[&Count::Submitted]).collect();
        let other: Vec<i64> =
            (0..50).map(|i| noise(b"other").show(&format!("c{i}"), f.clone(), &[]).counts[&Count::Submitted]).collect();
        assert_eq!(a, again);
        assert_ne!(a, other);
    }

    #[test]
    fn what_the_caller_sees_stays_exact() {
        let f = Split {
            total: [(Count::Scope, 3), (Count::Submitted, 2)].into_iter().collect(),
            visible: [(Count::Scope, 3), (Count::Submitted, 2)].into_iter().collect(),
        };
        let shown = noise(b"k").show("c", f, &[]);
        assert!(!shown.hidden);
        assert_eq!(shown.counts[&Count::Submitted], 2);
        assert_eq!(protection(shown.hidden, shown.hidden_scope, &Rules::new(5, 20)), Protection::Exact);
    }
}
