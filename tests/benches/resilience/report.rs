//! The tables printed at the end of a run (Markdown, to paste into the README).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::checks::Check;
use crate::load::Sample;

/// One fault: when it began, when the service was whole again, and the window watched after.
pub struct Phase {
    pub name: &'static str,
    pub start: f64,
    pub end: f64,
    pub until: f64,
    /// Seconds from `end` until the jobs queued up to `end` had all run.
    pub queue_recovery: Option<f64>,
}

fn errors(samples: &[&Sample]) -> String {
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for s in samples.iter().filter(|s| s.outcome != "ok") {
        *kinds.entry(s.outcome.as_str()).or_default() += 1;
    }
    if kinds.is_empty() {
        return "0".into();
    }
    kinds.iter().map(|(k, n)| format!("{n} {k}")).collect::<Vec<_>>().join(", ")
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// Seconds after the fault ended until requests stopped failing.
pub fn api_recovery(samples: &[Sample], phase: &Phase) -> f64 {
    samples
        .iter()
        .filter(|s| s.outcome != "ok" && (phase.start..phase.until).contains(&s.done()))
        .map(|s| s.done() - phase.end)
        .fold(0.0, f64::max)
}

/// Answered before the first fault began.
fn in_baseline(s: &Sample, baseline: &Phase) -> bool {
    (baseline.start..baseline.end).contains(&s.done())
}

pub fn print(samples: &[Sample], baseline: &Phase, phases: &[Phase], checks: &[Check], notes: &[String]) {
    println!("\n### Faults\n");
    println!(
        "| fault | lasted | requests during | errors during | requests in the {:.0} s after | errors after | API recovered after | queued jobs done after |",
        phases.first().map_or(0.0, |p| p.until - p.end)
    );
    println!("|---|---|---|---|---|---|---|---|");
    let base: Vec<&Sample> = samples.iter().filter(|s| in_baseline(s, baseline)).collect();
    println!(
        "| none (baseline) | {:.0} s | {} | {} | | | | |",
        baseline.end - baseline.start,
        base.len(),
        errors(&base)
    );
    for p in phases {
        let during: Vec<&Sample> = samples.iter().filter(|s| (p.start..p.end).contains(&s.done())).collect();
        let after: Vec<&Sample> = samples.iter().filter(|s| (p.end..p.until).contains(&s.done())).collect();
        println!(
            "| {} | {:.1} s | {} | {} | {} | {} | {:.1} s | {} |",
            p.name,
            p.end - p.start,
            during.len(),
            errors(&during),
            after.len(),
            errors(&after),
            api_recovery(samples, p),
            p.queue_recovery.map_or_else(|| "not yet".to_owned(), |s| format!("{s:.1} s")),
        );
    }

    println!("\n### Latency per operation\n");
    println!("| operation | requests | errors | p50 (baseline) | p99 (baseline) | p50 (whole run) | p99 (whole run) |");
    println!("|---|---|---|---|---|---|---|");
    #[derive(Default)]
    struct Op {
        requests: usize,
        failed: usize,
        baseline: Vec<Duration>,
        all: Vec<Duration>,
    }
    let mut ops: BTreeMap<&str, Op> = BTreeMap::new();
    for s in samples {
        let e = ops.entry(s.op).or_default();
        e.requests += 1;
        if s.outcome != "ok" {
            e.failed += 1;
            continue;
        }
        e.all.push(s.latency);
        if in_baseline(s, baseline) {
            e.baseline.push(s.latency);
        }
    }
    for (op, mut o) in ops {
        o.baseline.sort();
        o.all.sort();
        println!(
            "| {op} | {} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms |",
            o.requests,
            o.failed,
            percentile(&o.baseline, 0.5),
            percentile(&o.baseline, 0.99),
            percentile(&o.all, 0.5),
            percentile(&o.all, 0.99)
        );
    }

    println!("\n### Nothing lost\n");
    println!("| check | looked at | wrong |");
    println!("|---|---|---|");
    for c in checks {
        println!("| {} | {} | {} |", c.what, c.looked_at, c.wrong);
    }
    for n in notes {
        println!("\n{n}");
    }
}
