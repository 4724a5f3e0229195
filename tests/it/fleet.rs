//! `retort fleet` against a real PostgreSQL: 50 databases and 50 tenant schemas with one
//! broken target, reruns that touch only what is left, kills at random moments, retries
//! of a server that refuses connections at first, dry runs, stamps, status, bad input.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::table_chain as chain;
use crate::support::{admin_url, Project, Run, TestDb};

fn target_name(i: usize) -> String {
    format!("db{i:02}")
}

/// Writes targets.toml naming each database `db<NN>`, with label `even` or `odd`.
fn write_targets(project: &Project, urls: &[String]) {
    let mut text = String::from("# the fleet\n");
    for (i, url) in urls.iter().enumerate() {
        let label = if i % 2 == 0 { "even" } else { "odd" };
        text.push_str(&format!(
            "\n[[targets]]\nname = \"{}\"\nurl = \"{url}\"\nlabels = [\"{label}\"]\n",
            target_name(i)
        ));
    }
    std::fs::write(project.path().join("targets.toml"), text).expect("targets.toml");
}

fn events(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn of_kind<'a>(events: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

/// Version rows of the table `schema.retort_version` (empty when it does not exist).
fn version_in(db: &TestDb, schema: &str) -> Vec<String> {
    let exists = db.texts(&format!(
        "SELECT (to_regclass('\"{schema}\".retort_version') IS NOT NULL)::text"
    ));
    if exists == ["false"] {
        return Vec::new();
    }
    db.texts(&format!(
        "SELECT revision FROM \"{schema}\".retort_version ORDER BY 1"
    ))
}

fn tables_in(db: &TestDb, schema: &str) -> Vec<String> {
    db.texts(&format!(
        "SELECT relname::text FROM pg_class WHERE relkind = 'r' AND relname ~ '^t[0-9]+$' \
         AND relnamespace = '\"{schema}\"'::regnamespace ORDER BY relname"
    ))
}

/// The words of `fleet status`'s line for `name`.
fn status_row<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|words| words.first() == Some(&name))
        .unwrap_or_else(|| panic!("no line for {name} in:\n{text}"))
}

fn history_len(db: &TestDb, schema: &str) -> usize {
    db.texts(&format!(
        "SELECT count(*)::text FROM \"{schema}\".retort_history"
    ))[0]
        .parse()
        .expect("count")
}

/// The shared checks of the two 50-target tests: a first run where target 17 fails at
/// revision 2 (its table t2 already exists) and the other 49 reach head; `check_at`
/// says which revision a target's version table holds.
fn assert_first_run(
    run: &Run,
    events_file: &Path,
    names: &[String],
    ids: &[String],
    broken: usize,
) {
    let report = run.json();
    let targets = report["targets"].as_array().expect("targets");
    assert_eq!(targets.len(), names.len());
    for (i, t) in targets.iter().enumerate() {
        assert_eq!(t["name"], names[i].as_str());
        if i == broken {
            assert_eq!(t["state"], "failed", "{t}");
            assert_eq!(t["failed_revision"], ids[1].as_str(), "{t}");
            assert_eq!(t["revisions"], serde_json::json!([ids[0]]), "{t}");
            let error = t["error"].as_str().expect("error");
            assert!(error.contains("42P07"), "{error}");
            // A broken revision is permanent: one attempt, no retries.
            assert_eq!(t["attempts"], 1, "{t}");
        } else {
            assert_eq!(t["state"], "done", "{t}");
            assert_eq!(t["heads"], serde_json::json!([ids[2]]), "{t}");
        }
    }
    let log = events(events_file);
    let failed = of_kind(&log, "target_failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["target"], names[broken].as_str());
    assert_eq!(failed[0]["revision"], ids[1].as_str());
    assert!(failed[0]["error"]
        .as_str()
        .expect("error")
        .contains("42P07"));
    assert!(of_kind(&log, "retry").is_empty(), "nothing transient here");
    assert_eq!(of_kind(&log, "target_done").len(), names.len() - 1);
    // 49 targets × 3 revisions, plus revision 1 of the broken one.
    assert_eq!(of_kind(&log, "step_finish").len(), 49 * 3 + 1);
    for e in &log {
        assert!(e["ts"].as_str().is_some_and(|t| t.ends_with('Z')), "{e}");
    }
    for finish in of_kind(&log, "step_finish") {
        assert!(finish["duration_ms"].is_u64(), "{finish}");
    }
}

/// After the fix, the rerun's events show steps on the repaired target only.
fn assert_rerun_touches_only(events_file: &Path, broken: &str, ids: &[String]) {
    let log = events(events_file);
    let steps: Vec<(String, String)> = of_kind(&log, "step_finish")
        .iter()
        .map(|e| {
            (
                e["target"].as_str().expect("target").to_owned(),
                e["revision"].as_str().expect("revision").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            (broken.to_owned(), ids[1].clone()),
            (broken.to_owned(), ids[2].clone())
        ]
    );
    assert!(of_kind(&log, "target_failed").is_empty());
    assert_eq!(of_kind(&log, "target_done").len(), 50);
}

#[test]
fn fifty_databases_one_broken_target_reported_and_a_rerun_touches_only_it() {
    let project = Project::new();
    let ids = chain(&project, 3, "");
    let dbs: Vec<TestDb> = (0..50).map(|_| TestDb::new("fleet_db")).collect();
    let urls: Vec<String> = dbs.iter().map(|d| d.url.clone()).collect();
    write_targets(&project, &urls);
    let names: Vec<String> = (0..50).map(target_name).collect();
    let broken = 17;
    dbs[broken]
        .execute("CREATE TABLE t2 (x int)")
        .expect("pre-existing table");

    let first_events = project.path().join("first.jsonl");
    let metrics = project.path().join("fleet.prom");
    let first = project
        .run(&[
            "fleet",
            "upgrade",
            "--concurrency",
            "8",
            "--json",
            "--events",
            first_events.to_str().expect("path"),
            "--metrics",
            metrics.to_str().expect("path"),
        ])
        .fails_with(1);
    assert_first_run(&first, &first_events, &names, &ids, broken);
    for (i, db) in dbs.iter().enumerate() {
        let expected = if i == broken { &ids[0] } else { &ids[2] };
        assert_eq!(
            version_in(db, "public"),
            std::slice::from_ref(expected),
            "{}",
            names[i]
        );
    }
    assert_eq!(tables_in(&dbs[broken], "public"), ["t1", "t2"]);
    let prom = std::fs::read_to_string(&metrics).expect("metrics");
    assert!(
        prom.contains("retort_fleet_targets{state=\"done\"} 49\n"),
        "{prom}"
    );
    assert!(
        prom.contains("retort_fleet_targets{state=\"failed\"} 1\n"),
        "{prom}"
    );
    assert!(
        prom.contains("retort_fleet_step_duration_seconds_count 148\n"),
        "{prom}"
    );

    // Status sees the failure in the events file and how far behind the target is.
    let status = project
        .run(&[
            "fleet",
            "status",
            "--json",
            "--events",
            first_events.to_str().expect("path"),
        ])
        .ok()
        .json();
    let rows = status["targets"].as_array().expect("targets");
    assert_eq!(rows.len(), 50);
    assert_eq!(rows[broken]["behind"], 2);
    assert_eq!(rows[broken]["heads"], serde_json::json!([ids[0]]));
    assert!(rows[broken]["last_error"]["error"]
        .as_str()
        .expect("last error")
        .contains("42P07"));
    assert_eq!(rows[3]["behind"], 0);
    assert!(rows[3].get("last_error").is_none(), "{}", rows[3]);

    // Fix the target; the rerun does work there only.
    dbs[broken].execute("DROP TABLE t2").expect("fix");
    let histories: Vec<usize> = dbs.iter().map(|d| history_len(d, "public")).collect();
    let second_events = project.path().join("second.jsonl");
    let second = project
        .run(&[
            "fleet",
            "upgrade",
            "--concurrency",
            "8",
            "--events",
            second_events.to_str().expect("path"),
        ])
        .ok();
    assert!(
        second.stdout.contains("50 target(s): 50 done, 0 failed"),
        "{}",
        second.stdout
    );
    assert_rerun_touches_only(&second_events, &names[broken], &ids);
    for (i, db) in dbs.iter().enumerate() {
        assert_eq!(version_in(db, "public"), [ids[2].clone()]);
        let added = if i == broken { 2 } else { 0 };
        assert_eq!(
            history_len(db, "public"),
            histories[i] + added,
            "{}",
            names[i]
        );
    }
    let text = project
        .run(&[
            "fleet",
            "status",
            "--events",
            second_events.to_str().expect("path"),
        ])
        .ok()
        .stdout;
    assert_eq!(
        status_row(&text, &names[broken]),
        [names[broken].as_str(), ids[2].as_str(), "0"],
        "{text}"
    );
}

#[test]
fn fifty_tenant_schemas_in_one_database_each_with_its_own_version_table() {
    let project = Project::new();
    let ids = chain(&project, 3, "");
    let db = TestDb::new("fleet_schemas");
    let names: Vec<String> = (0..50).map(|i| format!("tenant_{i:02}")).collect();
    let mut setup: String = names
        .iter()
        .map(|n| format!("CREATE SCHEMA {n};\n"))
        .collect();
    // Not a tenant: must be left alone.
    setup.push_str("CREATE SCHEMA other;\n");
    let broken = 17;
    setup.push_str(&format!("CREATE TABLE {}.t2 (x int);\n", names[broken]));
    db.execute(&setup).expect("schemas");

    let first_events = project.path().join("first.jsonl");
    let args = |events: &Path| -> Vec<String> {
        [
            "--database-url",
            &db.url,
            "fleet",
            "upgrade",
            "--schemas",
            "tenant\\_%",
            "--concurrency",
            "8",
            "--json",
            "--events",
            events.to_str().expect("path"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let first_args = args(&first_events);
    let first_args: Vec<&str> = first_args.iter().map(String::as_str).collect();
    let first = project.run(&first_args).fails_with(1);
    assert_first_run(&first, &first_events, &names, &ids, broken);
    for (i, name) in names.iter().enumerate() {
        let at = if i == broken { 1 } else { 3 };
        assert_eq!(version_in(&db, name), [ids[at - 1].clone()], "{name}");
        let expected: Vec<String> = (1..=3)
            .filter(|&t| t <= at || (i == broken && t == 2))
            .map(|t| format!("t{t}"))
            .collect();
        assert_eq!(tables_in(&db, name), expected, "{name}");
    }
    // Nothing landed outside the tenant schemas.
    assert!(version_in(&db, "public").is_empty());
    assert!(tables_in(&db, "public").is_empty());
    assert!(tables_in(&db, "other").is_empty());

    db.execute(&format!("DROP TABLE {}.t2", names[broken]))
        .expect("fix");
    let second_events = project.path().join("second.jsonl");
    let second_args = args(&second_events);
    let second_args: Vec<&str> = second_args.iter().map(String::as_str).collect();
    project.run(&second_args).ok();
    assert_rerun_touches_only(&second_events, &names[broken], &ids);
    for name in &names {
        assert_eq!(version_in(&db, name), [ids[2].clone()], "{name}");
        assert_eq!(tables_in(&db, name), ["t1", "t2", "t3"], "{name}");
        assert_eq!(history_len(&db, name), 3, "{name}");
    }
}

/// Waits until only the test's own connection is left on `db`, so a killed client's
/// backend has finished (committed or rolled back) what it was sent.
fn wait_for_backends(db: &TestDb) {
    let query = format!(
        "SELECT count(*)::text FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid()",
        db.name
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while db.texts(&query) != ["0"] {
        assert!(
            Instant::now() < deadline,
            "backends of a killed retort did not go away"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The revision the target is at, after checking that its version table and its tables
/// agree: at revision k exactly t1..tk exist, each with its row.
fn consistent_revision(db: &TestDb, ids: &[String]) -> usize {
    let rows = version_in(db, "public");
    let at = match rows.as_slice() {
        [] => 0,
        [one] => ids.iter().position(|id| id == one).expect("known revision") + 1,
        more => panic!("several version rows in a linear chain: {more:?}"),
    };
    let mut tables = tables_in(db, "public");
    tables.sort_by_key(|t| t[1..].parse::<usize>().unwrap_or(0));
    let expected: Vec<String> = (1..=at).map(|i| format!("t{i}")).collect();
    assert_eq!(
        tables, expected,
        "{}: tables disagree with {rows:?}",
        db.name
    );
    for i in 1..=at {
        assert_eq!(
            db.texts(&format!("SELECT id::text FROM t{i}")),
            [i.to_string()]
        );
    }
    // The audit log commits with the step too: one upgrade row per applied revision.
    if at > 0 {
        assert_eq!(
            db.texts("SELECT string_agg(revision, ',' ORDER BY id) FROM retort_history WHERE direction = 'upgrade'"),
            [ids[..at].join(",")],
            "{}: history disagrees with {rows:?}",
            db.name
        );
    }
    at
}

#[test]
fn killing_the_fleet_at_random_moments_leaves_every_target_at_a_whole_revision() {
    let project = Project::new();
    let n = 6;
    let ids = chain(&project, n, "SELECT pg_sleep(0.05);\n");
    let dbs: Vec<TestDb> = (0..5).map(|_| TestDb::new("fleet_crash")).collect();
    let urls: Vec<String> = dbs.iter().map(|d| d.url.clone()).collect();
    write_targets(&project, &urls);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    eprintln!("seed {seed}");
    let mut state = seed;
    let mut next = move |bound: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % bound
    };
    let mut mid_run = 0;
    let mut partial = 0;
    for trial in 0..20 {
        for db in &dbs {
            db.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
                .expect("reset");
        }
        let mut child = crate::support::retort(project.path())
            .args(["fleet", "upgrade", "--concurrency", "3"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        // The whole run takes about 2 × 6 × 50 ms plus start-up; kill inside it.
        std::thread::sleep(Duration::from_millis(20 + next(700)));
        if child.try_wait().expect("try_wait").is_none() {
            mid_run += 1;
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let mut at = Vec::new();
        for db in &dbs {
            wait_for_backends(db);
            at.push(consistent_revision(db, &ids));
        }
        if at.iter().any(|&a| a > 0 && a < n as usize) {
            partial += 1;
        }
        eprintln!("trial {trial}: killed with targets at {at:?}");
        project
            .run(&["fleet", "upgrade", "--concurrency", "3"])
            .ok();
        for db in &dbs {
            assert_eq!(consistent_revision(db, &ids), n as usize);
        }
    }
    assert!(mid_run >= 15, "only {mid_run} kills landed mid-run");
    assert!(
        partial >= 5,
        "only {partial} trials caught a target mid-chain"
    );
}

/// The test server's `host:port`.
fn server_address() -> String {
    let url = admin_url();
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().expect("authority");
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, a)| a)
        .to_owned()
}

/// A TCP port where nothing listens for `delay`; then a proxy to `upstream` starts
/// there. Returns the port.
fn late_proxy(upstream: String, delay: Duration) -> u16 {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the proxy port again");
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let server = TcpStream::connect(&upstream).expect("connect upstream");
            for (mut from, mut to) in [
                (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                ),
                (server, client),
            ] {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    loop {
                        match from.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if to.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            }
        }
    });
    port
}

#[test]
fn a_target_refusing_connections_at_first_succeeds_after_backoff() {
    let project = Project::new();
    let ids = chain(&project, 2, "");
    let late = TestDb::new("fleet_retry");
    let fine = TestDb::new("fleet_retry_ok");
    let address = server_address();
    let port = late_proxy(address.clone(), Duration::from_secs(2));
    let late_url = late.url.replacen(&address, &format!("127.0.0.1:{port}"), 1);
    assert_ne!(late_url, late.url);
    write_targets(&project, &[late_url, fine.url.clone()]);
    let events_file = project.path().join("events.jsonl");
    let started = Instant::now();
    let run = project
        .run(&[
            "fleet",
            "upgrade",
            "--retries",
            "8",
            "--retry-base",
            "200ms",
            "--events",
            events_file.to_str().expect("path"),
        ])
        .ok();
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{}",
        run.stdout
    );
    let log = events(&events_file);
    let retries = of_kind(&log, "retry");
    assert!(retries.len() >= 2, "{retries:?}");
    for r in &retries {
        assert_eq!(r["target"], "db00");
        assert!(
            r["error"]
                .as_str()
                .expect("error")
                .contains("cannot connect"),
            "{r}"
        );
        assert!(r["delay_ms"].as_u64().expect("delay") >= 100, "{r}");
    }
    // Backoff grows: each delay at least the first one's minimum times 2^k / 2.
    let delays: Vec<u64> = retries
        .iter()
        .map(|r| r["delay_ms"].as_u64().expect("delay"))
        .collect();
    for (k, d) in delays.iter().enumerate() {
        assert!(*d >= 100 << k, "delays {delays:?}");
        assert!(*d <= 200 << k, "delays {delays:?}");
    }
    let done: Vec<&str> = of_kind(&log, "target_done")
        .iter()
        .map(|e| e["target"].as_str().expect("target"))
        .collect();
    assert_eq!(done.len(), 2, "{done:?}");
    assert_eq!(version_in(&late, "public"), [ids[1].clone()]);
    assert_eq!(version_in(&fine, "public"), [ids[1].clone()]);
}

#[test]
fn dry_run_stamp_fail_fast_and_status() {
    let project = Project::new();
    let ids = chain(&project, 3, "");
    let dbs: Vec<TestDb> = (0..3).map(|_| TestDb::new("fleet_misc")).collect();
    let urls: Vec<String> = dbs.iter().map(|d| d.url.clone()).collect();
    write_targets(&project, &urls);

    // One target part-way, through the positional revision target and --only.
    project
        .run(&["fleet", "upgrade", &ids[0], "--only", "db00"])
        .ok();
    assert_eq!(version_in(&dbs[0], "public"), [ids[0].clone()]);
    assert!(version_in(&dbs[1], "public").is_empty());

    // --dry-run lists per target and changes nothing.
    let dry = project
        .run(&["fleet", "upgrade", "--dry-run", "--json"])
        .ok()
        .json();
    assert_eq!(
        dry["targets"][0]["revisions"],
        serde_json::json!([ids[1], ids[2]])
    );
    assert_eq!(dry["targets"][1]["revisions"], serde_json::json!(ids));
    let text = project.run(&["fleet", "upgrade", "--dry-run"]).ok().stdout;
    assert!(
        text.contains(&format!(
            "db02: 3 revision(s) would run: {}",
            ids.join(", ")
        )),
        "{text}"
    );
    assert_eq!(version_in(&dbs[0], "public"), [ids[0].clone()]);
    assert_eq!(
        dbs[1].texts("SELECT (to_regclass('retort_version') IS NULL)::text"),
        ["true"],
        "a dry run creates no version table"
    );
    assert!(tables_in(&dbs[1], "public").is_empty());

    // Stamp only the named target; no SQL runs there.
    project.run(&["fleet", "stamp", "head"]).fails_with(2);
    project
        .run(&["fleet", "stamp", "head", "--only", "db01"])
        .ok();
    assert_eq!(version_in(&dbs[1], "public"), [ids[2].clone()]);
    assert!(tables_in(&dbs[1], "public").is_empty(), "stamp ran no SQL");
    assert!(version_in(&dbs[2], "public").is_empty());
    assert_eq!(version_in(&dbs[0], "public"), [ids[0].clone()]);

    // Status: current revision and how far behind.
    let status = project.run(&["fleet", "status"]).ok().stdout;
    assert_eq!(status_row(&status, "db00"), ["db00", ids[0].as_str(), "2"]);
    assert_eq!(status_row(&status, "db01"), ["db01", ids[2].as_str(), "0"]);
    assert_eq!(status_row(&status, "db02"), ["db02", "base", "3"]);

    // --fail-fast: after db00 fails (concurrency 1), nothing new starts.
    dbs[0]
        .execute("CREATE TABLE t2 (x int)")
        .expect("break db00");
    let run = project
        .run(&[
            "fleet",
            "upgrade",
            "--concurrency",
            "1",
            "--fail-fast",
            "--json",
        ])
        .fails_with(1);
    let report = run.json();
    let states: Vec<&str> = report["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| t["state"].as_str().expect("state"))
        .collect();
    assert_eq!(states, ["failed", "skipped", "skipped"]);
    assert!(version_in(&dbs[2], "public").is_empty());

    // Labels: only the odd target (db01, already at head) runs.
    let odd = project
        .run(&["fleet", "upgrade", "--label", "odd", "--json"])
        .ok()
        .json();
    assert_eq!(odd["targets"].as_array().expect("targets").len(), 1);
    assert_eq!(odd["targets"][0]["name"], "db01");
    assert_eq!(odd["targets"][0]["revisions"], serde_json::json!([]));

    project
        .run(&["fleet", "upgrade", "--only", "nosuch"])
        .fails_with(2);
}

#[test]
fn a_bad_targets_file_is_an_input_error_naming_file_and_line() {
    let project = Project::new();
    chain(&project, 1, "");
    std::fs::write(
        project.path().join("targets.toml"),
        "[[targets]]\nname = \"a\"\nurl = \"postgres://u:hunter2@h/a\"\n\n[[targets]]\nname = \"b\"\nurl = 5\n",
    )
    .expect("write");
    let run = project.run(&["fleet", "upgrade"]).fails_with(2);
    assert!(run.stderr.contains("targets.toml:7:"), "{}", run.stderr);
    assert!(!run.stderr.contains("hunter2"), "{}", run.stderr);

    std::fs::write(
        project.path().join("targets.toml"),
        "[[targets]]\nname = \"a\"\nurl = \"postgres://u:hunter2@h/a\"\nlabel = [\"x\"]\n",
    )
    .expect("write");
    let run = project.run(&["fleet", "status"]).fails_with(2);
    assert!(run.stderr.contains("targets.toml:4:"), "{}", run.stderr);
    assert!(run.stderr.contains("label"), "{}", run.stderr);

    let missing = project
        .run(&["fleet", "upgrade", "--targets", "nope.toml"])
        .fails_with(2);
    assert!(missing.stderr.contains("nope.toml"), "{}", missing.stderr);
    // The revision is checked once, before any target.
    std::fs::write(
        project.path().join("targets.toml"),
        "[[targets]]\nname = \"a\"\nurl = \"postgres://u@127.0.0.1:1/a\"\n",
    )
    .expect("write");
    project.run(&["fleet", "upgrade", "9999"]).fails_with(2);
}

#[test]
fn targets_from_a_query_on_the_control_database() {
    let project = Project::new();
    let ids = chain(&project, 2, "");
    let control = TestDb::new("fleet_control");
    let tenant = TestDb::new("fleet_tenant");
    control
        .execute(&format!(
            "CREATE TABLE tenants (name text, url text, schema text, labels text[]);\n\
             INSERT INTO tenants VALUES ('plain', '{url}', NULL, '{{eu}}'), \
             ('in_schema', '{url}', 'Acme \"Co\"', '{{us}}'), ('retired', 'postgres://x@127.0.0.1:1/x', NULL, '{{old}}');",
            url = tenant.url
        ))
        .expect("tenants");
    // A name that needs quoting, in the search_path of the startup options too.
    tenant
        .execute("CREATE SCHEMA \"Acme \"\"Co\"\"\"")
        .expect("schema");
    let query = "SELECT name, url, schema, labels FROM tenants WHERE NOT 'old' = ANY (labels) ORDER BY name";
    let report = project
        .run(&[
            "--database-url",
            &control.url,
            "fleet",
            "upgrade",
            "--targets-query",
            query,
            "--json",
        ])
        .ok()
        .json();
    let names: Vec<&str> = report["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["in_schema", "plain"]);
    assert_eq!(version_in(&tenant, "public"), [ids[1].clone()]);
    assert_eq!(version_in(&tenant, "Acme \"\"Co\"\""), [ids[1].clone()]);
    assert_eq!(tables_in(&tenant, "Acme \"\"Co\"\""), ["t1", "t2"]);
    assert_eq!(tables_in(&tenant, "public"), ["t1", "t2"]);
    // Labels come from the query too.
    let us = project
        .run(&[
            "--database-url",
            &control.url,
            "fleet",
            "status",
            "--targets-query",
            query,
            "--label",
            "us",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(us["targets"].as_array().expect("targets").len(), 1);
    assert_eq!(us["targets"][0]["name"], "in_schema");
    assert_eq!(us["head"], serde_json::json!([ids[1]]));
    // A query without the needed columns is an input error.
    project
        .run(&[
            "--database-url",
            &control.url,
            "fleet",
            "status",
            "--targets-query",
            "SELECT 1",
        ])
        .fails_with(2);
}

#[test]
fn a_target_locked_by_another_run_is_waited_for_then_retried() {
    let project = Project::new();
    let ids = chain(&project, 1, "");
    let db = TestDb::new("fleet_locked");
    write_targets(&project, std::slice::from_ref(&db.url));
    let key = retort::db::VersionTables::default().lock_key();
    db.execute(&format!("SELECT pg_advisory_lock({key})"))
        .expect("hold the target's lock");
    let events_file = project.path().join("events.jsonl");
    let child = crate::support::retort(project.path())
        .args([
            "fleet",
            "upgrade",
            "--lock-timeout",
            "200ms",
            "--retry-base",
            "300ms",
            "--retries",
            "10",
            "--events",
            events_file.to_str().expect("path"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(1200));
    db.execute(&format!("SELECT pg_advisory_unlock({key})"))
        .expect("release");
    let run = Run::from(child.wait_with_output().expect("wait")).ok();
    let log = events(&events_file);
    let waits = of_kind(&log, "lock_wait");
    assert!(!waits.is_empty(), "{}", run.stderr);
    assert!(
        waits[0]["holder"]
            .as_str()
            .expect("holder")
            .contains("held by pid"),
        "{}",
        waits[0]
    );
    let retries = of_kind(&log, "retry");
    assert!(!retries.is_empty());
    assert!(
        retries[0]["error"]
            .as_str()
            .expect("error")
            .contains("holds the lock"),
        "{}",
        retries[0]
    );
    assert_eq!(of_kind(&log, "target_done").len(), 1);
    assert_eq!(version_in(&db, "public"), [ids[0].clone()]);
    assert!(
        run.stderr.contains("waiting for another run's lock"),
        "{}",
        run.stderr
    );
}
