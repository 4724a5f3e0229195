//! `upgrade`, `downgrade`, `current`, `stamp`, `verify`, `resolve`, `rehash-applied`
//! against a real PostgreSQL: atomic revisions, errors located in the file, the dirty
//! marker, edited revisions, concurrency, crashes, and the offline `--sql` script.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{
    pg_program, repo_root, revision_path, write_revision, Project, Rev, Run, TestDb,
};

/// Runs retort in `project` against `db`.
fn run(project: &Project, db: &TestDb, args: &[&str]) -> Run {
    project.run_on(db, args)
}

fn version_rows(db: &TestDb) -> Vec<String> {
    db.texts("SELECT revision || coalesce(' dirty:' || dirty, '') FROM retort_version ORDER BY 1")
}

fn history(db: &TestDb) -> Vec<String> {
    db.texts("SELECT direction || ' ' || revision FROM retort_history ORDER BY id")
}

fn tables(db: &TestDb) -> Vec<String> {
    db.texts(
        "SELECT relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND relkind IN ('r', 'i', 'v') AND relname NOT LIKE 'retort_%' ORDER BY 1",
    )
}

/// A project holding a copy of the repository's example chain.
fn example_project() -> Project {
    let project = Project::new();
    for entry in std::fs::read_dir(repo_root().join("versions")).expect("versions") {
        let path = entry.expect("entry").path();
        std::fs::copy(
            &path,
            project.versions().join(path.file_name().expect("name")),
        )
        .expect("copy");
    }
    project
}

/// A linear chain of `n` revisions, each creating table t<i>.
fn table_chain(project: &Project, n: u32) -> Vec<String> {
    crate::support::table_chain(project, n, "")
}

#[test]
fn example_chain_upgrade_downgrade_stamp_current_verify() {
    let project = example_project();
    let db = TestDb::new("runner_example");
    let head = "0005_3b8f0e5d27ac";

    let before = run(&project, &db, &["current"]).ok();
    assert!(
        before.stdout.contains("no version table"),
        "{}",
        before.stdout
    );

    let up = run(&project, &db, &["upgrade"]).ok();
    assert_eq!(up.stdout.matches("upgraded").count(), 5, "{}", up.stdout);
    assert_eq!(version_rows(&db), [head]);
    assert_eq!(history(&db).len(), 5);
    assert!(tables(&db).contains(&"datasets".to_owned()));

    let current = run(&project, &db, &["current", "-v"]).ok();
    assert!(
        current.stdout.contains(&format!("{head} (head)")),
        "{}",
        current.stdout
    );
    assert!(current.stdout.contains("applied "), "{}", current.stdout);
    let json = run(&project, &db, &["current", "--json"]).ok().json();
    assert_eq!(json["heads"][0]["revision"], head);
    assert_eq!(json["pending"], 0);

    run(&project, &db, &["upgrade"]).ok(); // nothing to do, still fine
    assert_eq!(history(&db).len(), 5);
    run(&project, &db, &["verify"]).ok();

    let down = run(&project, &db, &["downgrade", "-1"]).ok();
    assert!(
        down.stdout.contains("downgraded 0005_3b8f0e5d27ac"),
        "{}",
        down.stdout
    );
    assert_eq!(version_rows(&db), ["0004_9e2d7a64b1f8"]);
    run(&project, &db, &["downgrade", "base"]).ok();
    assert!(version_rows(&db).is_empty());
    assert!(tables(&db).is_empty(), "{:?}", tables(&db));
    let h = history(&db);
    assert_eq!(h.len(), 10);
    assert_eq!(h[9], "downgrade 0001_a8cd0dc08805");

    // downgrade needs a target; upgrade refuses to go down.
    project.run(&["downgrade"]).fails_with(2);

    // Stamp records a revision without running SQL, and first checks that the
    // database's schema is the chain's at that revision: this empty one is not.
    let refused = run(&project, &db, &["stamp", "0003"]).fails_with(1);
    assert!(refused.stderr.contains("not stamped"), "{}", refused.stderr);
    assert!(version_rows(&db).is_empty());
    run(&project, &db, &["stamp", "0003", "--force"]).ok();
    assert_eq!(version_rows(&db), ["0003_c47e19b2f03d"]);
    assert!(tables(&db).is_empty(), "stamp ran no SQL");
    let stamps = db.texts("SELECT count(*)::text FROM retort_history WHERE direction = 'stamp'");
    assert_eq!(stamps, ["3"]);
    run(&project, &db, &["upgrade", "0002"]).fails_with(2);
    run(&project, &db, &["stamp", "base"]).ok();
    assert!(version_rows(&db).is_empty());
    run(&project, &db, &["upgrade", "+2"]).ok();
    assert_eq!(version_rows(&db), ["0002_5f1c2b3d4e6a"]);
    db.execute("INSERT INTO retort_version VALUES ('0099_000000000000')")
        .expect("insert");
    let unknown = run(&project, &db, &["upgrade"]).fails_with(2);
    assert!(
        unknown.stderr.contains("0099_000000000000"),
        "{}",
        unknown.stderr
    );
    run(&project, &db, &["stamp", "0002", "--purge"]).ok();
    run(&project, &db, &["upgrade"]).ok();
    assert_eq!(version_rows(&db), [head]);
}

#[test]
fn a_failing_revision_is_rolled_back_and_located_in_its_file() {
    let project = Project::new();
    let db = TestDb::new("runner_fail");
    let ids = table_chain(&project, 2);
    let bad = write_revision(
        &project.versions(),
        &Rev {
            number: 3,
            parents: &[&ids[1]],
            message: "bad",
            upgrade:
                "CREATE TABLE t3 (id int);\n\nINSERT INTO t3\n    SELECT id FROM no_such_table;",
            downgrade: Some("DROP TABLE t3;"),
            non_transactional: false,
        },
    );
    let path = revision_path(&project.versions(), &bad);
    let failed = run(&project, &db, &["upgrade"]).fails_with(3);
    let name = path
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    // The file's line 10 is `    SELECT id FROM no_such_table;`, column 20 the table name.
    assert!(
        failed.stderr.contains(&format!("{name}:10:20")),
        "{}",
        failed.stderr
    );
    assert!(failed.stderr.contains("42P01"), "{}", failed.stderr);
    assert!(
        failed.stderr.contains("no_such_table\" does not exist"),
        "{}",
        failed.stderr
    );
    assert!(
        failed.stderr.contains("                   ^"),
        "caret:\n{}",
        failed.stderr
    );
    // Exactly as before the revision: t1, t2, no t3, version at 0002.
    assert_eq!(tables(&db), ["t1", "t1_pkey", "t2", "t2_pkey"]);
    assert_eq!(version_rows(&db), [ids[1].clone()]);
    assert_eq!(history(&db).len(), 2);

    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(&path, text.replace("no_such_table", "t1")).expect("fix");
    let fixed = run(&project, &db, &["upgrade"]).ok();
    assert_eq!(
        fixed.stdout.matches("upgraded").count(),
        1,
        "{}",
        fixed.stdout
    );
    assert_eq!(version_rows(&db), [bad]);
    assert_eq!(db.texts("SELECT count(*)::text FROM t3"), ["1"]);
}

#[test]
fn concurrently_runs_outside_a_transaction_and_a_failure_leaves_it_dirty() {
    let project = Project::new();
    let db = TestDb::new("runner_dirty");
    let ids = table_chain(&project, 1);
    let index = write_revision(
        &project.versions(),
        &Rev {
            number: 2,
            parents: &[&ids[0]],
            message: "indexes",
            upgrade: "CREATE INDEX CONCURRENTLY t1_a ON t1 (id);\nCREATE INDEX CONCURRENTLY t1_b ON t1 (missing_column);",
            downgrade: Some("DROP INDEX CONCURRENTLY t1_a;\nDROP INDEX CONCURRENTLY t1_b;"),
            non_transactional: true,
        },
    );
    let failed = run(&project, &db, &["upgrade"]).fails_with(3);
    // PostgreSQL gives no position for this error: the statement's start, line 8.
    assert!(
        failed.stderr.contains("_indexes.sql:8:1:"),
        "line of the second statement:\n{}",
        failed.stderr
    );
    assert!(
        failed.stderr.contains("missing_column"),
        "{}",
        failed.stderr
    );
    assert!(failed.stderr.contains("dirty"), "{}", failed.stderr);
    // The first statement stays: CONCURRENTLY cannot be rolled back.
    assert!(tables(&db).contains(&"t1_a".to_owned()));
    assert_eq!(
        version_rows(&db),
        [ids[0].clone(), format!("{index} dirty:upgrade")]
    );

    let blocked = run(&project, &db, &["upgrade"]).fails_with(3);
    assert!(
        blocked.stderr.contains("dirty") && blocked.stderr.contains("resolve"),
        "{}",
        blocked.stderr
    );
    let current = run(&project, &db, &["current"]).ok();
    assert!(current.stdout.contains("DIRTY"), "{}", current.stdout);
    run(&project, &db, &["resolve"]).fails_with(2); // must say which way

    // A human drops the half-built index, fixes the file and resolves.
    db.execute("DROP INDEX t1_a").expect("drop by hand");
    let path = revision_path(&project.versions(), &index);
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(&path, text.replace("missing_column", "id")).expect("fix");
    run(&project, &db, &["resolve", "--reverted"]).ok();
    assert_eq!(version_rows(&db), [ids[0].clone()]);
    run(&project, &db, &["upgrade"]).ok();
    assert_eq!(version_rows(&db), vec![index.clone()]);
    let valid = db.texts(
        "SELECT c.relname || ':' || i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         WHERE c.relname LIKE 't1\\_%' ORDER BY 1",
    );
    assert_eq!(valid, ["t1_a:true", "t1_b:true", "t1_pkey:true"]);
    run(&project, &db, &["resolve", "--completed"]).fails_with(2); // nothing dirty
    run(&project, &db, &["downgrade", "-1"]).ok();
    assert_eq!(tables(&db), ["t1", "t1_pkey"]);
}

#[test]
fn an_edited_applied_revision_fails_verify_and_blocks_upgrade_until_accepted() {
    let project = Project::new();
    let db = TestDb::new("runner_edit");
    let ids = table_chain(&project, 2);
    run(&project, &db, &["upgrade", &ids[0]]).ok();
    let path = revision_path(&project.versions(), &ids[0]);
    let text = std::fs::read_to_string(&path).expect("read");

    // Line endings and trailing whitespace are not edits.
    std::fs::write(&path, text.replace('\n', "  \r\n")).expect("crlf");
    run(&project, &db, &["verify"]).ok();

    std::fs::write(&path, text.replace("VALUES (1)", "VALUES (100)")).expect("edit");
    let verify = run(&project, &db, &["verify"]).fails_with(1);
    assert!(verify.stdout.contains(&ids[0]), "{}", verify.stdout);
    let refused = run(&project, &db, &["upgrade"]).fails_with(1);
    assert!(
        refused.stderr.contains(&ids[0]) && refused.stderr.contains("rehash-applied"),
        "{}",
        refused.stderr
    );
    assert_eq!(version_rows(&db), [ids[0].clone()], "nothing ran");

    run(
        &project,
        &db,
        &[
            "rehash-applied",
            &ids[0],
            "--reason",
            "fixed a typo in the seed",
        ],
    )
    .ok();
    run(&project, &db, &["verify"]).ok();
    let reason = db.texts("SELECT reason FROM retort_history WHERE direction = 'rehash'");
    assert_eq!(reason, ["fixed a typo in the seed"]);
    run(&project, &db, &["rehash-applied", &ids[1], "--reason", "x"]).fails_with(2); // not applied
    run(&project, &db, &["upgrade"]).ok();
}

#[test]
fn ten_concurrent_upgrades_apply_every_revision_exactly_once() {
    let project = Project::new();
    let db = TestDb::new("runner_concurrent");
    let ids = table_chain(&project, 12);
    let children: Vec<_> = (0..10)
        .map(|_| {
            crate::support::retort(project.path())
                .args([
                    "--database-url",
                    &db.url,
                    "upgrade",
                    "--lock-timeout",
                    "120s",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let mut applied = 0;
    for child in children {
        let output = child.wait_with_output().expect("wait");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "a concurrent upgrade failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        applied += stdout.matches("upgraded").count();
    }
    assert_eq!(applied, 12, "each revision applied by exactly one process");
    assert_eq!(history(&db).len(), 12);
    assert_eq!(version_rows(&db), [ids[11].clone()]);
}

#[test]
fn a_held_lock_times_out_with_exit_4_naming_the_holder() {
    let project = Project::new();
    let db = TestDb::new("runner_lock");
    table_chain(&project, 1);
    let key = retort::db::VersionTables::default().lock_key();
    // The same key held in other databases (other tenants) too: advisory locks are per
    // database, so those sessions neither block this run nor may be named as the holder
    // (pg_locks' order cannot be forced, so this catches naming a wrong one only when
    // the server lists it first; fleet tests running beside this one caught it in CI).
    let others: Vec<TestDb> = (0..5).map(|_| TestDb::new("runner_lock_other")).collect();
    for other in &others {
        other
            .execute(&format!("SELECT pg_advisory_lock({key})"))
            .expect("hold the key elsewhere");
    }
    db.execute(&format!("SELECT pg_advisory_lock({key})"))
        .expect("hold the lock");
    let pid = db.texts("SELECT pg_backend_pid()::text");
    let timed_out = run(&project, &db, &["upgrade", "--lock-timeout", "1s"]).fails_with(4);
    assert!(
        timed_out.stderr.contains(&format!("pid {}", pid[0])),
        "{}",
        timed_out.stderr
    );
    db.execute(&format!("SELECT pg_advisory_unlock({key})"))
        .expect("release");
    run(&project, &db, &["upgrade", "--lock-timeout", "1s"]).ok();
}

fn pg_dump_schema(db: &TestDb) -> String {
    let output = Command::new(pg_program("pg_dump"))
        .args([
            "--schema-only",
            "--no-owner",
            "--exclude-table=retort_history",
            &db.url,
        ])
        .output()
        .expect("pg_dump");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| {
            !l.starts_with("--") && !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn run_psql(db: &TestDb, script: &str) {
    let path = std::env::temp_dir().join(format!("{}.sql", db.name));
    std::fs::write(&path, script).expect("write script");
    let output = Command::new(pg_program("psql"))
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &db.url, "-f"])
        .arg(&path)
        .output()
        .expect("psql");
    let _ = std::fs::remove_file(&path);
    assert!(
        output.status.success(),
        "psql failed: {}\n{script}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_sql_script_fed_to_psql_matches_the_online_run() {
    let project = example_project();
    let online = TestDb::new("runner_sql_online");
    let offline = TestDb::new("runner_sql_offline");
    run(&project, &online, &["upgrade"]).ok();
    let script = project.run(&["upgrade", "--sql"]).ok().stdout;
    assert!(
        script.contains("BEGIN;") && script.contains("COMMIT;"),
        "{script}"
    );
    assert_eq!(
        script.matches("\nCOMMIT;").count(),
        6,
        "one per revision plus the tables"
    );
    run_psql(&offline, &script);
    assert_eq!(pg_dump_schema(&online), pg_dump_schema(&offline));
    assert_eq!(version_rows(&online), version_rows(&offline));
    let steps =
        "SELECT direction || ' ' || revision || ' ' || checksum FROM retort_history ORDER BY id";
    assert_eq!(online.texts(steps), offline.texts(steps));

    // A range, then back down, both ways.
    run(&project, &online, &["downgrade", "0002"]).ok();
    let down = project
        .run(&["downgrade", "--sql", "head:0002"])
        .ok()
        .stdout;
    run_psql(&offline, &down);
    assert_eq!(pg_dump_schema(&online), pg_dump_schema(&offline));
    assert_eq!(version_rows(&online), version_rows(&offline));
    assert_eq!(online.texts(steps), offline.texts(steps));
    project.run(&["downgrade", "--sql", "base"]).fails_with(2);
}

#[test]
fn single_transaction_is_all_or_nothing() {
    let project = Project::new();
    let db = TestDb::new("runner_single");
    let ids = table_chain(&project, 3);
    let path = revision_path(&project.versions(), &ids[2]);
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(&path, text.replace("VALUES (3)", "VALUES ('three')")).expect("break");
    run(&project, &db, &["upgrade", "--single-transaction"]).fails_with(3);
    assert!(tables(&db).is_empty(), "{:?}", tables(&db));
    assert!(version_rows(&db).is_empty());
    std::fs::write(&path, text).expect("fix");
    run(&project, &db, &["upgrade", "--single-transaction"]).ok();
    assert_eq!(version_rows(&db), [ids[2].clone()]);
}

/// Waits until no other session is connected to the test database, so a killed
/// client's server backend has finished (committed or rolled back) its work.
pub(crate) fn wait_for_backends(db: &TestDb) {
    let query = format!(
        "SELECT count(*)::text FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid()",
        db.name
    );
    for _ in 0..500 {
        if db.texts(&query) == ["0"] {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("backends of a killed retort did not go away");
}

/// Everything agrees: the version row names revision k, tables t1..tk exist with their
/// rows and no others, and history holds exactly the upgrades minus downgrades.
pub(crate) fn assert_consistent(db: &TestDb, ids: &[String]) -> usize {
    // Killed before the version tables were even created: then nothing else exists.
    let created = db.texts("SELECT (to_regclass('retort_version') IS NOT NULL)::text");
    if created == ["false"] {
        let stray = db.texts("SELECT relname::text FROM pg_class WHERE relname LIKE 't%' AND relkind = 'r' AND relnamespace = 'public'::regnamespace");
        assert!(
            stray.is_empty(),
            "tables without a version table: {stray:?}"
        );
        return 0;
    }
    let rows = version_rows(db);
    let at = match rows.as_slice() {
        [] => 0,
        [one] => ids.iter().position(|id| id == one).expect("known revision") + 1,
        more => panic!("several version rows in a linear chain: {more:?}"),
    };
    let expected: Vec<String> = (1..=at).map(|i| format!("t{i}")).collect();
    let mut actual: Vec<String> = db.texts(
        "SELECT relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND relkind = 'r' AND relname LIKE 't%'",
    );
    actual.sort_by_key(|t| t[1..].parse::<usize>().unwrap_or(0));
    assert_eq!(
        actual, expected,
        "tables disagree with version row {rows:?}"
    );
    for i in 1..=at {
        assert_eq!(
            db.texts(&format!("SELECT count(*)::text FROM t{i}")),
            ["3000"],
            "t{i} half-filled"
        );
    }
    let net: Vec<String> = db.texts(
        "SELECT (count(*) FILTER (WHERE direction = 'upgrade') - count(*) FILTER (WHERE direction = 'downgrade'))::text \
         FROM retort_history",
    );
    assert_eq!(
        net,
        [at.to_string()],
        "history disagrees with version row {rows:?}"
    );
    at
}

/// A linear chain of `n` revisions, each creating table t<i> and filling it with 3,000
/// rows in several statements (the shape [`assert_consistent`] checks), so that faults
/// land inside revisions too.
pub(crate) fn filled_chain(project: &Project, n: u32) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for i in 1..=n {
        let parents: Vec<&str> = ids.last().map(String::as_str).into_iter().collect();
        let up = format!(
            "CREATE TABLE t{i} (id int PRIMARY KEY, payload text);\n\
             INSERT INTO t{i} SELECT g, md5(g::text) FROM generate_series(1, 1500) g;\n\
             CREATE INDEX t{i}_payload ON t{i} (payload);\n\
             INSERT INTO t{i} SELECT g, md5(g::text) FROM generate_series(1501, 3000) g;"
        );
        ids.push(write_revision(
            &project.versions(),
            &Rev {
                number: i,
                parents: &parents,
                message: &format!("create t{i}"),
                upgrade: &up,
                downgrade: Some(&format!("DROP TABLE t{i};")),
                non_transactional: false,
            },
        ));
    }
    ids
}

#[test]
fn killing_upgrade_at_random_moments_never_leaves_a_half_applied_revision() {
    let project = Project::new();
    let db = TestDb::new("runner_crash");
    let n = 40;
    let ids = filled_chain(&project, n);
    // A fixed-seed generator: the trial delays are reproducible.
    let mut seed: u64 = 0x5eed_1234;
    let mut next = move |bound: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % bound
    };
    let mut kills_mid_run = 0;
    let mut at = 0;
    for trial in 0..30 {
        // Mostly up from wherever the last kill left it; every fourth trial down.
        let down = at == n as usize || (trial % 4 == 3 && at > 0);
        let args: &[&str] = if down {
            &["downgrade", "base"]
        } else {
            &["upgrade"]
        };
        let mut child = crate::support::retort(project.path())
            .args(["--database-url", db.url.as_str()])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(5 + next(80)));
        if child.try_wait().expect("try_wait").is_none() {
            kills_mid_run += 1;
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        wait_for_backends(&db);
        at = assert_consistent(&db, &ids);
        eprintln!("trial {trial}: {} killed, at revision {at}", args[0]);
    }
    assert!(
        kills_mid_run >= 20,
        "only {kills_mid_run} kills landed mid-run; the chain is too fast"
    );
    run(&project, &db, &["upgrade"]).ok();
    assert_eq!(assert_consistent(&db, &ids), n as usize);
}

#[test]
fn sql_mode_needs_no_database() {
    let project = example_project();
    let script = project
        .run(&[
            "--database-url",
            "postgres://nobody@127.0.0.1:1/none",
            "upgrade",
            "--sql",
            "0002:0004",
        ])
        .ok()
        .stdout;
    assert!(script.contains("-- upgrade 0003_c47e19b2f03d"), "{script}");
    assert!(script.contains("-- upgrade 0004_9e2d7a64b1f8"), "{script}");
    assert!(!script.contains("-- upgrade 0002_5f1c2b3d4e6a"), "{script}");
    assert!(script.contains("pg_advisory_lock"), "{script}");
}

#[test]
fn settings_come_from_retort_toml_environments_and_dotenv() {
    let project = Project::new();
    let db = TestDb::new("runner_config");
    let ids = table_chain(&project, 2);
    // Version tables in a schema whose name needs quoting, and a statement timeout.
    let toml = "versions = \"versions\"\nversion_schema = \"Ops \\\"Meta\\\"\"\n\
         [env.ci]\ndatabase_url_env = \"CI_DB\"\nstatement_timeout = \"300ms\"\n\
         [env.other]\ndatabase_url = \"postgres://nobody@127.0.0.1:1/none\"\n";
    std::fs::write(project.path().join("retort.toml"), toml).expect("toml");
    std::fs::write(
        project.path().join(".env"),
        format!("DATABASE_URL={}\n", db.url),
    )
    .expect(".env");

    // DATABASE_URL from .env; --json prints one object per step.
    let up = project.run(&["upgrade", "--json", &ids[0]]).ok();
    let step: serde_json::Value =
        serde_json::from_str(up.stdout.lines().next().expect("a line")).expect("json line");
    assert_eq!(step["revision"], ids[0].as_str());
    assert_eq!(step["direction"], "upgrade");
    assert_eq!(
        db.texts("SELECT revision FROM \"Ops \"\"Meta\"\"\".retort_version"),
        [ids[0].clone()]
    );

    // An explicit environment wins over .env's DATABASE_URL: this one cannot connect.
    project.run(&["--env", "other", "current"]).fails_with(3);
    project.run(&["--env", "missing", "current"]).fails_with(2);

    // [env.ci] takes its URL from $CI_DB and sets statement_timeout inside revisions.
    write_revision(
        &project.versions(),
        &Rev {
            number: 3,
            parents: &[&ids[1]],
            message: "slow",
            upgrade: "SELECT pg_sleep(5);",
            downgrade: Some(""),
            non_transactional: false,
        },
    );
    let timed_out = crate::support::retort(project.path())
        .args(["--env", "ci", "upgrade"])
        .env("CI_DB", &db.url)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&timed_out.stderr);
    assert_eq!(timed_out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("57014") && stderr.contains("slow.sql:7:1"),
        "{stderr}"
    );
    assert_eq!(
        db.texts("SELECT revision FROM \"Ops \"\"Meta\"\"\".retort_version"),
        [ids[1].clone()],
        "t2 committed, the slow one rolled back"
    );
}

#[test]
fn a_terminal_sees_the_running_revision_and_a_pipe_sees_only_the_results() {
    let db = TestDb::new("run_live_line");
    let project = Project::new();
    let ids = table_chain(&project, 1);
    let slow = write_revision(
        &project.versions(),
        &Rev {
            number: 2,
            parents: &[ids[0].as_str()],
            message: "takes a while",
            upgrade: "SELECT pg_sleep(0.8);",
            downgrade: Some("SELECT 1;"),
            non_transactional: false,
        },
    );
    // script(1) gives retort a terminal, as a person at a shell has.
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let command = format!(
        "{} --database-url {} upgrade",
        quote(env!("CARGO_BIN_EXE_retort")),
        quote(&db.url)
    );
    let output = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(project.path())
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .expect("run script(1) (util-linux)");
    let screen = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{screen}");
    assert!(
        screen.contains(&format!("upgrading {slow}  takes a while")),
        "{screen}"
    );
    assert!(
        screen.contains(&format!("upgraded   {slow}  takes a while")),
        "{screen}"
    );

    // Not a terminal: the result lines alone, nothing redrawn.
    run(&project, &db, &["downgrade", "base"]).ok();
    let piped = run(&project, &db, &["upgrade"]).ok();
    assert!(!piped.stderr.contains("upgrading"), "{}", piped.stderr);
    assert!(!piped.stdout.contains("upgrading"), "{}", piped.stdout);
    assert!(
        piped.stdout.contains(&format!("upgraded   {slow}")),
        "{}",
        piped.stdout
    );
}
