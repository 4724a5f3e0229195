//! `fleet upgrade --queue`: worker processes sharing one run through a control database,
//! one of them killed with SIGKILL and one cut off from the control database mid-run;
//! every tenant ends at head with each revision once, and the workers' own event logs
//! show that no two of them ever ran one target at the same time.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::table_chain as chain;
use crate::support::{admin_url, retort, Project, TestDb};

/// A TCP proxy to the test server that can be cut: after `cut`, bytes are read and
/// dropped in both directions (sockets stay open, as in a network partition) and new
/// connections are accepted and never answered.
fn partition_proxy() -> (u16, Arc<AtomicBool>) {
    let upstream = split_url(admin_url()).0.to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
    let port = listener.local_addr().expect("proxy address").port();
    let cut = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&cut);
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            if flag.load(Ordering::SeqCst) {
                held.push(client);
                continue;
            }
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            for (from, to) in [
                (client.try_clone(), server.try_clone()),
                (server.try_clone(), client.try_clone()),
            ] {
                let (Ok(mut from), Ok(mut to)) = (from, to) else {
                    continue;
                };
                let flag = Arc::clone(&flag);
                std::thread::spawn(move || {
                    let mut buffer = [0u8; 8192];
                    loop {
                        let n = match from.read(&mut buffer) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if !flag.load(Ordering::SeqCst) && to.write_all(&buffer[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        }
    });
    (port, cut)
}

/// `host:port` and the rest (database and parameters) of a test server URL.
fn split_url(url: &str) -> (&str, &str) {
    url.strip_prefix("postgres://postgres@")
        .and_then(|r| r.split_once('/'))
        .expect("a postgres://postgres@host:port/db URL")
}

/// `url` through the proxy on `port` (plain TCP: the proxy does not speak TLS).
fn with_port(url: &str, port: u16) -> String {
    let rest = split_url(url).1;
    let rest = rest.split_once('?').map_or(rest, |(db, _)| db);
    format!("postgres://postgres@127.0.0.1:{port}/{rest}?sslmode=disable")
}

fn events(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        // A line cut short by the SIGKILL is not an event.
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn millis_of(ts: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(ts)
        .unwrap_or_else(|e| panic!("{ts}: {e}"))
        .timestamp_millis()
}

/// One worker's time on one target's revision: from its step_start to its step_finish,
/// or to whatever ended the worker's hold on the target (failure, release, retry, the
/// worker's death).
#[derive(Debug)]
struct Interval {
    worker: String,
    revision: String,
    from: i64,
    to: i64,
}

/// The intervals of every worker's log, per target. `ends` gives the time a worker's
/// open intervals end at (its death or exit).
fn intervals(
    logs: &[(String, Vec<serde_json::Value>)],
    ends: &BTreeMap<String, i64>,
) -> BTreeMap<String, Vec<Interval>> {
    let mut all: BTreeMap<String, Vec<Interval>> = BTreeMap::new();
    for (worker, log) in logs {
        let mut open: BTreeMap<String, (String, i64)> = BTreeMap::new();
        for event in log {
            let Some(target) = event["target"].as_str() else {
                continue;
            };
            let ts = millis_of(event["ts"].as_str().expect("ts"));
            let kind = event["event"].as_str().expect("event");
            match kind {
                "step_start" => {
                    let revision = event["revision"].as_str().expect("revision").to_owned();
                    assert!(
                        open.insert(target.to_owned(), (revision, ts)).is_none(),
                        "{worker}: two steps open at once on {target}"
                    );
                }
                "step_finish" | "target_failed" | "target_released" | "retry" => {
                    if let Some((revision, from)) = open.remove(target) {
                        all.entry(target.to_owned()).or_default().push(Interval {
                            worker: worker.clone(),
                            revision,
                            from,
                            to: ts,
                        });
                    }
                }
                _ => {}
            }
        }
        for (target, (revision, from)) in open {
            all.entry(target).or_default().push(Interval {
                worker: worker.clone(),
                revision,
                from,
                to: ends[worker],
            });
        }
    }
    all
}

fn spawn_worker(project: &Project, args: &[String], log: &Path) -> Child {
    retort(project.path())
        .args(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("worker log"))
        .spawn()
        .expect("start a worker")
}

fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Waits for `child` with a deadline; kills it and fails the test past the deadline.
fn wait_for(child: &mut Child, deadline: Instant, what: &str) -> std::process::ExitStatus {
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not finish in time");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn four_queue_workers_over_a_thousand_tenants_survive_a_kill_and_a_cut() {
    const TENANTS: usize = 1000;
    const REVISIONS: u32 = 10;
    let project = Project::new();
    // Each revision waits a little, so that the run lasts long enough to be interrupted.
    let ids = chain(&project, REVISIONS, "SELECT pg_sleep(0.004);\n");
    let db = TestDb::new("queue_tenants");
    let control = TestDb::new("queue_control");
    db.execute(&format!(
        "DO $$ BEGIN FOR i IN 1..{TENANTS} LOOP \
         EXECUTE format('CREATE SCHEMA tenant_%s', lpad(i::text, 4, '0')); END LOOP; END $$"
    ))
    .expect("tenant schemas");
    let (proxy_port, cut) = partition_proxy();
    let dir = project.path().to_owned();
    let worker_args = |worker: &str, queue: &str| -> Vec<String> {
        [
            "--database-url",
            &db.url,
            "fleet",
            "upgrade",
            "--schemas",
            "tenant\\_%",
            "--queue",
            queue,
            "--lease",
            "2s",
            "--worker",
            worker,
            "--concurrency",
            "4",
            "--events",
            dir.join(format!("{worker}.jsonl")).to_str().expect("path"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let names = ["w0", "w1", "w2", "w3"];
    let via_proxy = with_port(&control.url, proxy_port);
    let mut workers: Vec<Child> = names
        .iter()
        .map(|&w| {
            let queue = if w == "w2" { &via_proxy } else { &control.url };
            spawn_worker(
                &project,
                &worker_args(w, queue),
                &dir.join(format!("{w}.err")),
            )
        })
        .collect();

    // Mid-run: a tenth of the targets done.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        // The table appears when the first worker joins.
        let joined = control.texts("SELECT (to_regclass('retort_fleet.target') IS NOT NULL)::text");
        let done: usize = if joined == ["true"] {
            control.texts("SELECT count(*)::text FROM retort_fleet.target WHERE state = 'done'")[0]
                .parse()
                .expect("count")
        } else {
            0
        };
        if done >= TENANTS / 10 {
            break;
        }
        assert!(Instant::now() < deadline, "the workers did not get going");
        std::thread::sleep(Duration::from_millis(20));
    }
    workers[1].kill().expect("SIGKILL w1");
    let killed_at = now_millis();
    cut.store(true, Ordering::SeqCst);
    let done_at_interruption: usize = control
        .texts("SELECT count(*)::text FROM retort_fleet.target WHERE state = 'done'")[0]
        .parse()
        .expect("count");
    assert!(
        done_at_interruption < TENANTS * 9 / 10,
        "the interruption came too late to test anything ({done_at_interruption} done)"
    );

    let deadline = Instant::now() + Duration::from_secs(240);
    let mut ends = BTreeMap::new();
    let mut statuses = BTreeMap::new();
    for (i, child) in workers.iter_mut().enumerate() {
        let status = wait_for(child, deadline, names[i]);
        ends.insert(names[i].to_owned(), now_millis());
        statuses.insert(names[i], status);
    }
    ends.insert("w1".to_owned(), killed_at);
    let stderr =
        |w: &str| std::fs::read_to_string(dir.join(format!("{w}.err"))).unwrap_or_default();
    for w in ["w0", "w3"] {
        assert!(statuses[w].success(), "{w} failed:\n{}", stderr(w));
    }
    // Cut from the control database: it stopped its targets and said why, exit 3.
    assert_eq!(statuses["w2"].code(), Some(3), "w2:\n{}", stderr("w2"));
    assert!(
        stderr("w2").contains("control database") && stderr("w2").contains("did not answer"),
        "{}",
        stderr("w2")
    );

    // Every tenant at head, each revision in its history exactly once.
    let head = ids.last().expect("head").clone();
    let tenants: Vec<String> = (1..=TENANTS).map(|i| format!("tenant_{i:04}")).collect();
    let union = |select: &str| -> String {
        tenants
            .iter()
            .map(|t| select.replace("{t}", t))
            .collect::<Vec<_>>()
            .join(" UNION ALL ")
    };
    let not_at_head = db.texts(&format!(
        "SELECT s FROM ({}) v(s, revision) WHERE revision IS DISTINCT FROM '{head}' ORDER BY 1",
        union("SELECT '{t}', (SELECT string_agg(revision, ',') FROM {t}.retort_version)")
    ));
    assert!(not_at_head.is_empty(), "not at head: {not_at_head:?}");
    let history = db.texts(&format!(
        "SELECT s || ' ' || revision || ' x' || count(*) FROM ({}) h(s, revision) \
         GROUP BY s, revision HAVING count(*) <> 1 ORDER BY 1",
        union("SELECT '{t}', revision FROM {t}.retort_history WHERE direction = 'upgrade'")
    ));
    assert!(
        history.is_empty(),
        "revisions not run exactly once: {history:?}"
    );
    let total = db.texts(&format!(
        "SELECT count(*)::text FROM ({}) h",
        union("SELECT 1 FROM {t}.retort_history")
    ));
    assert_eq!(total, [(TENANTS * REVISIONS as usize).to_string()]);

    // The queue agrees: every target done, and the dead and the cut-off workers' targets
    // were taken over by others.
    assert_eq!(
        control.texts("SELECT state || ' ' || count(*) FROM retort_fleet.target GROUP BY state"),
        [format!("done {TENANTS}")]
    );
    let takeovers = control.texts(
        "SELECT body->>'previous' FROM retort_fleet.event \
         WHERE event = 'target_claimed' AND body ? 'previous' ORDER BY 1",
    );
    let from: BTreeSet<&str> = takeovers.iter().map(String::as_str).collect();
    assert!(
        from.contains("w1"),
        "nothing taken over from the killed worker: {takeovers:?}"
    );
    assert!(
        from.contains("w2"),
        "nothing taken over from the cut-off worker: {takeovers:?}"
    );

    // No two workers on one target at once, from the workers' own logs (complete up to
    // the kill, unlike the control database's copy, which a SIGKILL cuts short).
    let logs: Vec<(String, Vec<serde_json::Value>)> = names
        .iter()
        .map(|&w| (w.to_owned(), events(&dir.join(format!("{w}.jsonl")))))
        .collect();
    let by_target = intervals(&logs, &ends);
    assert_eq!(by_target.len(), TENANTS, "targets with steps in the logs");
    let mut finishes: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (_, log) in &logs {
        for event in log.iter().filter(|e| e["event"] == "step_finish") {
            *finishes
                .entry((
                    event["target"].as_str().expect("target").to_owned(),
                    event["revision"].as_str().expect("revision").to_owned(),
                ))
                .or_default() += 1;
        }
    }
    assert!(
        finishes.values().all(|&n| n == 1),
        "a revision finished twice on a target"
    );
    let mut shared_targets = 0;
    for (target, spans) in &by_target {
        let workers: BTreeSet<&str> = spans.iter().map(|s| s.worker.as_str()).collect();
        if workers.len() > 1 {
            shared_targets += 1;
        }
        for (i, a) in spans.iter().enumerate() {
            for b in &spans[i + 1..] {
                if a.worker != b.worker {
                    assert!(
                        a.to <= b.from || b.to <= a.from,
                        "{target}: {} ran {} ({}..{}) while {} ran {} ({}..{})",
                        a.worker,
                        a.revision,
                        a.from,
                        a.to,
                        b.worker,
                        b.revision,
                        b.from,
                        b.to
                    );
                }
            }
        }
    }
    assert!(shared_targets > 0, "no target was worked on by two workers");
    // The control database has the surviving workers' events as well.
    let recorded = control.texts(
        "SELECT worker || ' ' || count(*) FROM retort_fleet.event \
         WHERE event = 'target_done' GROUP BY worker ORDER BY 1",
    );
    assert!(
        recorded.iter().any(|l| l.starts_with("w0 ")),
        "{recorded:?}"
    );
    assert!(
        recorded.iter().any(|l| l.starts_with("w3 ")),
        "{recorded:?}"
    );
}

/// A finished run starts over when a worker joins it: after a failure is fixed, a rerun
/// finishes the failed target and only looks at the others.
#[test]
fn a_settled_run_starts_over_and_finishes_what_failed() {
    let project = Project::new();
    let ids = chain(&project, 3, "");
    let db = TestDb::new("queue_rerun");
    let control = TestDb::new("queue_rerun_control");
    let mut setup: String = (0..12)
        .map(|i| format!("CREATE SCHEMA tenant_{i:02};\n"))
        .collect();
    setup.push_str("CREATE TABLE tenant_05.t2 (x int);\n");
    db.execute(&setup).expect("schemas");
    let run = |worker: &str| {
        project.run(&[
            "--database-url",
            &db.url,
            "fleet",
            "upgrade",
            "--schemas",
            "tenant\\_%",
            "--queue",
            &control.url,
            "--lease",
            "2s",
            "--worker",
            worker,
            "--json",
        ])
    };
    let first = run("first").fails_with(1);
    let report = first.json();
    let failed: Vec<&str> = report["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .filter(|t| t["state"] == "failed")
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    assert_eq!(failed, ["tenant_05"]);
    assert_eq!(
        control.texts(
            "SELECT name || ' ' || failed_revision FROM retort_fleet.target WHERE state = 'failed'"
        ),
        [format!("tenant_05 {}", ids[1])]
    );
    db.execute("DROP TABLE tenant_05.t2").expect("fix");
    let second = run("second").ok();
    let report = second.json();
    let applied: Vec<(String, usize)> = report["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| {
            (
                t["name"].as_str().expect("name").to_owned(),
                t["revisions"].as_array().expect("revisions").len(),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(applied, [("tenant_05".to_owned(), 2)]);
    assert_eq!(
        control.texts("SELECT state || ' ' || count(*) FROM retort_fleet.target GROUP BY state"),
        ["done 12"]
    );
}

#[test]
fn queue_input_errors_say_what_to_do() {
    let project = Project::new();
    chain(&project, 1, "");
    let db = TestDb::new("queue_errors");
    db.execute("CREATE SCHEMA tenant_a").expect("schema");
    let base = |extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = [
            "--database-url",
            &db.url,
            "fleet",
            "upgrade",
            "--schemas",
            "tenant\\_%",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let run = |extra: &[&str]| {
        let args = base(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        project.run(&args)
    };
    let short = run(&["--queue", &db.url, "--lease", "10ms"]).fails_with(2);
    assert!(short.stderr.contains("--lease 10ms"), "{}", short.stderr);
    let dry = run(&["--queue", &db.url, "--dry-run"]).fails_with(2);
    assert!(dry.stderr.contains("--dry-run"), "{}", dry.stderr);
    // Nothing listens there: the worker tries for five leases (at least 5 s), then stops.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let nowhere = format!("postgres://nobody@127.0.0.1:{port}/control");
    let started = Instant::now();
    let lost = run(&["--queue", &nowhere, "--lease", "1s"]).fails_with(3);
    assert!(
        lost.stderr.contains(&format!("127.0.0.1:{port}"))
            && lost.stderr.contains("did not answer"),
        "{}",
        lost.stderr
    );
    assert!(started.elapsed() >= Duration::from_secs(5));
    assert!(!lost.stderr.contains("password"), "{}", lost.stderr);
    // Nothing ran on the target.
    assert!(db
        .texts("SELECT (to_regclass('tenant_a.retort_version') IS NULL)::text")
        .eq(&["true"]));
}

/// A data migration handed over mid-way: the worker cut off from the control database
/// stops between two batches of a batch section, and the worker that takes the target
/// over resumes at the next batch; every row is changed exactly once.
#[test]
fn a_worker_cut_off_mid_backfill_hands_it_over_between_batches() {
    let project = Project::new();
    let db = TestDb::new("queue_batch");
    let control = TestDb::new("queue_batch_control");
    db.execute(
        "CREATE TABLE events (id bigint PRIMARY KEY, kind text NOT NULL, \
         touched int NOT NULL DEFAULT 0);
         INSERT INTO events (id, kind) SELECT g, 'k' || (g % 7) FROM generate_series(1, 20000) g",
    )
    .expect("the application's table");
    let upgrade = "ALTER TABLE events ADD COLUMN kind_len int;\n\n\
         -- migrate:batch table=public.events key=id size=400 sleep=40ms\n\
         UPDATE events SET kind_len = length(kind), touched = touched + 1 \
         WHERE id >= :lo AND id < :hi;\n\n\
         -- migrate:upgrade\n\
         ALTER TABLE events ALTER COLUMN kind_len SET NOT NULL;";
    let id = crate::support::write_revision(
        &project.versions(),
        &crate::support::Rev {
            number: 1,
            parents: &[],
            message: "backfill kind_len",
            upgrade,
            downgrade: Some("ALTER TABLE events DROP COLUMN kind_len;"),
            non_transactional: false,
        },
    );
    std::fs::write(
        project.path().join("targets.toml"),
        format!("[[targets]]\nname = \"app\"\nurl = \"{}\"\n", db.url),
    )
    .expect("targets.toml");
    let (proxy_port, cut) = partition_proxy();
    let dir = project.path().to_owned();
    let args = |worker: &str, queue: &str| -> Vec<String> {
        [
            "fleet",
            "upgrade",
            "--queue",
            queue,
            "--lease",
            "1s",
            "--worker",
            worker,
            "--events",
            dir.join(format!("{worker}.jsonl")).to_str().expect("path"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let mut first = spawn_worker(
        &project,
        &args("first", &with_port(&control.url, proxy_port)),
        &dir.join("first.err"),
    );
    // Some batches done, most to go.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done = db.texts("SELECT count(*) FILTER (WHERE touched > 0)::text FROM events")[0]
            .parse::<u32>()
            .expect("count");
        if done >= 2000 {
            break;
        }
        assert!(Instant::now() < deadline, "the backfill did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    cut.store(true, Ordering::SeqCst);
    let mut second = spawn_worker(
        &project,
        &args("second", &control.url),
        &dir.join("second.err"),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    let first_status = wait_for(&mut first, deadline, "first");
    let second_status = wait_for(&mut second, deadline, "second");
    let stderr =
        |w: &str| std::fs::read_to_string(dir.join(format!("{w}.err"))).unwrap_or_default();
    assert_eq!(first_status.code(), Some(3), "first:\n{}", stderr("first"));
    assert!(second_status.success(), "second:\n{}", stderr("second"));

    // Every row once; the revision recorded once; no batch row left.
    assert_eq!(
        db.texts("SELECT touched || ' ' || count(*) FROM events GROUP BY touched"),
        ["1 20000"]
    );
    assert_eq!(
        db.texts("SELECT revision FROM retort_history WHERE direction = 'upgrade'"),
        [id.as_str()]
    );
    assert_eq!(
        db.texts("SELECT count(*)::text FROM retort_version_batch"),
        ["0"]
    );
    // The first worker released the target before its revision's next batch; the second
    // took it over from the first and went on from there, not from the start.
    let first_log = events(&dir.join("first.jsonl"));
    let released: Vec<&serde_json::Value> = first_log
        .iter()
        .filter(|e| e["event"] == "target_released")
        .collect();
    assert_eq!(released.len(), 1, "{first_log:?}");
    assert_eq!(released[0]["before"], id.as_str());
    let second_log = events(&dir.join("second.jsonl"));
    let claimed: Vec<&serde_json::Value> = second_log
        .iter()
        .filter(|e| e["event"] == "target_claimed")
        .collect();
    assert_eq!(claimed.len(), 1, "{second_log:?}");
    assert_eq!(claimed[0]["previous"], "first");
    let resumed_at = second_log
        .iter()
        .find(|e| e["event"] == "batch_progress")
        .and_then(|e| e["batches"].as_i64())
        .expect("the second worker's batch progress");
    assert!(
        resumed_at >= 5,
        "the second worker started over: {second_log:?}"
    );
}
