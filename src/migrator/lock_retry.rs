//! Lock retries: a revision never queues the application behind it for longer than its
//! `lock_timeout`.
//!
//! A DDL statement waiting for its lock (behind a long read, say) makes every later
//! query on the table wait behind *it*: the lock queue. So each revision runs with a
//! short `lock_timeout` (2 s by default); when a lock is not granted in time the
//! revision's transaction rolls back, the run waits a jittered, growing delay (while it
//! waits, the application's queries go through) and tries again, until the lock
//! retry timeout is spent (GitLab's lock-retries pattern). Outside a transaction the
//! same holds statement by statement, for the statements a second attempt cannot harm
//! (see [`retry_safety`]). [`retry_locks`] is the loop; the rest is pure.

use std::time::{Duration, Instant};

use super::online::{RunError, RunEvent, RunOptions};
use crate::db::blockers::find_blockers;
use crate::db::session::BoundBatch;
use crate::db::{Blocker, DbError, Piece, Session};
use crate::sql::quote_ident;
use crate::Direction;

/// SQLSTATE lock_not_available: `lock_timeout` expired (or a NOWAIT lock was taken).
pub(super) const LOCK_NOT_AVAILABLE: &str = "55P03";

/// The `lock_timeout` of each attempt when none is configured.
pub const DEFAULT_SQL_LOCK_TIMEOUT: &str = "2s";

/// How long a revision is retried when none is configured.
pub const DEFAULT_LOCK_RETRY: Duration = Duration::from_secs(5 * 60);

/// The waits between attempts at a revision: 0.25–0.5 s after the first, doubling, at
/// most 5–10 s.
pub(super) const LOCK_BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(500),
    max: Duration::from_secs(10),
};

/// A revision (or, outside a transaction, one statement) whose lock was not granted in
/// time: rolled back, it runs again after `retry_in`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LockWait {
    /// The revision.
    pub revision: String,
    /// Which of its sections.
    pub direction: Direction,
    /// `file:line` of the statement that waited.
    pub location: String,
    /// The attempt that just failed (1 for the first).
    pub attempt: u32,
    /// The wait before the next attempt.
    #[serde(serialize_with = "millis")]
    pub retry_in: Duration,
    /// Time spent on this revision's attempts so far.
    #[serde(serialize_with = "millis")]
    pub waited: Duration,
    /// Who held the locks, as far as the server tells.
    pub blockers: Vec<Blocker>,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u128(d.as_millis())
}

impl std::fmt::Display for LockWait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {}: a lock was not granted in time ({}, attempt {}); {}; retrying in {:.1}s",
            self.direction,
            self.revision,
            self.location,
            self.attempt,
            describe_blockers(&self.blockers),
            self.retry_in.as_secs_f64()
        )
    }
}

/// "blocked by pid 1 (...), pid 2 (...)", or what to make of no blocker found.
pub fn describe_blockers(blockers: &[Blocker]) -> String {
    if blockers.is_empty() {
        return "the blocking session has ended or holds no lock on a relation the \
                statement names"
            .to_owned();
    }
    let list: Vec<String> = blockers.iter().map(ToString::to_string).collect();
    format!("blocked by {}", list.join("; "))
}

/// Exponential backoff with jitter: attempt `n` (0-based) waits a random time between
/// half and all of `base * 2^n`, capped at `max`. The randomness keeps many runs that
/// failed together (a fleet's targets, one server restarting) from all coming back in
/// the same instant.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// The wait before the first retry (before jitter).
    pub base: Duration,
    /// The longest wait, whatever the attempt (before jitter).
    pub max: Duration,
}

impl Backoff {
    /// The wait before the next attempt once `attempt + 1` attempts have failed (0 after
    /// the first failure): random between half and all of `min(base * 2^attempt, max)`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let full = self
            .base
            .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.max);
        let half = full / 2;
        half + half.mul_f64(unit_random())
    }
}

/// A number in [0, 1) from the operating system's generator; the clock's nanoseconds
/// when that fails (jitter only needs to differ between runs, not be secret).
fn unit_random() -> f64 {
    let mut bytes = [0u8; 4];
    let value = match getrandom::fill(&mut bytes) {
        Ok(()) => u32::from_le_bytes(bytes),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos()),
    };
    f64::from(value) / (f64::from(u32::MAX) + 1.0)
}

/// One attempt at some SQL of a step, repeated while its locks are not granted.
#[derive(Clone, Copy)]
pub(super) enum Attempt<'p, 'a> {
    /// A whole transaction: the step's (or, with --single-transaction, the run's).
    Transaction(&'p [Piece<'a>]),
    /// One statement of a `transaction:false` section.
    Alone(&'p Piece<'a>),
    /// One batch of a batch section, in a transaction of its own.
    Batch {
        /// `SET LOCAL` of the timeouts.
        timeouts: &'p [Piece<'a>],
        /// The batch.
        batch: &'p BoundBatch<'p, 'a>,
    },
}

/// Runs `attempt`, and while it fails only because a lock was not granted in time
/// (rolled back, so it left nothing), waits a jittered backoff and runs it again, for up
/// to `options.lock_retry_for`; the blocking sessions are told to `on_event` at each
/// wait and named in the error at the end. Returns the rows a batch changed and the
/// time its statement took (nothing for the other attempts).
pub(super) async fn retry_locks(
    session: &Session<'_>,
    options: &RunOptions,
    attempt: Attempt<'_, '_>,
    on_event: &mut dyn FnMut(RunEvent<'_>),
) -> Result<(u64, Duration), RunError> {
    let started = Instant::now();
    let safety = match attempt {
        Attempt::Transaction(_) | Attempt::Batch { .. } => RetrySafety::Safe,
        Attempt::Alone(piece) => retry_safety(&piece.sql),
    };
    let mut tries = 0u32;
    loop {
        tries += 1;
        let result = match attempt {
            Attempt::Transaction(pieces) => session
                .run_in_transaction(pieces)
                .await
                .map(|()| (0, Duration::ZERO)),
            Attempt::Alone(piece) => session.run_alone(piece).await.map(|()| (0, Duration::ZERO)),
            Attempt::Batch { timeouts, batch } => session.run_bounded(timeouts, batch).await,
        };
        let failure = match result {
            Ok(outcome) => return Ok(outcome),
            Err(DbError::Statement(failure)) if failure.code == LOCK_NOT_AVAILABLE => failure,
            Err(e) => return Err(e.into()),
        };
        let blockers = blockers_of(session, options, attempt).await;
        let waited = started.elapsed();
        let retry_in = LOCK_BACKOFF.delay(tries - 1);
        let not_retried = match &safety {
            RetrySafety::Unsafe(why) => Some(*why),
            _ => None,
        };
        if not_retried.is_some() || waited + retry_in > options.lock_retry_for {
            if let RetrySafety::DropInvalidIndex { name, table } = &safety {
                drop_invalid_index(session, name, table).await?;
            }
            return Err(RunError::LockNotGranted {
                failure,
                lock_timeout: options.sql_lock_timeout.clone().unwrap_or_default(),
                attempts: tries,
                waited,
                blockers,
                not_retried,
            });
        }
        on_event(RunEvent::LockWait(&LockWait {
            revision: failure.revision.clone(),
            direction: failure.direction,
            location: format!("{}:{}", failure.path.display(), failure.line),
            attempt: tries,
            retry_in,
            waited,
            blockers,
        }));
        tokio::time::sleep(retry_in).await;
        if let RetrySafety::DropInvalidIndex { name, table } = &safety {
            drop_invalid_index(session, name, table).await?;
        }
    }
}

/// The sessions holding locks on the relations the attempt's statements name (see
/// [`find_blockers`]); none when the server cannot tell.
async fn blockers_of(
    session: &Session<'_>,
    options: &RunOptions,
    attempt: Attempt<'_, '_>,
) -> Vec<Blocker> {
    let pieces: &[Piece<'_>] = match attempt {
        Attempt::Transaction(pieces) => pieces,
        Attempt::Alone(piece) => std::slice::from_ref(piece),
        Attempt::Batch { batch, .. } => std::slice::from_ref(batch.statement),
    };
    let words: Vec<String> = pieces
        .iter()
        .filter(|p| matches!(p.origin, crate::db::session::Origin::Revision { .. }))
        .flat_map(|p| crate::sql::words::words(&p.sql))
        .collect();
    let timeout_ms = options
        .sql_lock_timeout
        .as_deref()
        .and_then(|t| crate::config::parse_duration("sql_lock_timeout", t).ok())
        .unwrap_or(2_000);
    find_blockers(
        session.client(),
        &words,
        i64::try_from(timeout_ms).unwrap_or(i64::MAX),
    )
    .await
    .unwrap_or_default()
}

/// Drops the index a failed `CREATE INDEX CONCURRENTLY` left behind, when it is there
/// and INVALID (a valid index of that name is someone else's and stays).
async fn drop_invalid_index(
    session: &Session<'_>,
    name: &str,
    table: &str,
) -> Result<(), RunError> {
    let found = session
        .client()
        .query_opt(
            "SELECT n.nspname::text, c.relname::text \
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relname = $1 AND NOT i.indisvalid AND i.indrelid = to_regclass($2)",
            &[&name, &table],
        )
        .await
        .map_err(|e| DbError::query("look for the invalid index a failed build left", e))?;
    if let Some(row) = found {
        let index = format!(
            "{}.{}",
            quote_ident(row.get::<_, &str>(0)),
            quote_ident(row.get::<_, &str>(1))
        );
        session
            .run_alone(&Piece::bookkeeping(
                "drop the invalid index a failed concurrent build left",
                format!("DROP INDEX CONCURRENTLY IF EXISTS {index}"),
            ))
            .await?;
    }
    Ok(())
}

/// Whether a statement run outside a transaction may run again after its lock was not
/// granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RetrySafety {
    /// It ran in one implicit transaction: the failed attempt left nothing.
    Safe,
    /// `CREATE INDEX CONCURRENTLY name ON table`: a build that failed leaves the index
    /// behind, INVALID; drop it (when it is there and invalid) before the next attempt.
    DropInvalidIndex {
        /// The index's name, unquoted.
        name: String,
        /// The table as written in the statement (quoted parts kept), for `to_regclass`.
        table: String,
    },
    /// It commits on its own half-way (procedures, `DO` blocks, `REINDEX CONCURRENTLY`,
    /// `DETACH PARTITION … CONCURRENTLY`, an index built concurrently without a name),
    /// so a second attempt could meet or repeat its first half: no retry.
    Unsafe(&'static str),
}

/// How a statement may be retried (see [`RetrySafety`]).
pub(super) fn retry_safety(sql: &str) -> RetrySafety {
    let tokens = tokens(sql);
    let upper: Vec<String> = tokens
        .iter()
        .map(|t| {
            if t.starts_with('"') {
                t.clone()
            } else {
                t.to_ascii_uppercase()
            }
        })
        .collect();
    let word = |i: usize| upper.get(i).map_or("", String::as_str);
    match word(0) {
        "CALL" => return RetrySafety::Unsafe("a procedure may have committed part of its work"),
        "DO" => return RetrySafety::Unsafe("a DO block may have committed part of its work"),
        _ => {}
    }
    let concurrently = upper.iter().any(|w| w == "CONCURRENTLY");
    if word(0) == "REINDEX" && concurrently {
        return RetrySafety::Unsafe(
            "a failed REINDEX CONCURRENTLY leaves invalid _ccnew indexes to drop by hand",
        );
    }
    if word(0) == "ALTER" && concurrently && upper.iter().any(|w| w == "DETACH") {
        return RetrySafety::Unsafe(
            "a failed DETACH PARTITION CONCURRENTLY leaves the partition pending: finish it \
             with DETACH PARTITION … FINALIZE",
        );
    }
    if word(0) != "CREATE" || !concurrently {
        return RetrySafety::Safe;
    }
    // CREATE [UNIQUE] INDEX CONCURRENTLY [IF NOT EXISTS] name ON [ONLY] table ...
    let mut i = 1;
    if word(i) == "UNIQUE" {
        i += 1;
    }
    if word(i) != "INDEX" || word(i + 1) != "CONCURRENTLY" {
        return RetrySafety::Safe;
    }
    i += 2;
    if word(i) == "IF" && word(i + 1) == "NOT" && word(i + 2) == "EXISTS" {
        i += 3;
    }
    if word(i) == "ON" || word(i).is_empty() {
        return RetrySafety::Unsafe(
            "an index built concurrently without a name cannot be found to drop when the \
             build fails",
        );
    }
    let name = unquote(&tokens[i]);
    i += 1;
    if word(i) != "ON" {
        return RetrySafety::Safe;
    }
    i += 1;
    if word(i) == "ONLY" {
        i += 1;
    }
    let mut table = tokens.get(i).cloned().unwrap_or_default();
    while word(i + 1) == "." {
        table.push('.');
        table.push_str(tokens.get(i + 2).map_or("", String::as_str));
        i += 2;
    }
    RetrySafety::DropInvalidIndex { name, table }
}

/// The tokens of a statement up to its first parenthesis (comments skipped): enough for
/// the statement heads [`retry_safety`] reads.
fn tokens(sql: &str) -> Vec<String> {
    crate::sql::words::tokens(sql, true)
        .take_while(|t| t != "(")
        .take(17)
        .collect()
}

/// `"My Index"` → `My Index`; a bare word folds to lower case, as PostgreSQL does.
fn unquote(token: &str) -> String {
    match token.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => token.to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let backoff = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        for attempt in 0..4 {
            let full = Duration::from_millis(100 << attempt);
            for _ in 0..50 {
                let d = backoff.delay(attempt);
                assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
            }
        }
        for _ in 0..50 {
            assert!(backoff.delay(30) <= Duration::from_secs(1));
            assert!(backoff.delay(30) >= Duration::from_millis(500));
        }
        // Jitter: fifty draws are not all the same.
        let draws: std::collections::BTreeSet<Duration> =
            (0..50).map(|_| backoff.delay(2)).collect();
        assert!(draws.len() > 1);
    }

    #[test]
    fn statements_that_commit_half_way_are_not_retried() {
        use RetrySafety::*;
        assert_eq!(retry_safety("ALTER TABLE t ADD COLUMN c int"), Safe);
        assert_eq!(retry_safety("VACUUM t"), Safe);
        assert_eq!(retry_safety("DROP INDEX CONCURRENTLY t_c_idx"), Safe);
        assert_eq!(retry_safety("ALTER TYPE mood ADD VALUE 'meh'"), Safe);
        assert!(matches!(retry_safety("call backfill()"), Unsafe(_)));
        assert!(matches!(
            retry_safety("DO $$ BEGIN COMMIT; END $$"),
            Unsafe(_)
        ));
        assert!(matches!(
            retry_safety("REINDEX INDEX CONCURRENTLY t_c_idx"),
            Unsafe(_)
        ));
        assert!(matches!(
            retry_safety("ALTER TABLE p DETACH PARTITION p1 CONCURRENTLY"),
            Unsafe(_)
        ));
        assert!(matches!(
            retry_safety("CREATE INDEX CONCURRENTLY ON t (c)"),
            Unsafe(_)
        ));
        assert_eq!(
            retry_safety(
                "-- why\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS T_C_Idx ON ONLY app.t (c)"
            ),
            DropInvalidIndex {
                name: "t_c_idx".into(),
                table: "app.t".into()
            }
        );
        assert_eq!(
            retry_safety(
                "create index concurrently \"My \"\"Idx\" on \"s x\".\"T\" using btree (c)"
            ),
            DropInvalidIndex {
                name: "My \"Idx".into(),
                table: "\"s x\".\"T\"".into()
            }
        );
    }
}
