//! `retort fleet status --queue` against a real PostgreSQL: two `fleet upgrade --queue`
//! workers on six tenant schemas (one of which fails at revision 2, every revision
//! sleeping a little), watched while they run and after; `--watch` printing the failure
//! once; a queue without a run; an unreachable control database.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::table_chain as chain;
use crate::support::{retort, Project, Run, TestDb};

const TENANTS: usize = 6;
const BROKEN: usize = 3;

fn tenant(i: usize) -> String {
    format!("tenant_{i}")
}

fn worker(project: &Project, db: &TestDb, control: &TestDb, name: &str) -> Child {
    retort(project.path())
        .args([
            "--database-url",
            &db.url,
            "fleet",
            "upgrade",
            "--schemas",
            "tenant\\_%",
            "--concurrency",
            "1",
            "--queue",
            &control.url,
            "--lease",
            "2s",
            "--worker",
            name,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start a worker")
}

fn status(project: &Project, args: &[&str]) -> Run {
    let mut all = vec!["fleet", "status"];
    all.extend_from_slice(args);
    project.run(&all)
}

/// Stops `child` with SIGINT, as Ctrl-C would, and returns its output.
fn interrupt(child: Child) -> Run {
    let pid = child.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    assert!(sent.success());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("--watch stops on SIGINT")
        .expect("wait");
    Run::from(output)
}

#[test]
fn a_queue_run_seen_live_and_at_the_end_across_two_workers() {
    let project = Project::new();
    let ids = chain(&project, 3, "SELECT pg_sleep(0.4);\n");
    let db = TestDb::new("qview");
    let control = TestDb::new("qview_ctl");
    let mut setup: String = (0..TENANTS)
        .map(|i| format!("CREATE SCHEMA {};\n", tenant(i)))
        .collect();
    setup.push_str(&format!("CREATE TABLE {}.t2 (x int);\n", tenant(BROKEN)));
    db.execute(&setup).expect("schemas");

    // Nothing recorded yet: an input error naming what to do.
    let none = status(&project, &["--queue", &control.url]).fails_with(2);
    assert!(
        none.stderr.contains("no fleet run is recorded in")
            && none.stderr.contains("retort fleet upgrade --queue"),
        "{}",
        none.stderr
    );
    assert!(!none.stderr.contains(&control.url), "{}", none.stderr);

    let workers = [
        worker(&project, &db, &control, "w1"),
        worker(&project, &db, &control, "w2"),
    ];

    // While they run: a running target with its revision, held by a listed worker.
    let deadline = Instant::now() + Duration::from_secs(30);
    let live = loop {
        assert!(Instant::now() < deadline, "never saw a running revision");
        let run = status(&project, &["--queue", &control.url, "--json"]);
        if run.code == 0 || run.code == 1 {
            let snapshot = run.json();
            let seen = snapshot["slowest"].as_array().is_some_and(|running| {
                running
                    .iter()
                    .any(|r| r["revision"].is_string() && r["worker"].is_string())
            });
            if seen {
                break snapshot;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let running = live["slowest"]
        .as_array()
        .expect("slowest")
        .iter()
        .find(|r| r["revision"].is_string())
        .expect("a running revision");
    assert!(ids.contains(&running["revision"].as_str().expect("id").to_owned()));
    assert_eq!(running["lease_lapsed"], false, "{live}");
    let holder = running["worker"].as_str().expect("worker");
    let holds = live["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .find(|w| w["id"] == holder)
        .unwrap_or_else(|| panic!("{holder} not listed: {live}"));
    assert!(
        holds["holding"]
            .as_array()
            .expect("holding")
            .contains(&running["name"]),
        "{live}"
    );
    assert_eq!(live["counts"]["total"], TENANTS, "{live}");

    for child in workers {
        let output = child.wait_with_output().expect("worker ends");
        let code = output.status.code().unwrap_or(-1);
        assert!(
            code == 0 || code == 1,
            "worker exit {code}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    // At the end: the truth, the failure, both workers finished.
    let end = status(&project, &["--queue", &control.url, "--json"]).fails_with(1);
    let end = end.json();
    let counts = &end["counts"];
    assert_eq!(counts["done"], TENANTS - 1, "{end}");
    assert_eq!(counts["failed"], 1, "{end}");
    assert_eq!(counts["pending"], 0, "{end}");
    assert_eq!(counts["running"], 0, "{end}");
    assert_eq!(counts["total"], TENANTS, "{end}");
    let failed = end["failed"].as_array().expect("failed");
    assert_eq!(failed.len(), 1, "{end}");
    assert_eq!(failed[0]["name"], tenant(BROKEN));
    assert_eq!(failed[0]["revision"], ids[1].as_str());
    assert!(failed[0]["worker"] == "w1" || failed[0]["worker"] == "w2");
    assert!(
        failed[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("already exists")),
        "{end}"
    );
    let workers = end["workers"].as_array().expect("workers");
    assert_eq!(workers.len(), 2, "{end}");
    for w in workers {
        assert_eq!(w["finished"], true, "{end}");
        assert_eq!(w["gone"], false, "{end}");
        assert_eq!(w["holding"], serde_json::json!([]), "{end}");
    }
    assert!(end["slowest"].as_array().is_some_and(Vec::is_empty));

    // The human view, by name.
    let named = format!("upgrade to {}", ids[2]);
    let text = status(&project, &["--queue", &control.url, "--run-name", &named])
        .fails_with(1)
        .stdout;
    assert!(
        text.contains(&format!(
            "done {} / running 0 / pending 0 / failed 1 of {TENANTS}",
            TENANTS - 1
        )),
        "{text}"
    );
    for header in ["WORKERS", "FAILED"] {
        assert!(text.lines().any(|l| l == header), "{header}: {text}");
    }
    let row = text
        .lines()
        .find(|l| l.starts_with(&tenant(BROKEN)))
        .unwrap_or_else(|| panic!("no failed row: {text}"));
    // The error's first line: where in the revision file it failed.
    assert!(row.contains(" w1 ") || row.contains(" w2 "), "{row}");
    assert!(row.contains(&format!("{}_create_t2.sql", ids[1])), "{row}");

    // --watch: the failure line exactly once over several snapshots; Ctrl-C ends it with
    // the run's exit code.
    let watching = retort(project.path())
        .args([
            "fleet",
            "status",
            "--queue",
            &control.url,
            "--watch",
            "--interval",
            "300ms",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("watch");
    std::thread::sleep(Duration::from_secs(3));
    let watched = interrupt(watching).fails_with(1);
    let failures: Vec<&str> = watched
        .stdout
        .lines()
        .filter(|l| l.starts_with("failure: "))
        .collect();
    assert_eq!(failures.len(), 1, "{}", watched.stdout);
    assert!(failures[0].contains(&tenant(BROKEN)) && failures[0].contains(&ids[1]));
    let blocks = watched
        .stdout
        .lines()
        .filter(|l| l.starts_with("run upgrade to"))
        .count();
    assert!(blocks >= 3, "{}", watched.stdout);

    // --watch --json: one object per line.
    let watching = retort(project.path())
        .args([
            "fleet",
            "status",
            "--queue",
            &control.url,
            "--watch",
            "--json",
            "--interval",
            "200ms",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("watch");
    std::thread::sleep(Duration::from_millis(1500));
    let watched = interrupt(watching).fails_with(1);
    let lines: Vec<&str> = watched.stdout.lines().collect();
    assert!(lines.len() >= 2, "{}", watched.stdout);
    for line in lines {
        let snapshot: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        assert_eq!(snapshot["run"], named.as_str());
    }

    // A run name the queue does not know.
    let unknown = status(&project, &["--queue", &control.url, "--run-name", "nope"]).fails_with(2);
    assert!(
        unknown.stderr.contains("no fleet run named `nope`"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn an_unreachable_control_database_is_exit_3() {
    let project = Project::new();
    let run = status(
        &project,
        &["--queue", "postgres://postgres:secret@127.0.0.1:1/control"],
    )
    .fails_with(3);
    assert!(run.stderr.contains("127.0.0.1:1"), "{}", run.stderr);
    assert!(!run.stderr.contains("secret"), "{}", run.stderr);
}
