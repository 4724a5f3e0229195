//! `retort lint --observe`: runs a revision's upgrade statement by statement on a
//! scratch database and records what PostgreSQL actually did — the relation locks each
//! statement took (from `pg_locks`) and the relations it rewrote (a changed
//! `relfilenode`) — instead of what rules guess.
//!
//! A transactional upgrade runs inside a transaction that is rolled back, then applied
//! for real by the runner so the next revision meets its parent. A `transaction:false`
//! upgrade cannot be rolled back: it runs for real, its locks are sampled from a second
//! connection while each statement runs, and the revision is then stamped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::{Migrator, RunError, RunOptions};
use crate::db::session::Piece;
use crate::db::{ConnInfo, DbError, Session};
use crate::graph::Step;
use crate::sql::split;
use crate::Direction;

/// What one revision's upgrade did, statement by statement.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RevisionObservation {
    /// The revision's id.
    pub revision: String,
    /// Its message.
    pub message: String,
    /// Its file.
    pub path: PathBuf,
    /// `false` for a `transaction:false` upgrade: it ran for real and locks were sampled.
    pub transactional: bool,
    /// Each statement of the upgrade, in order.
    pub statements: Vec<StatementObservation>,
}

/// What one statement did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StatementObservation {
    /// Line and column of the statement in the revision file.
    pub line: usize,
    /// See `line`.
    pub column: usize,
    /// The statement's first line, for display.
    pub sql: String,
    /// How long it ran on the scratch database, in milliseconds.
    pub duration_ms: u128,
    /// Relation locks the statement took that the transaction did not hold yet; in a
    /// transactional section each is held until COMMIT.
    pub locks: Vec<LockTaken>,
    /// Locks that block reads or writes, taken by earlier statements of the same
    /// transaction and still held while this one runs: a rewrite under an ACCESS
    /// EXCLUSIVE lock taken earlier blocks reads for as long as it runs.
    pub held: Vec<HeldLock>,
    /// Relations whose storage was written anew (a table rewrite, an index rebuild).
    pub rewritten: Vec<Relation>,
}

/// A lock on a relation, as pg_locks showed it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct LockTaken {
    /// The relation locked.
    pub relation: Relation,
    /// PostgreSQL's SQL name of the mode: `ACCESS EXCLUSIVE`, `SHARE`, ...
    pub mode: String,
}

impl LockTaken {
    /// What the mode keeps other sessions from doing while it is held.
    pub fn blocks(&self) -> &'static str {
        match self.mode.as_str() {
            "ACCESS EXCLUSIVE" => "blocks reads and writes",
            "EXCLUSIVE" | "SHARE ROW EXCLUSIVE" | "SHARE" => "blocks writes",
            "SHARE UPDATE EXCLUSIVE" => "blocks other DDL, VACUUM and CREATE INDEX CONCURRENTLY",
            _ => "blocks only DDL on it",
        }
    }

    /// Whether other sessions' reads or writes wait on it.
    pub fn blocks_traffic(&self) -> bool {
        matches!(
            self.mode.as_str(),
            "ACCESS EXCLUSIVE" | "EXCLUSIVE" | "SHARE ROW EXCLUSIVE" | "SHARE"
        )
    }
}

/// A lock an earlier statement took, with that statement's line in the file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct HeldLock {
    /// The lock.
    #[serde(flatten)]
    pub lock: LockTaken,
    /// The line of the statement that took it.
    pub since_line: usize,
}

/// A relation a statement locked or rewrote.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Relation {
    /// `schema.name`, quoted where needed.
    pub name: String,
    /// `table`, `index`, `sequence`, `view`, ...
    pub kind: &'static str,
}

/// Size of a relation where it was measured (the source database or the scratch copy).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct RelationSize {
    /// `pg_total_relation_size`: heap, indexes and TOAST.
    pub bytes: i64,
    /// The planner's row estimate (`reltuples`; -1 when never analyzed).
    pub rows: f64,
}

/// One row of the relation snapshot taken around each statement.
#[derive(Debug, Clone)]
struct RelationState {
    relation: Relation,
    filenode: u32,
}

/// User relations (not catalogs, TOAST or temp), keyed by OID.
const RELATIONS: &str = "SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname), \
     c.relkind::text, c.relfilenode FROM pg_catalog.pg_class c \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' \
     AND c.relkind <> 't'";

/// Relation locks granted to backend $1 in this database, and whether it waits for a
/// lock of any kind.
const LOCKS: &str = "SELECT l.relation, l.mode, l.granted FROM pg_catalog.pg_locks l \
     WHERE l.pid = $1 AND ((l.locktype = 'relation' AND l.granted \
     AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())) \
     OR NOT l.granted)";

/// Sizes of the user tables, indexes and materialized views of a database, by name.
pub async fn relation_sizes(client: &Client) -> Result<HashMap<String, RelationSize>, DbError> {
    let rows = client
        .query(
            "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), \
             pg_catalog.pg_total_relation_size(c.oid), c.reltuples::float8 \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p', 'm', 'i') \
             AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
             AND n.nspname NOT LIKE 'pg\\_toast%'",
            &[],
        )
        .await
        .map_err(|e| DbError::query("read the relation sizes", e))?;
    Ok(rows
        .iter()
        .map(|row| {
            (
                row.get::<_, String>(0),
                RelationSize {
                    bytes: row.get(1),
                    rows: row.get(2),
                },
            )
        })
        .collect())
}

fn kind_name(relkind: &str) -> &'static str {
    match relkind {
        "r" => "table",
        "p" => "partitioned table",
        "i" => "index",
        "I" => "partitioned index",
        "S" => "sequence",
        "v" => "view",
        "m" => "materialized view",
        "f" => "foreign table",
        "c" => "composite type",
        _ => "relation",
    }
}

/// `AccessExclusiveLock` -> `ACCESS EXCLUSIVE`, as the SQL `LOCK` command spells it.
fn mode_name(mode: &str) -> String {
    let bare = mode.strip_suffix("Lock").unwrap_or(mode);
    let mut out = String::new();
    for (i, c) in bare.char_indices() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

async fn relations(client: &Client) -> Result<HashMap<u32, RelationState>, DbError> {
    let rows = client
        .query(RELATIONS, &[])
        .await
        .map_err(|e| DbError::query("read the relations (lint --observe)", e))?;
    Ok(rows
        .iter()
        .map(|row| {
            let kind: String = row.get(2);
            (
                row.get::<_, u32>(0),
                RelationState {
                    relation: Relation {
                        name: row.get(1),
                        kind: kind_name(&kind),
                    },
                    filenode: row.get(3),
                },
            )
        })
        .collect())
}

/// The relation locks `pid` holds, and whether it is waiting for a lock.
async fn locks(client: &Client, pid: i32) -> Result<(BTreeSet<(u32, String)>, bool), DbError> {
    let rows = client
        .query(LOCKS, &[&pid])
        .await
        .map_err(|e| DbError::query("read pg_locks (lint --observe)", e))?;
    let mut held = BTreeSet::new();
    let mut waiting = false;
    for row in &rows {
        if row.get::<_, bool>(2) {
            held.insert((row.get::<_, u32>(0), row.get::<_, String>(1)));
        } else {
            waiting = true;
        }
    }
    Ok((held, waiting))
}

/// The locks in `after` that were not in `before`, named from either snapshot (a
/// dropped relation is known only from before, a created one only from after).
fn named_locks(
    taken: impl Iterator<Item = (u32, String)>,
    before: &HashMap<u32, RelationState>,
    after: &HashMap<u32, RelationState>,
) -> Vec<LockTaken> {
    let mut out: Vec<LockTaken> = taken
        .filter_map(|(oid, mode)| {
            let state = after.get(&oid).or_else(|| before.get(&oid))?;
            Some(LockTaken {
                relation: state.relation.clone(),
                mode: mode_name(&mode),
            })
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Of the locks taken earlier, the strongest traffic-blocking one on each table.
fn strongest_held(
    earlier: impl Iterator<Item = ((u32, String), usize)>,
    before: &HashMap<u32, RelationState>,
    after: &HashMap<u32, RelationState>,
) -> Vec<HeldLock> {
    let mut best: BTreeMap<Relation, HeldLock> = BTreeMap::new();
    for ((oid, mode), since_line) in earlier {
        let Some(lock) = named_locks(std::iter::once((oid, mode)), before, after).pop() else {
            continue;
        };
        if !lock.blocks_traffic() || !lock.relation.kind.contains("table") {
            continue;
        }
        let held = HeldLock { lock, since_line };
        match best.get(&held.lock.relation) {
            Some(old) if strength(&old.lock.mode) >= strength(&held.lock.mode) => {}
            _ => {
                best.insert(held.lock.relation.clone(), held);
            }
        }
    }
    best.into_values().collect()
}

/// Rank of a lock mode in PostgreSQL's conflict table (higher conflicts with more).
fn strength(mode: &str) -> u8 {
    match mode {
        "ACCESS EXCLUSIVE" => 8,
        "EXCLUSIVE" => 7,
        "SHARE ROW EXCLUSIVE" => 6,
        "SHARE" => 5,
        "SHARE UPDATE EXCLUSIVE" => 4,
        "ROW EXCLUSIVE" => 3,
        "ROW SHARE" => 2,
        _ => 1,
    }
}

fn rewritten(
    before: &HashMap<u32, RelationState>,
    after: &HashMap<u32, RelationState>,
) -> Vec<Relation> {
    let mut out: Vec<Relation> = before
        .iter()
        .filter_map(|(oid, old)| {
            let new = after.get(oid)?;
            (old.filenode != 0 && new.filenode != old.filenode).then(|| new.relation.clone())
        })
        .collect();
    out.sort();
    out
}

fn first_line(sql: &str) -> String {
    let trimmed = sql.trim();
    let line = trimmed.lines().next().unwrap_or("");
    if line.len() < trimmed.len() {
        format!("{line} …")
    } else {
        line.to_owned()
    }
}

async fn backend_pid(client: &Client) -> Result<i32, DbError> {
    Ok(client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .map_err(|e| DbError::query("read the backend pid", e))?
        .get(0))
}

impl Migrator {
    /// Observes the upgrade of revision `index` on `session`'s database (a scratch
    /// database: a `transaction:false` upgrade really runs), then leaves the revision
    /// applied. Its parents are applied first when they are not. `conn` opens the
    /// second connection that samples locks of a `transaction:false` upgrade.
    pub async fn observe(
        &self,
        session: &Session<'_>,
        conn: &ConnInfo,
        index: usize,
    ) -> Result<RevisionObservation, RunError> {
        let graph = self.graph();
        let revision = graph.revision(index);
        let options = RunOptions::default();
        let state = self.state(session).await?;
        let applied = graph.ancestors(&state.heads);
        if applied[index] {
            return Err(RunError::Usage(format!(
                "{} is already applied to the scratch database; nothing to observe",
                revision.id
            )));
        }
        for &parent in graph.requires(index) {
            if !applied[parent] {
                let id = graph.revision(parent).id.to_string();
                self.upgrade(session, &id, &options, |_| {}, &mut |_| {})
                    .await?;
            }
        }
        let script = &revision.upgrade;
        let client = session.client();
        let pid = backend_pid(client).await?;
        // Outside a transaction, a statement's locks are gone when it returns: they are
        // sampled from a second connection while it runs, and a third holds a snapshot
        // open meanwhile, which the CONCURRENTLY commands wait for while holding their
        // table lock, so the sample catches them (the snapshot is let go then).
        let watchers = if script.transactional {
            None
        } else {
            let (sampler, blocker) = tokio::try_join!(
                conn.connect("retort lint --observe"),
                conn.connect("retort lint --observe")
            )
            .map_err(DbError::from)?;
            Some((sampler, blocker))
        };
        if script.transactional {
            client
                .batch_execute("BEGIN")
                .await
                .map_err(|e| DbError::query("begin the observed transaction", e))?;
        }
        let observed = async {
            // Locks the transaction holds, with the line of the statement that took each.
            let mut held: BTreeMap<(u32, String), usize> = BTreeMap::new();
            let mut statements = Vec::new();
            // Locks on relations created by the revision itself block nobody: no other
            // session can see them before COMMIT. Only older relations are reported.
            let existing = relations(client).await?;
            for piece in Piece::of_script(revision, Direction::Upgrade, script) {
                let crate::db::session::Origin::Revision { offset, .. } = piece.origin else {
                    continue;
                };
                let (line, column) = split::line_column(&script.sql, offset);
                let before = relations(client).await?;
                let started = Instant::now();
                let line = script.line + line - 1;
                let earlier = held.clone();
                let taken: Vec<(u32, String)> = match &watchers {
                    None => {
                        session.run_alone(&piece).await?;
                        let (now, _) = locks(client, pid).await?;
                        let new: Vec<(u32, String)> = now
                            .into_iter()
                            .filter(|lock| !held.contains_key(lock))
                            .collect();
                        held.extend(new.iter().map(|lock| (lock.clone(), line)));
                        new
                    }
                    Some((sampler, blocker)) => {
                        sample_while(sampler, blocker, pid, session.run_alone(&piece))
                            .await?
                            .into_iter()
                            .collect()
                    }
                };
                let duration_ms = started.elapsed().as_millis();
                let after = relations(client).await?;
                let visible = |(oid, _): &(u32, String)| existing.contains_key(oid);
                let locks = named_locks(taken.into_iter().filter(visible), &before, &after);
                let held_earlier = strongest_held(
                    earlier.into_iter().filter(|(lock, _)| visible(lock)),
                    &before,
                    &after,
                );
                statements.push(StatementObservation {
                    line,
                    column,
                    sql: first_line(&piece.sql),
                    duration_ms,
                    locks,
                    held: held_earlier,
                    rewritten: rewritten(&before, &after),
                });
            }
            Ok::<_, RunError>(statements)
        }
        .await;
        if script.transactional {
            // Whatever happened: the observation leaves nothing behind.
            let rollback = client.batch_execute("ROLLBACK").await;
            if observed.is_ok() {
                rollback.map_err(|e| DbError::query("roll back the observed transaction", e))?;
            }
        }
        let statements = observed?;
        if script.transactional {
            let step = Step {
                revision: index,
                direction: Direction::Upgrade,
            };
            self.run_exact(session, &[step], &options, &mut |_| {})
                .await?;
        } else {
            self.stamp(session, revision.id.as_str(), false, &options, |_| {})
                .await?;
        }
        Ok(RevisionObservation {
            revision: revision.id.to_string(),
            message: revision.message.clone(),
            path: revision.path.clone(),
            transactional: script.transactional,
            statements,
        })
    }
}

/// Runs `work` (a statement outside any transaction, on backend `pid`) while polling
/// its relation locks from `sampler`; returns every lock seen. `blocker` holds a
/// snapshot open until the statement is first seen waiting, so commands that wait for
/// older snapshots (the CONCURRENTLY family) are sampled while they hold their locks.
/// A statement that never waits can still finish between two polls unseen.
async fn sample_while(
    sampler: &Client,
    blocker: &Client,
    pid: i32,
    work: impl std::future::Future<Output = Result<(), DbError>>,
) -> Result<BTreeSet<(u32, String)>, RunError> {
    blocker
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1")
        .await
        .map_err(|e| DbError::query("hold a snapshot (lint --observe)", e))?;
    let mut blocking = true;
    let mut seen = BTreeSet::new();
    tokio::pin!(work);
    let outcome = loop {
        tokio::select! {
            result = &mut work => break result.map_err(RunError::from),
            sample = locks(sampler, pid) => {
                let (granted, waiting) = match sample {
                    Ok(sample) => sample,
                    Err(e) => break Err(e.into()),
                };
                seen.extend(granted);
                if waiting && blocking {
                    blocking = false;
                    if let Err(e) = blocker.batch_execute("COMMIT").await {
                        break Err(DbError::query("let go of the snapshot", e).into());
                    }
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    };
    if blocking {
        blocker
            .batch_execute("COMMIT")
            .await
            .map_err(|e| DbError::query("let go of the snapshot", e))?;
    }
    outcome.map(|()| seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_modes_read_as_sql_spells_them() {
        assert_eq!(mode_name("AccessExclusiveLock"), "ACCESS EXCLUSIVE");
        assert_eq!(
            mode_name("ShareUpdateExclusiveLock"),
            "SHARE UPDATE EXCLUSIVE"
        );
        assert_eq!(mode_name("RowExclusiveLock"), "ROW EXCLUSIVE");
        assert_eq!(mode_name("ShareLock"), "SHARE");
    }

    #[test]
    fn only_changed_filenodes_of_surviving_relations_are_rewrites() {
        let rel = |name: &str, filenode: u32| RelationState {
            relation: Relation {
                name: name.into(),
                kind: "table",
            },
            filenode,
        };
        let before = HashMap::from([(1, rel("a", 10)), (2, rel("b", 20)), (3, rel("c", 30))]);
        let after = HashMap::from([(1, rel("a", 11)), (2, rel("b", 20)), (4, rel("d", 40))]);
        let names: Vec<String> = rewritten(&before, &after)
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ["a"]);
    }
}
