//! The tamper-evident audit log: who did what to which objects, with what outcome. Rows are
//! chained by SHA-256 in the database (see migration `audit_log`); the application may only
//! insert them, read them through the tenant-aware `renkei_audit_trail` function, and verify
//! the chain as the schema owner.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bytea, Int4, Nullable, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::db::{Conn, Db};
use crate::registry::organisations;
use crate::schema::audit_log;
use crate::{Error, Principal, Result, Role};

/// One audited action.
#[derive(Clone, Debug)]
pub struct Action {
    /// The operation, e.g. the mutation field `createOrganisation` or `downloadBundle`.
    pub operation: String,
    pub targets: Vec<String>,
    /// `ok`, or the error code the caller received.
    pub outcome: String,
    pub request_id: String,
}

impl Action {
    /// The ids an operation named, and the id of the object it answered with (a created
    /// object's, say) when that is not among them.
    pub fn targets_with(named: &[String], answered: Option<&str>) -> Vec<String> {
        let mut targets = named.to_vec();
        if let Some(id) = answered
            && !targets.iter().any(|t| t == id)
        {
            targets.push(id.to_owned());
        }
        targets
    }
}

/// Records `actions` of `principal` in a transaction of their own: for refusals and failures,
/// which changed nothing. A change records itself with [`record_in`], inside its own transaction.
pub async fn record(db: &Db, principal: &Principal, actions: Vec<Action>) -> Result<()> {
    if actions.is_empty() {
        return Ok(());
    }
    let p = principal.clone();
    db.run(principal, move |c| Box::pin(async move { record_in(c, &p, actions).await })).await
}

/// Records `actions` of `p` in the transaction `c` is in, so that they commit with the change
/// they describe, or not at all.
pub async fn record_in(c: &mut Conn, p: &Principal, actions: Vec<Action>) -> Result<()> {
    let prefecture = tenant_of(c, p).await?;
    for a in actions {
        diesel::insert_into(audit_log::table)
            .values((
                audit_log::actor.eq(&p.subject),
                audit_log::role.eq(p.role.as_str()),
                audit_log::organisation_id.eq(p.organisation_id),
                audit_log::prefecture_code.eq(prefecture),
                audit_log::operation.eq(truncate(&a.operation, 100)),
                audit_log::target_ids.eq(a.targets.iter().take(20).map(|t| truncate(t, 100)).collect::<Vec<_>>()),
                audit_log::outcome.eq(truncate(&a.outcome, 50)),
                audit_log::request_id.eq(truncate(&a.request_id, 64)),
                // Placeholders: the chain trigger sets id, time and both hashes.
                audit_log::id.eq(0i64),
                audit_log::prev_hash.eq(Vec::<u8>::new()),
                audit_log::hash.eq(Vec::<u8>::new()),
            ))
            .execute(c)
            .await?;
    }
    Ok(())
}

/// Bounded, and without control characters: the log must take whatever a refused caller sent.
fn truncate(s: &str, max: usize) -> String {
    s.chars().map(|c| if c.is_control() { '\u{fffd}' } else { c }).take(max).collect()
}

/// The prefecture whose trail an action belongs to: the official's own, or that of the actor's
/// organisation.
async fn tenant_of(c: &mut Conn, p: &Principal) -> Result<Option<i16>> {
    if p.role == Role::Prefecture {
        return Ok(p.prefecture);
    }
    match p.organisation_id {
        Some(org) => Ok(organisations::find(c, p, org).await?.map(|o| o.prefecture_code)),
        None => Ok(None),
    }
}

#[derive(Clone, Debug, QueryableByName)]
pub struct Entry {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    pub actor: String,
    #[diesel(sql_type = Text)]
    pub role: String,
    #[diesel(sql_type = Nullable<diesel::sql_types::Uuid>)]
    pub organisation_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Int2>)]
    pub prefecture_code: Option<i16>,
    #[diesel(sql_type = Text)]
    pub operation: String,
    #[diesel(sql_type = diesel::sql_types::Array<Text>)]
    pub target_ids: Vec<String>,
    #[diesel(sql_type = Text)]
    pub outcome: String,
    #[diesel(sql_type = Text)]
    pub request_id: String,
}

/// The caller's trail, newest first, strictly before `before_id`; one more row than `first`
/// tells whether more follow.
pub async fn trail(c: &mut Conn, before_id: Option<i64>, first: i64) -> Result<(Vec<Entry>, bool)> {
    let limit = i32::try_from(first + 1).unwrap_or(101);
    let mut rows: Vec<Entry> = diesel::sql_query(
        "SELECT id, at, actor, role, organisation_id, prefecture_code, operation, target_ids, outcome, request_id \
         FROM renkei_audit_trail($1, $2)",
    )
    .bind::<Nullable<BigInt>, _>(before_id)
    .bind::<Int4, _>(limit)
    .load(c)
    .await?;
    let more = rows.len() as i64 > first;
    rows.truncate(first as usize);
    Ok((rows, more))
}

/// What `verify` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Intact {
        rows: i64,
        head: String,
    },
    /// The first row that does not fit the chain, and why.
    Broken {
        id: i64,
        reason: String,
    },
}

#[derive(QueryableByName)]
struct ChainRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    canonical: String,
    #[diesel(sql_type = Bytea)]
    prev_hash: Vec<u8>,
    #[diesel(sql_type = Bytea)]
    hash: Vec<u8>,
}

/// The chain's head as the trigger last wrote it (migration `audit_head`).
#[derive(QueryableByName)]
struct Head {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Bytea)]
    hash: Vec<u8>,
}

/// Walks the whole chain as the schema owner (`owner_url`) and recomputes every hash here, not
/// in the database: a changed row breaks its own hash, a removed one the link after it, and the
/// newest rows removed leave the chain short of its head checkpoint.
pub async fn verify(owner_url: &str) -> anyhow::Result<Verdict> {
    let mut conn = AsyncPgConnection::establish(owner_url).await?;
    // Read first: rows recorded while the chain is walked are then past the head, not missing.
    let head: Option<Head> =
        diesel::sql_query("SELECT id, hash FROM audit_head").get_result(&mut conn).await.optional()?;
    let rows: Vec<ChainRow> = diesel::sql_query(
        "SELECT id, renkei_audit_canonical(a) AS canonical, prev_hash, hash FROM audit_log a ORDER BY id",
    )
    .load(&mut conn)
    .await?;
    let mut expected_prev: Vec<u8> = Vec::new();
    for (expected_id, row) in (1i64..).zip(&rows) {
        if row.id != expected_id {
            return Ok(Verdict::Broken { id: row.id, reason: format!("row {expected_id} is missing") });
        }
        if row.prev_hash != expected_prev {
            return Ok(Verdict::Broken { id: row.id, reason: "does not link to the row before it".into() });
        }
        let mut digest = Sha256::new();
        digest.update(&row.prev_hash);
        digest.update(row.canonical.as_bytes());
        if digest.finalize()[..] != row.hash[..] {
            return Ok(Verdict::Broken { id: row.id, reason: "its contents do not match its hash".into() });
        }
        expected_prev.clone_from(&row.hash);
    }
    let last = rows.len() as i64;
    if let Some(head) = head {
        if last < head.id {
            return Ok(Verdict::Broken {
                id: last + 1,
                reason: format!("row {} is missing: the chain ends before its head, row {}", last + 1, head.id),
            });
        }
        if rows.get(head.id as usize - 1).is_some_and(|row| row.hash != head.hash) {
            return Ok(Verdict::Broken { id: head.id, reason: "it does not match the head checkpoint".into() });
        }
    } else if last > 0 {
        return Ok(Verdict::Broken { id: last, reason: "the head checkpoint is missing".into() });
    }
    Ok(Verdict::Intact { rows: rows.len() as i64, head: hex::encode(expected_prev) })
}

/// Fails unless the caller may read an audit trail.
pub fn require_reader(p: &Principal) -> Result<()> {
    if matches!(p.role, Role::National | Role::Prefecture) {
        Ok(())
    } else {
        Err(Error::forbidden(format!("role {} may not read the audit trail", p.role)))
    }
}
