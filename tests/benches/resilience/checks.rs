//! After the run: was anything lost? Each check compares what the clients were told with what the
//! database, the job queue and the mail relay hold.

use std::collections::HashMap;

use diesel::sql_types::{Array, BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

use crate::load::Acked;

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(diesel::QueryableByName)]
struct Key {
    #[diesel(sql_type = Text)]
    key: String,
}

/// One line of the verdict: what was looked for, how many, how many were wrong.
pub struct Check {
    pub what: String,
    pub looked_at: usize,
    pub wrong: i64,
}

pub async fn owner(url: &str) -> AsyncPgConnection {
    let mut c = AsyncPgConnection::establish(url).await.expect("owner connection");
    // The owner is bound by row-level security too; the ministry's view sees every row.
    c.batch_execute("SELECT set_config('renkei.role', 'national', false)").await.expect("role");
    c
}

pub async fn count(
    c: &mut AsyncPgConnection,
    q: diesel::query_builder::BoxedSqlQuery<'_, diesel::pg::Pg, diesel::query_builder::SqlQuery>,
) -> i64 {
    q.get_result::<Count>(c).await.expect("check query").n
}

/// Jobs still to run now (scans queued for later days aside).
pub async fn pending_jobs(c: &mut AsyncPgConnection) -> i64 {
    count(
        c,
        diesel::sql_query(
            "SELECT count(*) AS n FROM jobs WHERE finished_at IS NULL AND dead_at IS NULL \
             AND run_at < now() + interval '1 hour'",
        )
        .into_boxed(),
    )
    .await
}

/// Seconds from `since` (epoch seconds) until the last job of `kinds` queued before `until` was
/// done; None while some are still waiting.
pub async fn queue_recovery(c: &mut AsyncPgConnection, from: f64, until: f64) -> Option<f64> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        open: i64,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Double>)]
        last: Option<f64>,
    }
    let r: Row = diesel::sql_query(
        "SELECT count(*) FILTER (WHERE finished_at IS NULL AND dead_at IS NULL) AS open, \
                extract(epoch FROM max(finished_at))::float8 AS last \
         FROM jobs WHERE kind <> 'bundle.build' AND kind NOT LIKE 'scan.%' \
           AND created_at BETWEEN to_timestamp($1) AND to_timestamp($2)",
    )
    .bind::<diesel::sql_types::Double, _>(from)
    .bind::<diesel::sql_types::Double, _>(until)
    .get_result(c)
    .await
    .expect("queue recovery");
    (r.open == 0).then(|| r.last.map_or(0.0, |last| (last - until).max(0.0)))
}

/// The Message-ID local part the mailer makes of a key.
fn message_key(key: &str) -> String {
    key.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '.', "-")
}

/// A check of acknowledged mutations: the query counts those of `arrays` (bound as `$1`, `$2`, …,
/// text arrays) that the database does not hold as the client was told.
struct Lookup<'a> {
    what: &'a str,
    sql: &'a str,
    arrays: Vec<&'a Vec<String>>,
}

pub async fn run(c: &mut AsyncPgConnection, acked: &[Acked], received_ids: &[String]) -> Vec<Check> {
    let mut checks = Vec::new();
    let (mut subs, mut revs, mut days) = (Vec::new(), Vec::new(), Vec::new());
    let (mut saved, mut incidents, mut titles, mut moved, mut bundles) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for a in acked {
        match a {
            Acked::Submitted { submission, revision, checked_on, .. } => {
                subs.push(submission.clone());
                revs.push(revision.to_string());
                days.push(checked_on.clone());
            }
            Acked::Saved { submission, .. } => saved.push(submission.clone()),
            Acked::Incident { id, title, .. } => {
                incidents.push(id.clone());
                titles.push(title.clone());
            }
            Acked::Moved { id, .. } => moved.push(id.clone()),
            Acked::Bundle { id, .. } => bundles.push(id.clone()),
        }
    }
    let rids: Vec<String> = acked.iter().map(|a| a.request_id().to_owned()).collect();
    let lookups = [
        Lookup {
            what: "submitted checklists: the revision, with the answers sent",
            sql: "SELECT count(*) AS n FROM unnest($1::uuid[], $2::int[], $3::text[]) AS a (s, r, d) \
                  WHERE NOT EXISTS (SELECT 1 FROM submission_revisions v WHERE v.submission_id = a.s \
                                      AND v.revision = a.r AND strpos(v.answers::text, a.d) > 0)",
            arrays: vec![&subs, &revs, &days],
        },
        Lookup {
            what: "saved drafts: the submission",
            sql: "SELECT count(*) AS n FROM unnest($1::uuid[]) AS s WHERE NOT EXISTS (SELECT 1 FROM submissions WHERE id = s)",
            arrays: vec![&saved],
        },
        Lookup {
            what: "reported incidents: the incident",
            sql: "SELECT count(*) AS n FROM unnest($1::uuid[], $2::text[]) AS a (i, t) \
                  WHERE NOT EXISTS (SELECT 1 FROM incidents WHERE id = a.i AND title = a.t)",
            arrays: vec![&incidents, &titles],
        },
        Lookup {
            what: "incident moves: the new phase",
            sql: "SELECT count(*) AS n FROM unnest($1::uuid[]) AS i \
                  WHERE NOT EXISTS (SELECT 1 FROM incidents WHERE id = i AND phase = 'initial_response')",
            arrays: vec![&moved],
        },
        Lookup {
            what: "requested bundles: built and ready",
            sql: "SELECT count(*) AS n FROM unnest($1::uuid[]) AS b \
                  WHERE NOT EXISTS (SELECT 1 FROM bundles WHERE id = b AND status = 'ready' AND content IS NOT NULL)",
            arrays: vec![&bundles],
        },
        Lookup {
            what: "acknowledged mutations: an audit row",
            sql: "SELECT count(*) AS n FROM unnest($1::text[]) AS r \
                  WHERE NOT EXISTS (SELECT 1 FROM audit_log WHERE request_id = r AND outcome = 'ok')",
            arrays: vec![&rids],
        },
        Lookup {
            what: "reported incidents: alert mails sent",
            sql: "SELECT count(*) AS n FROM unnest($1::text[]) AS i WHERE NOT EXISTS \
                    (SELECT 1 FROM email_deliveries WHERE key LIKE 'incident-created:' || i || ':%')",
            arrays: vec![&incidents],
        },
        Lookup {
            what: "incident moves: phase-change mails sent",
            sql: "SELECT count(*) AS n FROM unnest($1::text[]) AS i WHERE NOT EXISTS \
                    (SELECT 1 FROM email_deliveries WHERE key LIKE 'incident-phase:' || i || ':initial_response:%')",
            arrays: vec![&moved],
        },
    ];
    for l in lookups {
        let looked_at = l.arrays[0].len();
        let mut q = diesel::sql_query(l.sql).into_boxed();
        for a in l.arrays {
            q = q.bind::<Array<Text>, _>(a);
        }
        checks.push(Check { what: l.what.into(), looked_at, wrong: count(c, q).await });
    }

    let pending = pending_jobs(c).await;
    let jobs = count(c, diesel::sql_query("SELECT count(*) AS n FROM jobs").into_boxed()).await;
    checks.push(Check { what: "jobs: none left waiting".into(), looked_at: jobs as usize, wrong: pending });
    let dead =
        count(c, diesel::sql_query("SELECT count(*) AS n FROM jobs WHERE dead_at IS NOT NULL").into_boxed()).await;
    checks.push(Check { what: "jobs: none given up (dead)".into(), looked_at: jobs as usize, wrong: dead });

    // Every mail recorded as sent reached the relay exactly once, and the relay got nothing else.
    let keys: Vec<Key> = diesel::sql_query("SELECT key FROM email_deliveries").load(c).await.expect("deliveries");
    let mut arrived: HashMap<&str, i64> = HashMap::new();
    for id in received_ids {
        *arrived.entry(id.as_str()).or_default() += 1;
    }
    let expected: Vec<String> = keys.iter().map(|k| message_key(&k.key)).collect();
    let not_once = expected.iter().filter(|k| arrived.get(k.as_str()).copied().unwrap_or(0) != 1).count() as i64;
    checks.push(Check {
        what: "mails recorded as sent: arrived exactly once".into(),
        looked_at: expected.len(),
        wrong: not_once,
    });
    let unrecorded = arrived.keys().filter(|id| !expected.iter().any(|k| k == *id)).count() as i64;
    checks.push(Check { what: "mails arrived: recorded as sent".into(), looked_at: arrived.len(), wrong: unrecorded });
    checks
}
