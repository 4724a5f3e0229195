//! Batch sections: a data change run over key ranges of a table, one transaction per
//! range, resumable after any interruption, the revision recorded once when the last
//! range committed.

use std::time::Duration;

use crate::support::{write_revision, Project, Rev, TestDb};

/// `n` rows with gaps in their ids (every other id), a counter of how often each row
/// was updated, and a log of the batches' transactions.
fn events_table(db: &TestDb, n: u32) {
    db.execute(&format!(
        "CREATE TABLE events (id bigint PRIMARY KEY, kind text NOT NULL, touched int NOT NULL DEFAULT 0);
         INSERT INTO events (id, kind) SELECT 2 * g, 'k' || (g % 7) FROM generate_series(1, {n}) g;
         CREATE TABLE seen (xid bigint, rows int)"
    ))
    .expect("the application's table");
}

/// One revision: add a column, fill it in batches (logging each batch's transaction
/// and row count in `seen`), then make it NOT NULL; the downgrade drops it.
fn backfill_revision(project: &Project, options: &str, statement_tail: &str) -> String {
    let upgrade = format!(
        "ALTER TABLE events ADD COLUMN kind_len int;\n\n\
         -- migrate:batch table=public.events key=id {options}\n\
         WITH u AS (\n\
           UPDATE events SET kind_len = length(kind), touched = touched + 1\n\
            WHERE id >= :lo AND id < :hi{statement_tail}\n\
           RETURNING 1)\n\
         INSERT INTO seen SELECT txid_current(), count(*) FROM u;\n\n\
         -- migrate:upgrade\n\
         ALTER TABLE events ALTER COLUMN kind_len SET NOT NULL;"
    );
    write_revision(
        &project.versions(),
        &Rev {
            number: 1,
            parents: &[],
            message: "backfill kind_len",
            upgrade: &upgrade,
            downgrade: Some("ALTER TABLE events DROP COLUMN kind_len;"),
            non_transactional: false,
        },
    )
}

fn count(db: &TestDb, sql: &str) -> i64 {
    let text = &db.texts(&format!("SELECT ({sql})::text"))[0];
    text.parse().unwrap_or_else(|_| panic!("{sql}: {text}"))
}

#[test]
fn a_backfill_runs_one_transaction_per_range_and_records_the_revision_once() {
    let project = Project::new();
    let db = TestDb::new("batch_backfill");
    events_table(&db, 10_000);
    let id = backfill_revision(&project, "size=1000", "");
    project.run_on(&db, &["upgrade"]).ok();

    assert_eq!(
        count(&db, "SELECT count(*) FROM events WHERE touched <> 1"),
        0
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM events WHERE kind_len IS NULL"),
        0
    );
    // 10,000 rows in ranges of 1,000 keys read from the index: ten batches, each its
    // own transaction, none larger than the size.
    assert_eq!(count(&db, "SELECT count(*) FROM seen"), 10);
    assert_eq!(count(&db, "SELECT count(DISTINCT xid) FROM seen"), 10);
    assert_eq!(count(&db, "SELECT max(rows) FROM seen"), 1000);
    assert_eq!(count(&db, "SELECT sum(rows) FROM seen"), 10_000);
    assert_eq!(
        db.texts("SELECT is_nullable FROM information_schema.columns WHERE table_name = 'events' AND column_name = 'kind_len'"),
        ["NO"]
    );
    assert_eq!(
        db.texts("SELECT revision || ' ' || direction FROM retort_history"),
        [format!("{id} upgrade")]
    );
    assert_eq!(count(&db, "SELECT count(*) FROM retort_version_batch"), 0);

    // The downgrade has no batch: it runs as one transaction, and the chain goes round.
    project.run_on(&db, &["downgrade", "base"]).ok();
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM information_schema.columns WHERE column_name = 'kind_len'"
        ),
        0
    );
    project.run_on(&db, &["upgrade"]).ok();
    assert_eq!(
        count(&db, "SELECT count(*) FROM events WHERE touched <> 2"),
        0
    );
}

#[test]
fn a_backfill_killed_at_random_moments_resumes_and_updates_every_row_once() {
    let project = Project::new();
    let db = TestDb::new("batch_kill");
    events_table(&db, 20_000);
    let id = backfill_revision(&project, "size=200 sleep=50ms", "");
    let mut seed: u64 = 0x5eed_ba7c;
    let mut next = move |bound: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % bound
    };
    let mut killed = 0;
    let mut resumed_at = Vec::new();
    for _ in 0..10 {
        let mut child = crate::support::retort(project.path())
            .args(["--database-url", db.url.as_str(), "upgrade"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn retort");
        std::thread::sleep(Duration::from_millis(100 + next(300)));
        if child.try_wait().expect("wait").is_none() {
            child.kill().expect("SIGKILL");
            killed += 1;
        }
        child.wait().expect("reap");
        // The killed session's transaction is rolled back once the server notices.
        crate::runner::wait_for_backends(&db);
        resumed_at.push(count(&db, "SELECT coalesce(sum(rows), 0) FROM seen"));
    }
    // 100 batches with 50 ms pauses outlast ten runs of at most 0.4 s each.
    assert!(
        killed >= 8,
        "only {killed} of 10 runs were killed mid-way: {resumed_at:?}"
    );
    assert!(
        resumed_at.windows(2).all(|w| w[0] <= w[1]) && resumed_at[9] < 20_000,
        "rows done after each kill: {resumed_at:?}"
    );
    project.run_on(&db, &["upgrade"]).ok();

    assert_eq!(
        count(&db, "SELECT count(*) FROM events WHERE touched <> 1"),
        0,
        "resumed at {resumed_at:?}"
    );
    assert_eq!(count(&db, "SELECT sum(rows) FROM seen"), 20_000);
    assert_eq!(
        db.texts("SELECT revision || ' ' || direction FROM retort_history"),
        [format!("{id} upgrade")]
    );
    assert_eq!(db.texts("SELECT revision FROM retort_version"), [id]);
}

#[test]
fn a_failed_batch_blocks_other_runs_until_the_fixed_file_finishes_it() {
    let project = Project::new();
    let db = TestDb::new("batch_fail");
    events_table(&db, 5_000);
    // The row with id 6,000 makes the statement fail (division by zero) in its batch.
    let id = backfill_revision(&project, "size=500", " AND 1 / (id - 6000) IS NOT NULL");
    let run = project.run_on(&db, &["upgrade"]).fails_with(3);
    assert!(run.stderr.contains("division by zero"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("{id}_backfill_kind_len.sql:10")),
        "{}",
        run.stderr
    );
    // Batches before the failing one committed, and the row says where to go on.
    // Ids 2, 4, ... in ranges of 500 keys: [2, 1002), ..., [5002, 6002) holds 6,000.
    assert_eq!(
        count(&db, "SELECT next_key[1]::bigint FROM retort_version_batch"),
        5_002
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM events WHERE touched = 1"),
        2_500
    );
    assert_eq!(count(&db, "SELECT count(*) FROM retort_version"), 0);

    let run = project.run_on(&db, &["downgrade", "base"]).fails_with(3);
    assert!(run.stderr.contains("stopped half-way"), "{}", run.stderr);
    assert!(run.stderr.contains("retort upgrade"), "{}", run.stderr);
    let run = project
        .run_on(&db, &["stamp", "head", "--force"])
        .fails_with(3);
    assert!(run.stderr.contains("stopped half-way"), "{}", run.stderr);

    // The revision is not applied, so its file may change: the rerun resumes.
    backfill_revision(&project, "size=500", "");
    project.run_on(&db, &["upgrade"]).ok();
    assert_eq!(
        count(&db, "SELECT count(*) FROM events WHERE touched <> 1"),
        0
    );
    assert_eq!(count(&db, "SELECT count(*) FROM retort_history"), 1);
}

#[test]
fn a_key_that_cannot_be_batched_is_refused_before_anything_runs() {
    let project = Project::new();
    let db = TestDb::new("batch_refused");
    db.execute(
        "CREATE TABLE events (id bigint, code text PRIMARY KEY, kind text, touched int DEFAULT 0);
         CREATE TABLE seen (xid bigint, rows int)",
    )
    .expect("tables");
    for (key, wanted) in [
        ("id", "no valid index of public.events begins with id"),
        ("code", "is of type text, which has no next value"),
        ("nope", "has no column nope"),
    ] {
        let id = backfill_revision(&project, "size=10", "");
        let path = crate::support::revision_path(&project.versions(), &id);
        let text = std::fs::read_to_string(&path).expect("read");
        std::fs::write(&path, text.replace("key=id", &format!("key={key}"))).expect("write");
        let run = project.run_on(&db, &["upgrade"]).fails_with(3);
        assert!(run.stderr.contains(wanted), "{key}: {}", run.stderr);
        assert!(
            run.stderr
                .contains(&format!("{id}_backfill_kind_len.sql:9")),
            "{}",
            run.stderr
        );
        assert_eq!(
            count(
                &db,
                "SELECT count(*) FROM information_schema.columns WHERE column_name = 'kind_len'"
            ),
            0,
            "the section before the batch did not run"
        );
    }
}

#[test]
fn the_sql_script_shows_the_batch_as_a_commented_plan() {
    let project = Project::new();
    backfill_revision(&project, "size=1000 sleep=5ms", "");
    let run = project.run(&["upgrade", "--sql"]).ok();
    let script = run.stdout;
    assert!(
        script.contains("ALTER TABLE events ADD COLUMN kind_len int;"),
        "{script}"
    );
    assert!(
        script.contains("-- migrate:batch table=public.events key=id size=1000 sleep=5ms"),
        "{script}"
    );
    assert!(script.contains("pausing 5 ms"), "{script}");
    assert!(
        script.contains("--   WHERE id >= :lo AND id < :hi"),
        "{script}"
    );
    let uncommented_placeholder = script
        .lines()
        .any(|l| !l.trim_start().starts_with("--") && l.contains(":lo"));
    assert!(!uncommented_placeholder, "{script}");
    let after = script.find("SET NOT NULL").expect("the section after");
    let plan = script.find("-- migrate:batch").expect("the plan");
    assert!(plan < after, "{script}");
}

/// Waits until `probe` holds, for up to `within`.
fn wait_for(within: Duration, mut probe: impl FnMut() -> bool) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < within {
        if probe() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn batch_pause_holds_the_run_and_resume_lets_it_finish_while_status_reports_from_another_process() {
    let project = Project::new();
    let db = TestDb::new("batch_pause");
    events_table(&db, 20_000);
    let id = backfill_revision(&project, "size=500 sleep=50ms", "");
    let child = crate::support::retort(project.path())
        .args(["--database-url", db.url.as_str(), "upgrade"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn retort");
    assert!(
        wait_for(Duration::from_secs(20), || count(
            &db,
            "SELECT count(*) FROM seen"
        ) >= 2),
        "the backfill never started"
    );

    // Status from another process: the section, its progress, and the run at it.
    let status = project
        .run_on(&db, &["--json", "batch", "status"])
        .ok()
        .json();
    let section = &status["batches"][0];
    assert_eq!(section["revision"], id.as_str());
    assert_eq!(section["table"], "public.events");
    assert!(
        section["batches"].as_i64().expect("batches") >= 2,
        "{status}"
    );
    assert!(status["running_pid"].as_i64().is_some(), "{status}");

    let paused = project.run_on(&db, &["batch", "pause", &id[..6]]).ok();
    assert!(
        paused.stdout.contains(&format!("paused {id}")),
        "{}",
        paused.stdout
    );
    // The batch under way finishes; then nothing moves while the pause holds.
    std::thread::sleep(Duration::from_millis(600));
    let held = count(&db, "SELECT count(*) FROM seen");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        count(&db, "SELECT count(*) FROM seen"),
        held,
        "batches ran while paused"
    );
    assert!(
        held < 40,
        "the backfill ended before the pause: {held} batches"
    );
    let status = project.run_on(&db, &["batch", "status"]).ok().stdout;
    assert!(status.contains("paused"), "{status}");

    project.run_on(&db, &["batch", "resume", &id]).ok();
    let run = child.wait_with_output().expect("the run ends");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("paused (`retort batch resume"), "{stderr}");
    assert_eq!(
        count(&db, "SELECT count(*) FROM events WHERE touched <> 1"),
        0
    );
    assert_eq!(count(&db, "SELECT count(*) FROM seen"), 40);
    let status = project.run_on(&db, &["batch", "status"]).ok().stdout;
    assert!(status.contains("no batch section under way"), "{status}");
    // A revision with no section under way is named as such.
    let run = project.run_on(&db, &["batch", "pause", &id]).fails_with(2);
    assert!(
        run.stderr.contains("no batch section under way matches"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_target_duration_shrinks_slow_batches_and_grows_fast_ones_in_both_directions() {
    let project = Project::new();
    let db = TestDb::new("batch_target");
    events_table(&db, 3_000);
    db.execute(
        "CREATE FUNCTION slow(v int) RETURNS int LANGUAGE plpgsql AS $$ \
         BEGIN PERFORM pg_sleep(0.0005); RETURN v; END $$",
    )
    .expect("a slow function");
    // Upgrade: at least half a millisecond a row, so 800 rows take far more than the
    // 150 ms target. Downgrade: fast rows, so 50 take far less.
    let upgrade = "ALTER TABLE events ADD COLUMN kind_len int;\n\n\
         -- migrate:batch table=events key=id size=800 target=150ms max_lag=30s\n\
         WITH u AS (UPDATE events SET kind_len = slow(length(kind)), touched = touched + 1\n\
          WHERE id >= :lo AND id < :hi RETURNING 1)\n\
         INSERT INTO seen SELECT txid_current(), count(*) FROM u;";
    let downgrade = "UPDATE events SET touched = touched WHERE false;\n\n\
         -- migrate:batch table=events key=id size=50 target=150ms\n\
         WITH u AS (UPDATE events SET kind_len = NULL, touched = touched + 10\n\
          WHERE id >= :lo AND id < :hi RETURNING 1)\n\
         INSERT INTO seen SELECT txid_current(), -count(*) FROM u;\n\n\
         -- migrate:downgrade\n\
         ALTER TABLE events DROP COLUMN kind_len;";
    write_revision(
        &project.versions(),
        &Rev {
            number: 1,
            parents: &[],
            message: "backfill kind_len",
            upgrade,
            downgrade: Some(downgrade),
            non_transactional: false,
        },
    );
    let sizes = |sql: &str| -> Vec<i64> {
        db.texts(sql)
            .iter()
            .map(|r| r.parse().expect("a number"))
            .collect()
    };
    project.run_on(&db, &["upgrade"]).ok();
    let up = sizes("SELECT rows::text FROM seen WHERE rows > 0 ORDER BY ctid");
    // Each batch at most halves the next: 800, 400, 200, then about the target's pace
    // (the last batch has what is left).
    assert_eq!(up[..3], [800, 400, 200], "{up:?}");
    let paced = &up[3..up.len() - 1];
    assert!(paced.iter().all(|&n| (10..400).contains(&n)), "{up:?}");
    assert_eq!(up.iter().sum::<i64>(), 3_000);

    project.run_on(&db, &["downgrade", "base"]).ok();
    let down = sizes("SELECT (-rows)::text FROM seen WHERE rows < 0 ORDER BY ctid");
    // Fast batches at most double the next: 50, 100, 200, 400, ...
    assert_eq!(down[..4], [50, 100, 200, 400], "{down:?}");
    assert_eq!(down.iter().sum::<i64>(), 3_000);
    assert_eq!(
        count(&db, "SELECT count(*) FROM events WHERE touched <> 11"),
        0
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM information_schema.columns WHERE column_name = 'kind_len'"
        ),
        0
    );
}

#[test]
fn test_migration_runs_batch_sections_as_a_loop_and_passes() {
    let project = Project::new();
    write_revision(
        &project.versions(),
        &Rev {
            number: 1,
            parents: &[],
            message: "events",
            upgrade: "CREATE TABLE events (id bigint PRIMARY KEY, kind text NOT NULL, touched int NOT NULL DEFAULT 0);\n\
                      INSERT INTO events (id, kind) SELECT g, 'k' FROM generate_series(1, 100) g;\n\
                      CREATE TABLE seen (xid bigint, rows int);",
            downgrade: Some("DROP TABLE seen; DROP TABLE events;"),
            non_transactional: false,
        },
    );
    let upgrade = "ALTER TABLE events ADD COLUMN kind_len int;\n\n\
         -- migrate:batch table=events key=id size=100000\n\
         WITH u AS (UPDATE events SET kind_len = length(kind) WHERE id >= :lo AND id < :hi RETURNING 1)\n\
         INSERT INTO seen SELECT txid_current(), count(*) FROM u;\n\n\
         -- migrate:upgrade\n\
         DO $$ BEGIN IF (SELECT count(*) FROM seen) < 4 THEN \
           RAISE EXCEPTION 'only % batches', (SELECT count(*) FROM seen); END IF; END $$;";
    write_revision(
        &project.versions(),
        &Rev {
            number: 2,
            parents: &[&crate::support::rev_id(1)],
            message: "backfill",
            upgrade,
            downgrade: Some("TRUNCATE seen; ALTER TABLE events DROP COLUMN kind_len;"),
            non_transactional: false,
        },
    );
    // The section after the batch fails unless the size=100000 section ran in at
    // least four batches over its 100 rows.
    let run = project.run(&["test-migration", "--each"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
}

/// Runs a backfill keyed by `key` over a table made by `create` (whose rows all have
/// `touched = 0`), and checks every row was updated once, in more than one batch.
fn backfill_by(db_label: &str, create: &str, key: &str, comparison: (&str, &str)) -> Vec<String> {
    let project = Project::new();
    let db = TestDb::new(db_label);
    db.execute(create).expect("the table");
    db.execute("CREATE TABLE seen (xid bigint, rows int)")
        .expect("log");
    let (lo, hi) = comparison;
    let upgrade = format!(
        "SELECT 1;\n\n\
         -- migrate:batch table=t key={key} size=70\n\
         WITH u AS (UPDATE t SET touched = touched + 1 WHERE {lo} AND {hi} RETURNING 1)\n\
         INSERT INTO seen SELECT txid_current(), count(*) FROM u;"
    );
    write_revision(
        &project.versions(),
        &Rev {
            number: 1,
            parents: &[],
            message: "backfill",
            upgrade: &upgrade,
            downgrade: None,
            non_transactional: false,
        },
    );
    let run = project.run_on(&db, &["upgrade"]);
    if run.code != 0 {
        return vec![format!("exit {}: {}", run.code, run.stderr)];
    }
    assert_eq!(count(&db, "SELECT count(*) FROM t WHERE touched <> 1"), 0);
    assert_eq!(count(&db, "SELECT max(rows) FROM seen"), 70);
    assert_eq!(
        count(&db, "SELECT sum(rows) FROM seen"),
        count(&db, "SELECT count(*) FROM t")
    );
    db.texts("SELECT count(*)::text FROM seen")
}

#[test]
fn uuid_timestamp_and_composite_keys_batch_by_ranges_of_their_index() {
    // uuid: random values, the largest among them the range's end.
    let batches = backfill_by(
        "batch_uuid",
        "CREATE TABLE t (id uuid PRIMARY KEY, touched int NOT NULL DEFAULT 0);
         INSERT INTO t (id) SELECT md5(g::text)::uuid FROM generate_series(1, 1000) g;
         INSERT INTO t (id) VALUES ('ffffffff-ffff-ffff-ffff-fffffffffffe')",
        "id",
        ("id >= :lo", "id < :hi"),
    );
    assert_eq!(batches, ["15"]);
    // timestamptz of millisecond precision: the range ends one millisecond after the
    // last, not one microsecond (which would round back onto it).
    let batches = backfill_by(
        "batch_ts",
        "CREATE TABLE t (at timestamptz(3) PRIMARY KEY, touched int NOT NULL DEFAULT 0);
         INSERT INTO t (at) SELECT '2026-01-01'::timestamptz + g * interval '1.5 ms' FROM generate_series(1, 500) g",
        "at",
        ("at >= :lo", "at < :hi"),
    );
    assert_eq!(batches, ["8"]);
    let batches = backfill_by(
        "batch_date",
        "CREATE TABLE t (day date PRIMARY KEY, touched int NOT NULL DEFAULT 0);
         INSERT INTO t (day) SELECT '2020-01-01'::date + g FROM generate_series(1, 300) g",
        "day",
        ("day >= :lo", "day < :hi"),
    );
    assert_eq!(batches, ["5"]);
    // Two columns: tenants of uneven sizes, compared as rows.
    let batches = backfill_by(
        "batch_composite",
        "CREATE TABLE t (tenant text, id int, touched int NOT NULL DEFAULT 0, PRIMARY KEY (tenant, id));
         INSERT INTO t (tenant, id) SELECT 'tenant ' || (g % 3), g FROM generate_series(1, 400) g",
        "tenant,id",
        ("(tenant, id) >= :lo", "(tenant, id) < :hi"),
    );
    assert_eq!(batches, ["6"]);
}

#[test]
fn a_key_ending_in_a_column_without_a_next_value_is_refused() {
    let refused = backfill_by(
        "batch_text_key",
        "CREATE TABLE t (name text PRIMARY KEY, touched int NOT NULL DEFAULT 0);
         INSERT INTO t (name) VALUES ('a'), ('b')",
        "name",
        ("name >= :lo", "name < :hi"),
    );
    assert!(refused[0].starts_with("exit 3"), "{refused:?}");
    assert!(
        refused[0].contains("is of type text, which has no next value"),
        "{refused:?}"
    );
}
