//! `test-migration` end to end: a downgrade that forgets an index is caught and named,
//! a correct chain passes, dumps of production restore despite missing roles, and the
//! scratch databases and clusters are gone afterwards — after success, failure, Ctrl-C
//! and even `kill -9`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{
    admin_texts, admin_url, golden, retort, rev_id, revision_path, write_revision, Project, Rev,
    Run, TestDb,
};

/// users → email index → a column: the middle revision's downgrade is `broken` or right.
pub(crate) fn chain(project: &Project, broken: bool) {
    let versions = project.versions();
    write_revision(
        &versions,
        &Rev {
            number: 1,
            parents: &[],
            message: "create users",
            upgrade: "CREATE TABLE users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL);",
            downgrade: Some("DROP TABLE users;"),
            non_transactional: false,
        },
    );
    write_revision(
        &versions,
        &Rev {
            number: 2,
            parents: &[&rev_id(1)],
            message: "index user email",
            upgrade: "CREATE INDEX users_email_idx ON users (lower(email));",
            // The classic mistake: the downgrade forgets the index.
            downgrade: Some(if broken {
                "-- nothing to undo?"
            } else {
                "DROP INDEX users_email_idx;"
            }),
            non_transactional: false,
        },
    );
    write_revision(
        &versions,
        &Rev {
            number: 3,
            parents: &[&rev_id(2)],
            message: "add user name",
            upgrade: "ALTER TABLE users ADD COLUMN name text;",
            downgrade: Some("ALTER TABLE users DROP COLUMN name;"),
            non_transactional: false,
        },
    );
}

/// `test-migration` on scratch databases of the test server.
fn on_server(project: &Project, args: &[&str]) -> Run {
    let mut all = vec![
        "test-migration",
        "--scratch",
        "server",
        "--scratch-url",
        admin_url(),
    ];
    all.extend_from_slice(args);
    project.run(&all)
}

/// Scratch databases on the test server created by the retort process `pid`, found by
/// the comment every scratch database carries.
fn scratch_databases_of(pid: u32) -> Vec<String> {
    admin_texts(&format!(
        "SELECT datname::text FROM pg_database d \
         WHERE shobj_description(d.oid, 'pg_database') LIKE '%by pid {pid};%'"
    ))
}

#[test]
fn each_names_the_revision_whose_downgrade_forgets_an_index_and_shows_the_diff() {
    let project = Project::new();
    chain(&project, true);
    let run = on_server(&project, &["--each"]).fails_with(1);
    let broken = rev_id(2);
    let row = run
        .stdout
        .lines()
        .find(|l| l.starts_with(&broken))
        .unwrap_or_else(|| panic!("no row for {broken}:\n{}", run.stdout));
    assert!(row.contains("differs"), "{row}");
    assert!(
        run.stdout.contains("+CREATE INDEX users_email_idx"),
        "the diff shows the index left behind:\n{}",
        run.stdout
    );
    assert!(run.stdout.contains(&format!("before upgrade of {broken}")));
    assert!(
        run.stdout.contains(&format!("FAILED ({broken})")),
        "{}",
        run.stdout
    );
    let first = run.stdout.lines().find(|l| l.starts_with(&rev_id(1)));
    assert!(first.is_some_and(|l| l.contains(" ok ")), "{}", run.stdout);
    let last = run.stdout.lines().find(|l| l.starts_with(&rev_id(3)));
    assert!(
        last.is_some_and(|l| l.contains("not run")),
        "{}",
        run.stdout
    );

    // The same in JSON, for CI systems.
    let json = on_server(&project, &["--each", "--json"])
        .fails_with(1)
        .json();
    assert_eq!(json["passed"], false);
    let revisions = json["report"]["revisions"].as_array().expect("revisions");
    let outcomes: Vec<&str> = revisions
        .iter()
        .map(|r| r["outcome"].as_str().expect("outcome"))
        .collect();
    assert_eq!(outcomes, ["ok", "differs", "not_run"]);
    assert!(revisions[2]["note"]
        .as_str()
        .is_some_and(|n| n.contains("--keep-going")));
    assert!(revisions[1]["diff"]
        .as_str()
        .is_some_and(|d| d.contains("users_email_idx")));
    assert_eq!(json["source"]["kind"], "chain");
}

#[test]
fn the_correct_chain_passes_each_and_whole() {
    let project = Project::new();
    chain(&project, false);
    let run = on_server(&project, &["--each"]).ok();
    for n in 1..=3 {
        let row = run.stdout.lines().find(|l| l.starts_with(&rev_id(n)));
        assert!(row.is_some_and(|l| l.contains(" ok ")), "{}", run.stdout);
    }
    assert!(
        run.stdout.contains("test-migration passed: 3 ok"),
        "{}",
        run.stdout
    );
    on_server(&project, &[]).ok();
    // A range: only the last revision, from a database moved to the second first.
    let json = on_server(
        &project,
        &["--each", "--json", "-r", &format!("{}:head", rev_id(2))],
    )
    .ok()
    .json();
    assert_eq!(json["range"], serde_json::json!([rev_id(3)]));
}

#[test]
fn whole_range_mode_catches_the_broken_downgrade_and_points_to_each() {
    let project = Project::new();
    chain(&project, true);
    // From base, the whole range passes: dropping the table in the first revision's
    // downgrade takes the forgotten index with it. That blind spot is why --each exists.
    on_server(&project, &[]).ok();
    // Above the table, the index left behind shows.
    let run = on_server(&project, &["-r", &format!("{}:head", rev_id(1))]).fails_with(1);
    assert!(
        run.stdout.contains("+CREATE INDEX users_email_idx"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("--each"), "{}", run.stdout);
}

#[test]
fn sql_errors_are_failures_located_in_the_file_and_irreversible_revisions_are_reported() {
    let project = Project::new();
    let versions = project.versions();
    write_revision(
        &versions,
        &Rev {
            number: 1,
            parents: &[],
            message: "create t",
            upgrade: "CREATE TABLE t (id int);",
            downgrade: None,
            non_transactional: false,
        },
    );
    write_revision(
        &versions,
        &Rev {
            number: 2,
            parents: &[&rev_id(1)],
            message: "add column",
            upgrade: "ALTER TABLE t ADD COLUMN c int;",
            downgrade: Some("ALTER TABLE t DROP COLUMN c;\nALTER TABLE t DROP COLUMN nope;"),
            non_transactional: false,
        },
    );
    let run = on_server(&project, &["--each"]).fails_with(1);
    let first = run.stdout.lines().find(|l| l.starts_with(&rev_id(1)));
    assert!(
        first.is_some_and(|l| l.contains("irreversible")),
        "{}",
        run.stdout
    );
    let second = run.stdout.lines().find(|l| l.starts_with(&rev_id(2)));
    assert!(
        second.is_some_and(|l| l.contains("downgrade failed")),
        "{}",
        run.stdout
    );
    let path = revision_path(&versions, &rev_id(2));
    let name = path
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(
        run.stdout.contains(&name) && run.stdout.contains("column \"nope\""),
        "the error names the file and the statement:\n{}",
        run.stdout
    );
    // file:line:column of the failing statement (the downgrade's second line).
    let located = run
        .stdout
        .lines()
        .any(|l| l.contains(&name) && l.contains(".sql:") && l.contains("downgrade"));
    assert!(located, "{}", run.stdout);

    // Whole-range mode cannot downgrade past the irreversible base: it says so and
    // round-trips what is above it.
    let run = on_server(&project, &[]).fails_with(1);
    assert!(run.stdout.contains("irreversible"), "{}", run.stdout);
}

#[test]
fn a_shared_server_keeps_no_scratch_database_after_success_or_failure() {
    for broken in [false, true] {
        let project = Project::new();
        chain(&project, broken);
        let child = retort(project.path())
            .args(["test-migration", "--each", "--scratch", "server"])
            .args(["--scratch-url", admin_url()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn retort");
        let pid = child.id();
        let output = child.wait_with_output().expect("wait");
        assert_eq!(output.status.code(), Some(if broken { 1 } else { 0 }));
        assert_eq!(scratch_databases_of(pid), Vec::<String>::new());
    }
}

#[test]
fn in_place_on_a_local_database_and_refusing_remote_ones() {
    let project = Project::new();
    chain(&project, false);
    let db = TestDb::new("inplace");
    let run = project
        .run(&["--database-url", &db.url, "test-migration", "--each"])
        .ok();
    assert!(run.stdout.contains("3 ok"), "{}", run.stdout);
    // The stairway leaves the database at the top of the range.
    assert_eq!(
        db.texts("SELECT revision FROM retort_version"),
        vec![rev_id(3)]
    );
    let run = project
        .run(&[
            "--database-url",
            "postgres://someone@db.example.com/prod",
            "test-migration",
        ])
        .fails_with(2);
    assert!(run.stderr.contains("not on this machine"), "{}", run.stderr);
    assert!(run.stderr.contains("--allow-remote"), "{}", run.stderr);
}

/// A database shaped like production: part of the chain applied by retort, objects owned
/// by and granted to a role that will not exist where the dump is restored.
fn production_dump(project: &Project, format: &str, dir: &Path) -> PathBuf {
    let db = TestDb::new("prod");
    let role = format!("{}_owner", db.name);
    project
        .run(&["--database-url", &db.url, "upgrade", &rev_id(1)])
        .ok();
    db.execute(&format!(
        "CREATE ROLE \"{role}\";\n\
         CREATE TABLE audit (id int, at timestamptz);\n\
         ALTER TABLE audit OWNER TO \"{role}\";\n\
         ALTER TABLE users ENABLE ROW LEVEL SECURITY;\n\
         CREATE POLICY own ON users TO \"{role}\" USING (true);\n\
         GRANT SELECT ON users TO \"{role}\";\n\
         INSERT INTO users (email) VALUES ('a@example.com'), ('b@example.com');"
    ))
    .expect("shape the production database");
    let file = dir.join(format!("prod.{format}"));
    crate::support::pg_dump(&db.url, format, &file);
    // The role exists only in production: gone before the restore.
    db.execute(&format!(
        "DROP POLICY own ON users; REVOKE ALL ON users FROM \"{role}\";\n\
         ALTER TABLE audit OWNER TO CURRENT_USER; DROP ROLE \"{role}\";"
    ))
    .expect("drop the production-only role");
    file
}

#[test]
fn a_custom_format_dump_with_a_missing_owner_role_restores_and_tests_cleanly() {
    let project = Project::new();
    chain(&project, false);
    let dumps = tempfile::tempdir().expect("temp dir");
    let dump = production_dump(&project, "custom", dumps.path());
    let dump_text = dump.to_string_lossy().into_owned();
    let json = on_server(&project, &["--from-dump", &dump_text, "--each", "--json"])
        .ok()
        .json();
    assert_eq!(json["passed"], true);
    assert_eq!(json["source"]["kind"], "dump");
    assert_eq!(json["source"]["dump"]["format"], "custom");
    // Revision 1 was applied in production: only 2 and 3 are pending.
    assert_eq!(json["range"], serde_json::json!([rev_id(2), rev_id(3)]));
    let skipped = json["source"]["restore"]["skipped"]
        .as_array()
        .expect("skipped");
    assert!(
        skipped.iter().any(|s| s["message"]
            .as_str()
            .is_some_and(|m| m.contains("does not exist"))),
        "the policy naming the missing role is reported as skipped: {skipped:?}"
    );
    // A small dump restores with one job unless told otherwise.
    assert_eq!(json["source"]["restore"]["jobs"], 1);
    // And the human output says so without failing, also from a parallel restore (the
    // policy then restores in the serial pass after it).
    let run = on_server(
        &project,
        &["--from-dump", &dump_text, "--restore-jobs", "2"],
    )
    .ok();
    assert!(run.stderr.contains("skipped"), "{}", run.stderr);
    assert!(run.stderr.contains("(2 pg_restore jobs)"), "{}", run.stderr);
}

/// A dump is restored into a private cluster of the major it was taken from (here the
/// test server's: `make test-matrix` runs this on every major, with that major's
/// programs first on PATH and the others installed), and the choice is said.
#[test]
fn a_dump_is_restored_into_a_local_cluster_of_its_own_major() {
    let project = Project::new();
    chain(&project, false);
    let dumps = tempfile::tempdir().expect("temp dir");
    let dump = production_dump(&project, "custom", dumps.path());
    let dump_text = dump.to_string_lossy().into_owned();
    let tmp = tmpdir();
    let run = Run::from(
        local(&project, tmp.path(), &["--from-dump", &dump_text, "--each"])
            .output()
            .expect("run retort"),
    )
    .ok();
    let major = golden::server_major();
    assert!(
        run.stderr
            .contains(&format!("scratch: local PostgreSQL {major}.")),
        "the scratch cluster is not of the dump's major {major}:\n{}",
        run.stderr
    );
    assert!(
        !run.stderr
            .contains("warning: the scratch server is PostgreSQL"),
        "{}",
        run.stderr
    );
    assert_gone(tmp.path(), Duration::from_secs(10));
}

#[test]
fn a_plain_sql_dump_restores_through_psql_and_real_errors_fail_with_their_line() {
    let project = Project::new();
    chain(&project, true);
    let dumps = tempfile::tempdir().expect("temp dir");
    let dump = production_dump(&project, "plain", dumps.path());
    let dump_text = dump.to_string_lossy().into_owned();
    // Role noise (OWNER TO, GRANT, the policy) is tolerated; the broken chain still fails.
    let run = on_server(&project, &["--from-dump", &dump_text, "--each"]).fails_with(1);
    assert!(run.stdout.contains("differs"), "{}", run.stdout);

    // A real error in the dump is no noise: exit 3, located in the file.
    let bad = dumps.path().join("bad.sql");
    std::fs::write(
        &bad,
        "CREATE TABLE ok (id int);\nCREATE TABLE broken (id nosuchtype);\n",
    )
    .expect("write bad dump");
    let run = on_server(&project, &["--from-dump", &bad.to_string_lossy()]).fails_with(3);
    assert!(run.stderr.contains("bad.sql:2"), "{}", run.stderr);
    assert!(run.stderr.contains("nosuchtype"), "{}", run.stderr);
}

// ---------------------------------------------------------------------------
// The private cluster (--scratch local) is always gone afterwards
// ---------------------------------------------------------------------------

/// A TMPDIR for one test: the scratch cluster's directory is created inside it, so the
/// test can see it come and go. Like /tmp (sticky, writable by all), so the unprivileged
/// server user may create and remove its directory there.
fn tmpdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777))
            .expect("chmod");
    }
    dir
}

fn clusters_in(tmp: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(tmp)
        .expect("read tmpdir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("retort-scratch-"))
        })
        .collect()
}

/// Processes whose command line mentions `needle` (a postgres serving a cluster there).
fn processes_mentioning(needle: &Path) -> Vec<String> {
    let needle = needle.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .expect("read /proc")
        .filter_map(|e| {
            let path = e.ok()?.path();
            let pid: u32 = path.file_name()?.to_str()?.parse().ok()?;
            let cmdline = std::fs::read(path.join("cmdline")).ok()?;
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            text.contains(&needle).then(|| format!("{pid}: {text}"))
        })
        .collect()
}

fn local(project: &Project, tmp: &Path, args: &[&str]) -> Command {
    let mut cmd = retort(project.path());
    cmd.args(["test-migration", "--scratch", "local"])
        .args(args)
        .env("TMPDIR", tmp)
        .env_remove("RETORT_SCRATCH_URL");
    cmd
}

#[track_caller]
fn assert_gone(tmp: &Path, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let left = clusters_in(tmp);
        let procs = processes_mentioning(tmp);
        if left.is_empty() && procs.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "scratch cluster left behind: dirs {left:?}, processes {procs:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_local_cluster_is_gone_after_success_and_after_failure() {
    for broken in [false, true] {
        let project = Project::new();
        chain(&project, broken);
        let tmp = tmpdir();
        let out = local(&project, tmp.path(), &["--each"])
            .output()
            .expect("run retort");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(if broken { 1 } else { 0 }),
            "stdout:\n{}\nstderr:\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(stderr.contains("scratch: local PostgreSQL"), "{stderr}");
        // Immediately: retort waits for its cluster to be gone before it exits.
        assert_gone(tmp.path(), Duration::ZERO);
    }
}

/// A chain whose second revision sleeps, so a signal can land mid-run.
pub(crate) fn sleepy_chain(project: &Project) {
    let versions = project.versions();
    write_revision(
        &versions,
        &Rev {
            number: 1,
            parents: &[],
            message: "create t",
            upgrade: "CREATE TABLE t (id int);",
            downgrade: Some("DROP TABLE t;"),
            non_transactional: false,
        },
    );
    write_revision(
        &versions,
        &Rev {
            number: 2,
            parents: &[&rev_id(1)],
            message: "slow backfill",
            upgrade: "SELECT pg_sleep(120);",
            downgrade: Some(""),
            non_transactional: false,
        },
    );
}

/// Starts the run and waits until the slow revision is running.
fn start_sleepy(project: &Project, tmp: &Path) -> Child {
    let mut child = local(project, tmp, &["--each"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn retort");
    let deadline = Instant::now() + Duration::from_secs(60);
    // Revision 1's row is printed once it passed; revision 2 is then sleeping.
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line.starts_with(&rev_id(1)) {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(deadline - Instant::now())
        .expect("revision 1 passes within a minute");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(clusters_in(tmp).len(), 1, "the cluster is running");
    child
}

pub(crate) fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

#[test]
fn ctrl_c_and_sigterm_remove_the_local_cluster_before_exiting() {
    for sig in ["INT", "TERM"] {
        let project = Project::new();
        sleepy_chain(&project);
        let tmp = tmpdir();
        let mut child = start_sleepy(&project, tmp.path());
        let started = Instant::now();
        signal(&child, sig);
        let status = child.wait().expect("wait");
        assert_eq!(status.code(), Some(130), "SIG{sig} exits 130");
        assert!(started.elapsed() < Duration::from_secs(30));
        assert_gone(tmp.path(), Duration::ZERO);
    }
}

#[test]
fn even_kill_9_leaves_no_cluster_behind() {
    let project = Project::new();
    sleepy_chain(&project);
    let tmp = tmpdir();
    let mut child = start_sleepy(&project, tmp.path());
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");
    // retort had no chance to clean up: the watchdog sees its pipe close and does.
    assert_gone(tmp.path(), Duration::from_secs(20));
}

#[test]
fn ctrl_c_drops_the_scratch_database_on_a_shared_server() {
    let project = Project::new();
    sleepy_chain(&project);
    let mut child = retort(project.path())
        .args(["test-migration", "--each", "--scratch", "server"])
        .args(["--scratch-url", admin_url()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn retort");
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    while scratch_databases_of(pid).is_empty() {
        assert!(Instant::now() < deadline, "no scratch database appeared");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    signal(&child, "INT");
    assert_eq!(child.wait().expect("wait").code(), Some(130));
    assert_eq!(scratch_databases_of(pid), Vec::<String>::new());
}

#[test]
fn an_unavailable_scratch_provider_says_how_to_get_one() {
    let project = Project::new();
    chain(&project, false);
    let run = project
        .run(&["test-migration", "--scratch", "server"])
        .fails_with(3);
    assert!(run.stderr.contains("--scratch-url"), "{}", run.stderr);
    if !cfg!(feature = "docker") {
        let run = project
            .run(&["test-migration", "--scratch", "docker"])
            .fails_with(3);
        assert!(run.stderr.contains("--features docker"), "{}", run.stderr);
    }
}

#[test]
fn restore_dump_loads_a_production_dump_into_a_fresh_local_database() {
    let project = Project::new();
    chain(&project, false);
    let dumps = tempfile::tempdir().expect("temp dir");
    let dump = production_dump(&project, "custom", dumps.path());
    let target = TestDb::new("restored");
    // Into the (empty) database itself.
    let run = project
        .run(&[
            "--database-url",
            &target.url,
            "-v",
            "restore-dump",
            "-j",
            "2",
            &dump.to_string_lossy(),
        ])
        .ok();
    assert!(run.stdout.contains("skipped"), "{}", run.stdout);
    assert!(run.stdout.contains("(2 pg_restore jobs)"), "{}", run.stdout);
    assert_eq!(
        target.texts("SELECT revision FROM retort_version"),
        vec![rev_id(1)]
    );
    assert_eq!(target.texts("SELECT email FROM users ORDER BY 1").len(), 2);
    // Not twice: the database is no longer empty.
    let run = project
        .run(&[
            "--database-url",
            &target.url,
            "restore-dump",
            &dump.to_string_lossy(),
        ])
        .fails_with(2);
    assert!(run.stderr.contains("--into"), "{}", run.stderr);
    // Then testing it in place: only the pending revisions run.
    let json = project
        .run(&[
            "--database-url",
            &target.url,
            "--json",
            "test-migration",
            "--each",
        ])
        .ok()
        .json();
    assert_eq!(json["range"], serde_json::json!([rev_id(2), rev_id(3)]));
    assert_eq!(json["source"]["kind"], "database");
}

/// Nine revisions, one of each class `--keep-going` tells apart, in chain order.
fn every_class(project: &Project) {
    let versions = project.versions();
    let revisions: [(&str, &str, Option<&str>); 9] = [
        (
            "create users",
            "CREATE TABLE users (id int PRIMARY KEY, email text, name text);\nCREATE TABLE seen (k int PRIMARY KEY);",
            Some("DROP TABLE seen;\nDROP TABLE users;"),
        ),
        // The downgrade forgets the index: differs, and upgrading again fails at the
        // index, so the database is left without `tags` until retort restores it.
        (
            "index name, tags",
            "CREATE TABLE tags (id int);\nCREATE INDEX users_name_idx ON users (name);",
            Some("DROP TABLE tags;"),
        ),
        (
            "add column",
            "ALTER TABLE users ADD COLUMN age int;",
            Some("ALTER TABLE users DROP COLUMN nope;"),
        ),
        // Dropping a column: the downgrade can only append it again.
        (
            "drop email",
            "ALTER TABLE users DROP COLUMN email;",
            Some("ALTER TABLE users ADD COLUMN email text;"),
        ),
        // The schema comes back, but the upgrade is not repeatable.
        ("seed", "INSERT INTO seen VALUES (1);", Some("SELECT 1;")),
        // Needs `tags`, which the failed round trip of 0002 had taken away.
        (
            "add bio",
            "ALTER TABLE tags ADD COLUMN bio text;",
            Some("ALTER TABLE tags DROP COLUMN bio;"),
        ),
        ("no way back", "CREATE TABLE audit (id int);", None),
        (
            "broken",
            "ALTER TABLE missing ADD COLUMN x int;",
            Some("SELECT 1;"),
        ),
        (
            "after broken",
            "CREATE TABLE later (id int);",
            Some("DROP TABLE later;"),
        ),
    ];
    for (i, (message, upgrade, downgrade)) in revisions.into_iter().enumerate() {
        let number = i as u32 + 1;
        let parent = rev_id(number - 1);
        let parents: Vec<&str> = if number == 1 { vec![] } else { vec![&parent] };
        write_revision(
            &versions,
            &Rev {
                number,
                parents: &parents,
                message,
                upgrade,
                downgrade,
                non_transactional: false,
            },
        );
    }
}

#[test]
fn keep_going_tests_every_revision_after_failures_and_names_each_class() {
    let project = Project::new();
    every_class(&project);
    let junit = project.path().join("report.xml");
    let junit_arg = junit.to_string_lossy().into_owned();
    let run = on_server(
        &project,
        &["--keep-going", "--json", "--format", "junit", &junit_arg],
    )
    .fails_with(1);
    let json = run.json();
    assert_eq!(json["passed"], false);
    let revisions = json["report"]["revisions"].as_array().expect("revisions");
    let outcomes: Vec<&str> = revisions
        .iter()
        .map(|r| r["outcome"].as_str().expect("outcome"))
        .collect();
    assert_eq!(
        outcomes,
        [
            "ok",
            "differs",
            "downgrade_failed",
            "order_only",
            "upgrade_again_failed",
            "ok",
            "irreversible",
            "upgrade_failed",
            "not_run"
        ],
        "{}",
        run.stdout
    );
    assert!(revisions[1]["diff"]
        .as_str()
        .is_some_and(|d| d.contains("users_name_idx")));
    assert!(
        revisions[1]["note"]
            .as_str()
            .is_some_and(|n| n.contains("restored by retort's diff")),
        "{}",
        revisions[1]
    );
    assert!(revisions[2]["error"]
        .as_str()
        .is_some_and(|e| e.contains("\"nope\"")));
    assert!(revisions[3]["diff"]
        .as_str()
        .is_some_and(|d| d.contains("email")));
    assert!(revisions[4]["error"]
        .as_str()
        .is_some_and(|e| e.contains("duplicate key")));
    assert!(revisions[8]["note"]
        .as_str()
        .is_some_and(|n| n.contains(&rev_id(8))));

    // The JUnit report: one case per revision, failures with their text.
    let xml = std::fs::read_to_string(&junit).expect("the JUnit report");
    assert_eq!(xml.matches("<testcase ").count(), 9, "{xml}");
    assert!(xml.contains("tests=\"9\" failures=\"4\""), "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 4, "{xml}");
    assert!(xml.contains("<failure type=\"differs\""), "{xml}");
    assert!(xml.contains("<failure type=\"upgrade failed\""), "{xml}");
    assert!(
        xml.contains("relation &quot;missing&quot; does not exist"),
        "{xml}"
    );
    assert_eq!(xml.matches("<skipped ").count(), 2, "{xml}");

    // The human report lists every failure at the end.
    let run = on_server(&project, &["--keep-going"]).fails_with(1);
    let failed = [2, 3, 5, 8].map(rev_id).join(", ");
    assert!(
        run.stdout.contains(&format!("FAILED ({failed})")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("2 ok, 1 order-only, 1 differs, 1 upgrade failed, 1 downgrade failed, 1 upgrade again failed, 1 irreversible, 1 not run"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("another order"), "{}", run.stderr);

    // Without --keep-going the run stops at the first failure, as before.
    let json = on_server(&project, &["--each", "--json"])
        .fails_with(1)
        .json();
    let outcomes: Vec<&str> = json["report"]["revisions"]
        .as_array()
        .expect("revisions")
        .iter()
        .map(|r| r["outcome"].as_str().expect("outcome"))
        .collect();
    assert_eq!(outcomes[..2], ["ok", "differs"]);
    assert!(
        outcomes[2..].iter().all(|o| *o == "not_run"),
        "{outcomes:?}"
    );
}

#[test]
fn order_only_passes_with_a_warning_and_fails_under_strict() {
    let project = Project::new();
    let versions = project.versions();
    write_revision(
        &versions,
        &Rev {
            number: 1,
            parents: &[],
            message: "create t",
            upgrade: "CREATE TABLE t (a int, b int, c int);",
            downgrade: Some("DROP TABLE t;"),
            non_transactional: false,
        },
    );
    write_revision(
        &versions,
        &Rev {
            number: 2,
            parents: &[&rev_id(1)],
            message: "drop b",
            upgrade: "ALTER TABLE t DROP COLUMN b;",
            downgrade: Some("ALTER TABLE t ADD COLUMN b int;"),
            non_transactional: false,
        },
    );
    let run = on_server(&project, &["--each"]).ok();
    let row = run.stdout.lines().find(|l| l.starts_with(&rev_id(2)));
    assert!(
        row.is_some_and(|l| l.contains("order-only")),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("--strict"), "{}", run.stderr);
    assert!(
        run.stdout.contains("test-migration passed"),
        "{}",
        run.stdout
    );
    let run = on_server(&project, &["--each", "--strict"]).fails_with(1);
    assert!(
        run.stdout.contains(&format!("FAILED ({})", rev_id(2))),
        "{}",
        run.stdout
    );
    // Whole-range mode tells order-only apart too (above the table's creation).
    let above = format!("{}:", rev_id(1));
    let run = on_server(&project, &["-r", &above]).ok();
    assert!(run.stdout.contains("order-only"), "{}", run.stdout);
    on_server(&project, &["-r", &above, "--strict"]).fails_with(1);
}

#[test]
fn an_unknown_report_format_is_refused_before_any_work() {
    let project = Project::new();
    chain(&project, false);
    let run = on_server(&project, &["--format", "xml", "out.xml"]).fails_with(2);
    assert!(run.stderr.contains("junit"), "{}", run.stderr);
}
