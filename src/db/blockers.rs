//! Who keeps a revision from getting its locks: the sessions of the same database that
//! hold locks on the relations a statement names, found right after the statement's
//! `lock_timeout` expired (the blocker still holds its lock then; ours is gone).
//!
//! PostgreSQL does not say which relation a `lock_timeout` error was waiting for, so the
//! relations are looked up by the words of the statements that ran: generous (a word
//! that happens to be a table's name counts), which can only name one session too many.
//! Sessions in a transaction older than the lock timeout that hold any relation lock
//! come after those, for locks taken on relations the text does not name (through a
//! function, a foreign key, a partition).

use std::fmt;

use tokio_postgres::Client;

/// A session holding a lock that a revision waited for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Blocker {
    /// Its backend's process id (`pg_terminate_backend` takes it).
    pub pid: i32,
    /// The role it is logged in as.
    pub user: String,
    /// Its `application_name` (may be empty).
    pub application: String,
    /// `active`, `idle in transaction`, ...
    pub state: String,
    /// When its transaction began (server time), when it is in one.
    pub transaction_start: Option<String>,
    /// When its current or last query began.
    pub query_start: Option<String>,
    /// That query, cut to 200 characters.
    pub query: String,
    /// The relation it holds a lock on, and the lock's mode (`AccessShareLock` on
    /// `app.t`); `None` for a session listed for its old transaction alone.
    pub holds: Option<String>,
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pid {} ({}", self.pid, self.user)?;
        if !self.application.is_empty() {
            write!(f, ", `{}`", self.application)?;
        }
        write!(f, ", {}", self.state)?;
        if let Some(start) = &self.transaction_start {
            write!(f, ", in a transaction since {start}")?;
        }
        if let Some(start) = &self.query_start {
            write!(f, ", query started {start}")?;
        }
        if !self.query.is_empty() {
            write!(f, ": {}", self.query)?;
        }
        f.write_str(")")?;
        if let Some(holds) = &self.holds {
            write!(f, " holding {holds}")?;
        }
        Ok(())
    }
}

/// Sessions of this database (other than `client`'s) holding locks on relations named
/// by `words` (identifiers as written; each is also tried in lower case), then those in
/// a transaction older than `older_than_ms` holding any relation lock; at most three.
pub async fn find_blockers(
    client: &Client,
    words: &[String],
    older_than_ms: i64,
) -> Result<Vec<Blocker>, tokio_postgres::Error> {
    let mut names: Vec<String> = words
        .iter()
        .flat_map(|w| [w.clone(), w.to_lowercase()])
        .collect();
    names.sort();
    names.dedup();
    let rows = client
        .query(
            "SELECT DISTINCT ON (a.pid) a.pid, coalesce(a.usename::text, '?'), \
                    coalesce(a.application_name, ''), coalesce(a.state, '?'), \
                    to_char(a.xact_start, 'YYYY-MM-DD HH24:MI:SS TZ'), \
                    to_char(a.query_start, 'YYYY-MM-DD HH24:MI:SS TZ'), \
                    left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 200), \
                    CASE WHEN c.relname = ANY($1) \
                         THEN l.mode || ' on ' || l.relation::regclass::text END, \
                    (c.relname = ANY($1)) AS named, a.xact_start \
             FROM pg_locks l \
             JOIN pg_stat_activity a ON a.pid = l.pid \
             JOIN pg_class c ON c.oid = l.relation \
             WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_backend_pid() \
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
               AND (c.relname = ANY($1) \
                    OR a.xact_start < now() - make_interval(secs => $2::bigint / 1000.0)) \
             ORDER BY a.pid, (c.relname = ANY($1)) DESC",
            &[&names, &older_than_ms],
        )
        .await?;
    let mut blockers: Vec<(bool, Option<std::time::SystemTime>, Blocker)> = rows
        .iter()
        .map(|row| {
            (
                row.get::<_, bool>(8),
                row.get::<_, Option<std::time::SystemTime>>(9),
                Blocker {
                    pid: row.get(0),
                    user: row.get(1),
                    application: row.get(2),
                    state: row.get(3),
                    transaction_start: row.get(4),
                    query_start: row.get(5),
                    query: row.get(6),
                    holds: row.get(7),
                },
            )
        })
        .collect();
    // Those holding a named relation first, then the oldest transactions.
    blockers.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    Ok(blockers.into_iter().take(3).map(|(_, _, b)| b).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocker_reads_as_one_line() {
        let blocker = Blocker {
            pid: 4242,
            user: "report".into(),
            application: "psql".into(),
            state: "idle in transaction".into(),
            transaction_start: Some("2026-12-07 10:00:01 UTC".into()),
            query_start: Some("2026-12-07 10:00:02 UTC".into()),
            query: "SELECT count(*) FROM app.t".into(),
            holds: Some("AccessShareLock on app.t".into()),
        };
        assert_eq!(
            blocker.to_string(),
            "pid 4242 (report, `psql`, idle in transaction, in a transaction since \
             2026-12-07 10:00:01 UTC, query started 2026-12-07 10:00:02 UTC: SELECT count(*) \
             FROM app.t) holding AccessShareLock on app.t"
        );
    }
}
