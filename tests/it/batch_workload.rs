//! What the application waits for while a backfill runs (issue 24): a concurrent
//! workload of single-row updates on random ids, its every query timed, beside the same
//! backfill of 200,000 rows run in batches and as one plain UPDATE. In batches, no query
//! waits longer than the batches' lock timeout plus the slowest batch; as one statement,
//! the application waits for about the whole UPDATE.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{connect, retort, runtime, write_revision, Project, Rev, Run, TestDb};

const ROWS: i32 = 200_000;
const BATCH_SIZE: i32 = 5_000;
/// The runs' `lock_timeout` (retort's default).
const LOCK_TIMEOUT: Duration = Duration::from_secs(2);
/// Concurrent application sessions.
const WORKERS: u64 = 3;

/// The application's table (`v` is what the workload increments, `touched` counts the
/// backfill's updates of each row) and a log the backfill writes one row per statement
/// to: its kind, the statement's start and the moment its UPDATE had finished.
fn application_table(db: &TestDb) {
    db.execute(&format!(
        "CREATE TABLE t (id int PRIMARY KEY, payload text NOT NULL,
                         v int NOT NULL DEFAULT 0, touched int NOT NULL DEFAULT 0);
         INSERT INTO t (id, payload) SELECT g, md5(g::text) FROM generate_series(1, {ROWS}) g;
         CREATE TABLE seen (kind text NOT NULL, started timestamptz NOT NULL,
                            ended timestamptz NOT NULL, rows int NOT NULL)"
    ))
    .expect("the application's table");
    db.execute("VACUUM ANALYZE t").expect("vacuum");
}

/// The backfill: fill a new column from `payload` and count the update in `touched`,
/// logging the statement in `seen`.
fn backfill(filter: &str, kind: &str) -> String {
    format!(
        "WITH u AS (\n\
           UPDATE t SET w = length(payload) + id % 7, touched = touched + 1{filter}\n\
           RETURNING 1)\n\
         INSERT INTO seen SELECT '{kind}', statement_timestamp(), clock_timestamp(), count(*) FROM u;"
    )
}

/// One revision adding `w` and filling it: in batches of `BATCH_SIZE` keys, or as one
/// UPDATE. Either way the transaction that records the revision logs an `after` row,
/// which begins after the last batch committed.
fn backfill_revision(project: &Project, batched: bool) -> String {
    let marker = "INSERT INTO seen VALUES ('after', statement_timestamp(), clock_timestamp(), 0);";
    let upgrade = if batched {
        format!(
            "ALTER TABLE t ADD COLUMN w int;\n\n\
             -- migrate:batch table=public.t key=id size={BATCH_SIZE}\n{}\n\n\
             -- migrate:upgrade\n{marker}",
            backfill("\n WHERE id >= :lo AND id < :hi", "batch")
        )
    } else {
        format!(
            "ALTER TABLE t ADD COLUMN w int;\n{}\n{marker}",
            backfill("", "plain")
        )
    };
    write_revision(
        &project.versions(),
        &Rev {
            number: 1,
            parents: &[],
            message: "backfill w",
            upgrade: &upgrade,
            downgrade: Some("ALTER TABLE t DROP COLUMN w;"),
            non_transactional: false,
        },
    )
}

/// What the workload saw while `retort upgrade` ran.
struct Observed {
    run: Run,
    /// The longest single-row UPDATE, from sending it to its result.
    longest: Duration,
    queries: u64,
    upgrade_took: Duration,
}

/// Runs `retort upgrade` while `WORKERS` sessions update random rows of `t`, one row
/// per statement (autocommit), from before the upgrade starts until it has ended.
fn upgrade_beside_a_workload(project: &Project, db: &TestDb) -> Observed {
    runtime().block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::new();
        for worker in 0..WORKERS {
            let client = connect(&db.url).await;
            let stop = Arc::clone(&stop);
            workers.push(tokio::spawn(async move {
                let update = client
                    .prepare("UPDATE t SET v = v + 1 WHERE id = $1")
                    .await
                    .expect("prepare the application's update");
                let mut state = 0x9e37_79b9_7f4a_7c15_u64 ^ (worker + 1).wrapping_mul(0x2545_f491);
                let (mut longest, mut queries) = (Duration::ZERO, 0_u64);
                while !stop.load(Ordering::Relaxed) {
                    // xorshift64: a different sequence of ids per worker.
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let id = i32::try_from(state % ROWS as u64).expect("fits") + 1;
                    let sent = Instant::now();
                    let updated = client
                        .execute(&update, &[&id])
                        .await
                        .expect("the application's update");
                    longest = longest.max(sent.elapsed());
                    queries += 1;
                    assert_eq!(updated, 1, "id {id}");
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                (longest, queries)
            }));
        }
        // The workload runs before the upgrade begins and until it has ended.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut command = retort(project.path());
        command.args(["--database-url", &db.url, "upgrade"]);
        let started = Instant::now();
        let run = tokio::task::spawn_blocking(move || Run::from(command.output().expect("run")))
            .await
            .expect("the upgrade task");
        let upgrade_took = started.elapsed();
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.store(true, Ordering::Relaxed);
        let (mut longest, mut queries) = (Duration::ZERO, 0);
        for worker in workers {
            let (l, q) = worker.await.expect("a workload task");
            longest = longest.max(l);
            queries += q;
        }
        Observed {
            run,
            longest,
            queries,
            upgrade_took,
        }
    })
}

/// Seconds as a duration, from a query's one text column.
fn seconds(db: &TestDb, sql: &str) -> Duration {
    let text = &db.texts(&format!("SELECT ({sql})::text"))[0];
    Duration::from_secs_f64(text.parse().unwrap_or_else(|_| panic!("{sql}: {text}")))
}

fn count(db: &TestDb, sql: &str) -> i64 {
    let text = &db.texts(&format!("SELECT ({sql})::text"))[0];
    text.parse().unwrap_or_else(|_| panic!("{sql}: {text}"))
}

/// Every row backfilled exactly once, every workload update kept, the revision applied
/// once and no batch left under way (none begun, for a revision without a batch).
fn check_the_outcome(db: &TestDb, id: &str, batched: bool, workload_queries: u64) {
    assert_eq!(
        count(db, "SELECT count(*) FROM t WHERE touched <> 1"),
        0,
        "rows not updated exactly once by the backfill"
    );
    assert_eq!(
        count(
            db,
            "SELECT count(*) FROM t WHERE w IS DISTINCT FROM length(payload) + id % 7"
        ),
        0
    );
    assert_eq!(count(db, "SELECT count(*) FROM t"), i64::from(ROWS));
    assert_eq!(
        count(db, "SELECT sum(v) FROM t"),
        i64::try_from(workload_queries).expect("fits"),
        "each of the workload's updates is kept"
    );
    assert_eq!(
        db.texts("SELECT revision || ' ' || direction FROM retort_history"),
        [format!("{id} upgrade")]
    );
    // The batch table is created on a batch section's first run.
    let under_way = if batched {
        "SELECT count(*) FROM retort_version_batch"
    } else {
        "SELECT count(*) FROM pg_class WHERE relname = 'retort_version_batch'"
    };
    assert_eq!(count(db, under_way), 0, "{under_way}");
}

/// The acceptance of issue 24, points 2 and 4. Batched: the workload's longest wait is
/// below the lock timeout plus the slowest batch (each batch's time from its
/// statement's start to the next one's, which includes its commit: an upper bound on
/// how long it held its rows). Plain: the longest wait is about the UPDATE's whole
/// duration, and longer than the batched case's, so the first bound is a measurement
/// that can fail.
#[test]
fn the_application_waits_for_one_batch_not_for_the_whole_backfill() {
    // In batches.
    let project = Project::new();
    let db = TestDb::new("batch_workload");
    application_table(&db);
    let id = backfill_revision(&project, true);
    let batched = upgrade_beside_a_workload(&project, &db);
    batched.run.ok();
    check_the_outcome(&db, &id, true, batched.queries);
    let batches = count(&db, "SELECT count(*) FROM seen WHERE kind = 'batch'");
    assert_eq!(batches, i64::from(ROWS / BATCH_SIZE), "one row per batch");
    assert_eq!(
        count(&db, "SELECT max(rows) FROM seen WHERE kind = 'batch'"),
        i64::from(BATCH_SIZE)
    );
    // Each batch from its statement's start to the next statement's (the last: to the
    // transaction recording the revision).
    let slowest_batch = seconds(
        &db,
        "SELECT extract(epoch FROM max(next - started)) FROM (SELECT kind, started, \
           lead(started) OVER (ORDER BY started) AS next FROM seen) s WHERE kind = 'batch'",
    );
    let slowest_statement = seconds(
        &db,
        "SELECT extract(epoch FROM max(ended - started)) FROM seen WHERE kind = 'batch'",
    );
    eprintln!(
        "batched backfill of {ROWS} rows in {batches} batches of {BATCH_SIZE}: the application's \
         longest wait {:?} over {} single-row updates; slowest batch {slowest_batch:?} \
         (its statement alone {slowest_statement:?}); the upgrade took {:?}",
        batched.longest, batched.queries, batched.upgrade_took
    );
    assert!(
        batched.queries >= 100,
        "only {} workload queries ran",
        batched.queries
    );
    assert!(
        batched.longest < LOCK_TIMEOUT + slowest_batch,
        "the application waited {:?}, more than the lock timeout {LOCK_TIMEOUT:?} plus the \
         slowest batch {slowest_batch:?}",
        batched.longest
    );
    drop(db);

    // The same backfill as one UPDATE.
    let project = Project::new();
    let db = TestDb::new("batch_workload_plain");
    application_table(&db);
    let id = backfill_revision(&project, false);
    let plain = upgrade_beside_a_workload(&project, &db);
    plain.run.ok();
    check_the_outcome(&db, &id, false, plain.queries);
    let update_took = seconds(
        &db,
        "SELECT extract(epoch FROM ended - started) FROM seen WHERE kind = 'plain'",
    );
    eprintln!(
        "one UPDATE of {ROWS} rows taking {update_took:?}: the application's longest wait {:?} \
         over {} single-row updates; the upgrade took {:?}",
        plain.longest, plain.queries, plain.upgrade_took
    );
    assert!(
        plain.longest >= update_took / 2,
        "the application was expected to wait for most of the UPDATE ({update_took:?}): {:?}",
        plain.longest
    );
    assert!(
        plain.longest > batched.longest,
        "one UPDATE made the application wait {:?}, batches {:?}",
        plain.longest,
        batched.longest
    );
}
