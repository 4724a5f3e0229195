//! Lock retries: a revision waiting for a lock never queues the application behind it
//! for longer than its `lock_timeout` (plus a little), is rolled back and tried again
//! until the lock is free, and names the blocking session when it gives up.

use std::time::{Duration, Instant};

use crate::support::{connect, runtime, TestDb};
use crate::support::{retort, write_revision, Project, Rev, Run};

/// A table the application reads, and one revision that needs an ACCESS EXCLUSIVE lock
/// on it.
fn table_and_alter(project: &Project, db: &TestDb) {
    db.execute(
        "CREATE TABLE t (id int PRIMARY KEY, v int);
         INSERT INTO t SELECT g, g FROM generate_series(1, 100) g",
    )
    .expect("the application's table");
    write_revision(
        &project.versions(),
        &Rev {
            number: 1,
            parents: &[],
            message: "add c",
            upgrade: "ALTER TABLE t ADD COLUMN c int;",
            downgrade: Some("ALTER TABLE t DROP COLUMN c;"),
            non_transactional: false,
        },
    );
}

/// What the application saw while `retort upgrade ARGS` ran against a reader holding
/// `t` for `hold`: the upgrade's result, the longest single-row query, how many ran,
/// and when the upgrade ended (from the reader's start).
struct Observed {
    run: Run,
    longest: Duration,
    queries: u32,
    upgrade_took: Duration,
    reader_pid: i32,
}

fn upgrade_beside_a_long_reader(
    project: &Project,
    db: &TestDb,
    hold: Duration,
    args: &[&str],
) -> Observed {
    runtime().block_on(async {
        let reader = connect(&db.url).await;
        reader
            .batch_execute("SET application_name = 'long report'; BEGIN; SELECT count(*) FROM t")
            .await
            .expect("the reader's transaction");
        let reader_pid: i32 = reader
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .expect("pid")
            .get(0);
        let started = Instant::now();
        let reader_task = tokio::spawn(async move {
            tokio::time::sleep(hold).await;
            reader.batch_execute("COMMIT").await.expect("commit");
        });
        let mut command = retort(project.path());
        command
            .args(["--database-url", &db.url, "upgrade"])
            .args(args);
        let upgrade = tokio::task::spawn_blocking(move || {
            let output = command.output().expect("run retort");
            (Run::from(output), Instant::now())
        });
        let app = connect(&db.url).await;
        let mut longest = Duration::ZERO;
        let mut queries = 0;
        while !upgrade.is_finished() {
            let sent = Instant::now();
            app.query_one("SELECT v FROM t WHERE id = 1", &[])
                .await
                .expect("the application's query");
            longest = longest.max(sent.elapsed());
            queries += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (run, ended) = upgrade.await.expect("the upgrade task");
        reader_task.await.expect("the reader task");
        Observed {
            run,
            longest,
            queries,
            upgrade_took: ended - started,
            reader_pid,
        }
    })
}

/// The acceptance: a 10 s reader holds `t`; with the default settings (2 s
/// lock_timeout, retries for 5 minutes) the application's single-row queries never
/// wait longer than the lock timeout plus 0.5 s, and the upgrade completes once the
/// reader ends, naming the reader while it waits.
#[test]
fn a_blocked_upgrade_retries_without_queueing_the_application() {
    let project = Project::new();
    let db = TestDb::new("lockretry_queue");
    table_and_alter(&project, &db);
    let seen = upgrade_beside_a_long_reader(&project, &db, Duration::from_secs(10), &[]);
    eprintln!(
        "lock retries: the application's longest wait {:?} over {} queries; the upgrade ended \
         {:?} after the reader began",
        seen.longest, seen.queries, seen.upgrade_took
    );
    let run = seen.run.ok();
    assert!(
        seen.longest <= Duration::from_millis(2_500),
        "the application waited {:?} behind the upgrade",
        seen.longest
    );
    assert!(seen.queries > 50, "only {} queries ran", seen.queries);
    assert!(
        seen.upgrade_took >= Duration::from_secs(10),
        "the upgrade cannot end before the reader: {:?}",
        seen.upgrade_took
    );
    assert!(
        seen.upgrade_took <= Duration::from_secs(20),
        "the upgrade should follow the reader's end closely: {:?}",
        seen.upgrade_took
    );
    // The wait is said, with the blocking session.
    assert!(
        run.stderr.contains("waiting: upgrade of "),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("pid {} (", seen.reader_pid))
            && run.stderr.contains("`long report`")
            && run.stderr.contains("AccessShareLock on t"),
        "{}",
        run.stderr
    );
    assert_eq!(
        db.texts("SELECT direction || ' ' || revision FROM retort_history"),
        vec![format!("upgrade {}", crate::support::rev_id(1))],
        "applied once"
    );
    assert_eq!(
        db.texts("SELECT count(*)::text FROM information_schema.columns WHERE table_name = 't' AND column_name = 'c'"),
        vec!["1".to_owned()]
    );
}

/// The same with the lock timeout turned off: the application queues behind the
/// waiting ALTER for most of the reader's time, which is what the retries prevent (and
/// what makes the bound above a measurement that can fail).
#[test]
fn without_a_lock_timeout_the_application_queues_behind_the_upgrade() {
    let project = Project::new();
    let db = TestDb::new("lockretry_noqueue");
    table_and_alter(&project, &db);
    let seen = upgrade_beside_a_long_reader(
        &project,
        &db,
        Duration::from_secs(5),
        &["--sql-lock-timeout", "0"],
    );
    eprintln!(
        "no lock timeout: the application's longest wait {:?} over {} queries",
        seen.longest, seen.queries
    );
    seen.run.ok();
    assert!(
        seen.longest >= Duration::from_secs(3),
        "the application was expected to queue behind the ALTER: {:?}",
        seen.longest
    );
}

/// A blocker that outlasts the retries: exit 4, the statement located, the blocking
/// session named (pid, user, application, query), nothing of the revision kept; once the
/// blocker ends, the same command completes.
#[test]
fn retries_that_run_out_exit_4_naming_the_blocker() {
    let project = Project::new();
    let db = TestDb::new("lockretry_giveup");
    table_and_alter(&project, &db);
    runtime().block_on(async {
        let reader = connect(&db.url).await;
        let pid: i32 = reader
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .expect("pid")
            .get(0);
        reader
            .batch_execute("SET application_name = 'stuck job'; BEGIN; SELECT count(*) FROM t")
            .await
            .expect("the reader");
        let args = [
            "--database-url",
            db.url.as_str(),
            "upgrade",
            "--sql-lock-timeout",
            "200ms",
            "--lock-retry-timeout",
            "2s",
        ];
        let mut command = retort(project.path());
        command.args(args);
        let started = Instant::now();
        let run = tokio::task::spawn_blocking(move || Run::from(command.output().expect("run")))
            .await
            .expect("task")
            .fails_with(4);
        assert!(started.elapsed() >= Duration::from_secs(1), "it retried");
        for expected in [
            format!("pid {pid} ("),
            "`stuck job`".to_owned(),
            "SELECT count(*) FROM t".to_owned(),
            "could not get its locks (lock_timeout 200ms expired on each of".to_owned(),
            "Nothing of the revision was kept".to_owned(),
            "_add_c.sql:".to_owned(),
            "--lock-retry-timeout".to_owned(),
        ] {
            assert!(
                run.stderr.contains(&expected),
                "{expected}:\n{}",
                run.stderr
            );
        }
        let rows = reader
            .query("SELECT 1 FROM retort_version", &[])
            .await
            .expect("read the version table");
        assert!(rows.is_empty(), "nothing recorded");
        reader.batch_execute("COMMIT").await.expect("commit");
        let mut command = retort(project.path());
        command.args(args);
        tokio::task::spawn_blocking(move || Run::from(command.output().expect("run")))
            .await
            .expect("task")
            .ok();
    });
    assert_eq!(db.texts("SELECT revision FROM retort_version").len(), 1);
}

/// `transaction:false`: a concurrent index build that times out waiting for an old
/// snapshot leaves an INVALID index; it is dropped before each retry, and the build
/// succeeds once the old transaction ends: one valid index, the revision applied once.
#[test]
fn a_concurrent_index_build_is_retried_after_dropping_its_invalid_index() {
    let project = Project::new();
    let db = TestDb::new("lockretry_cic");
    db.execute(
        "CREATE TABLE t (id int PRIMARY KEY, v int); CREATE TABLE other (x int);
         INSERT INTO t SELECT g, g FROM generate_series(1, 1000) g",
    )
    .expect("tables");
    write_revision(
        &project.versions(),
        &Rev {
            number: 1,
            parents: &[],
            message: "index v",
            upgrade: "CREATE INDEX CONCURRENTLY t_v_idx ON t (v);",
            downgrade: Some("DROP INDEX CONCURRENTLY t_v_idx;"),
            non_transactional: true,
        },
    );
    let run = runtime().block_on(async {
        // An old snapshot: the build's last phase waits for it to go.
        let old = connect(&db.url).await;
        old.batch_execute(
            "SET application_name = 'old snapshot'; \
             BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM other",
        )
        .await
        .expect("the old transaction");
        let ender = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(4)).await;
            old.batch_execute("COMMIT").await.expect("commit");
        });
        let mut command = retort(project.path());
        command.args([
            "--database-url",
            db.url.as_str(),
            "upgrade",
            "--sql-lock-timeout",
            "500ms",
        ]);
        let run = tokio::task::spawn_blocking(move || Run::from(command.output().expect("run")))
            .await
            .expect("task");
        ender.await.expect("ender");
        run
    });
    let run = run.ok();
    assert!(
        run.stderr.contains("waiting: upgrade of "),
        "{}",
        run.stderr
    );
    assert_eq!(
        db.texts(
            "SELECT c.relname || ' ' || i.indisvalid FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indexrelid \
             WHERE i.indrelid = 't'::regclass AND c.relname <> 't_pkey'"
        ),
        vec!["t_v_idx true".to_owned()]
    );
    assert_eq!(
        db.texts("SELECT direction FROM retort_history"),
        vec!["upgrade".to_owned()]
    );
    assert!(db
        .texts("SELECT revision || coalesce(dirty, '') FROM retort_version")
        .iter()
        .all(|r| !r.ends_with("upgrade")));
}
