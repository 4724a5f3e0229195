//! The server dying under a run: stopped with `pg_ctl stop -m immediate` (what a crash
//! or an OOM kill looks like to a client) during a transactional revision and during a
//! `transaction:false` section. Each run ends with exit 3 and a message that says the
//! connection was lost and what state the database is in; after the restart, a rerun
//! (after `resolve` for the dirty case) completes with each revision applied once.
//!
//! Each test runs its own cluster (`scripts/pg-local.sh` with a private state file), so
//! crashing it disturbs no other test.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{repo_root, retort, write_revision, Project, Rev, Run};

/// A private cluster, stopped and removed when dropped.
struct Cluster {
    state: PathBuf,
    url: String,
    _dir: tempfile::TempDir,
}

impl Cluster {
    fn start() -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let state = dir.path().join("state");
        let url = pg_local(&state, "start");
        let cluster = Cluster {
            state,
            url,
            _dir: dir,
        };
        // pg-local.sh tunes for speed (synchronous_commit = off), which lets a crash
        // lose commits already acknowledged; a production server keeps them.
        cluster.psql("ALTER SYSTEM SET synchronous_commit = on");
        cluster.psql("SELECT pg_reload_conf()");
        cluster
    }

    /// The URL of database `name` on this cluster.
    fn database_url(&self, name: &str) -> String {
        let (server, _) = self.url.rsplit_once('/').expect("a URL with a database");
        format!("{server}/{name}")
    }

    fn crash(&self) {
        pg_local(&self.state, "crash");
    }

    fn restart(&self) {
        pg_local(&self.state, "restart");
    }

    fn psql(&self, sql: &str) -> String {
        psql_at(&self.url, sql)
    }

    /// Waits until a session runs `pg_sleep` (the revision is inside its slow statement).
    fn wait_for_sleep(&self) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            let sleeping = self.psql(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE query LIKE '%pg_sleep%' AND state = 'active' AND pid <> pg_backend_pid()",
            );
            if sleeping != "0" {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the revision never reached its pg_sleep");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(repo_root().join("scripts/pg-local.sh"))
            .arg("stop")
            .env("RETORT_PG_STATE", &self.state)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Runs `sql` with psql on `url` and returns its unaligned output.
fn psql_at(url: &str, sql: &str) -> String {
    let output = Command::new(crate::support::pg_program("psql"))
        .args([
            "-X",
            "-q",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .output()
        .expect("psql");
    assert!(
        output.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn pg_local(state: &PathBuf, command: &str) -> String {
    let output = Command::new(repo_root().join("scripts/pg-local.sh"))
        .arg(command)
        .env("RETORT_PG_STATE", state)
        .output()
        .expect("scripts/pg-local.sh");
    assert!(
        output.status.success(),
        "pg-local.sh {command}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn spawn_upgrade(project: &Project, url: &str) -> Child {
    retort(project.path())
        .args(["--database-url", url, "upgrade"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn retort")
}

/// Three revisions; the second's upgrade is slow (`sleepy`), and runs outside a
/// transaction when `non_transactional`.
fn chain(project: &Project, sleepy: &str, non_transactional: bool) -> Vec<String> {
    let first = write_revision(
        &project.versions(),
        &Rev {
            number: 1,
            parents: &[],
            message: "create a",
            upgrade: "CREATE TABLE a (id int);",
            downgrade: Some("DROP TABLE a;"),
            non_transactional: false,
        },
    );
    let second = write_revision(
        &project.versions(),
        &Rev {
            number: 2,
            parents: &[&first],
            message: "slow",
            upgrade: sleepy,
            downgrade: None,
            non_transactional,
        },
    );
    let third = write_revision(
        &project.versions(),
        &Rev {
            number: 3,
            parents: &[&second],
            message: "create d",
            upgrade: "CREATE TABLE d (id int);",
            downgrade: Some("DROP TABLE d;"),
            non_transactional: false,
        },
    );
    vec![first, second, third]
}

fn history(cluster: &Cluster) -> String {
    cluster.psql(
        "SELECT string_agg(direction || ' ' || revision, ', ' ORDER BY id) FROM retort_history",
    )
}

#[test]
fn a_server_crash_during_a_transactional_revision_keeps_nothing_of_it() {
    let cluster = Cluster::start();
    let project = Project::new();
    let ids = chain(
        &project,
        "CREATE TABLE b (id int);\nINSERT INTO b VALUES (1);\nSELECT pg_sleep(30);",
        false,
    );
    let child = spawn_upgrade(&project, &cluster.url);
    cluster.wait_for_sleep();
    cluster.crash();
    let run = Run::from(child.wait_with_output().expect("retort")).fails_with(3);
    eprintln!("{}", run.stderr);
    assert!(
        run.stderr.contains("the server closed the connection")
            && run.stderr.contains("nothing of it was kept")
            && run.stderr.contains(&format!("{}_slow.sql:", ids[1])),
        "{}",
        run.stderr
    );
    cluster.restart();
    assert_eq!(
        cluster.psql("SELECT string_agg(revision, ',') FROM retort_version"),
        ids[0]
    );
    assert_eq!(
        cluster.psql("SELECT to_regclass('b') IS NULL"),
        "t",
        "b was rolled back"
    );
    // The rerun completes: the sleep is gone from the file (an operator would wait).
    std::fs::write(
        crate::support::revision_path(&project.versions(), &ids[1]),
        std::fs::read_to_string(crate::support::revision_path(&project.versions(), &ids[1]))
            .expect("read")
            .replace("SELECT pg_sleep(30);", "SELECT 1;"),
    )
    .expect("write");
    project.run(&["rehash"]).ok();
    project
        .run(&["--database-url", &cluster.url, "upgrade"])
        .ok();
    assert_eq!(
        history(&cluster),
        format!("upgrade {}, upgrade {}, upgrade {}", ids[0], ids[1], ids[2])
    );
}

#[test]
fn a_server_crash_during_a_non_transactional_section_leaves_it_dirty_to_resolve() {
    let cluster = Cluster::start();
    let project = Project::new();
    let ids = chain(
        &project,
        "CREATE TABLE b (id int);\nSELECT pg_sleep(30);\nCREATE TABLE c (id int);",
        true,
    );
    let child = spawn_upgrade(&project, &cluster.url);
    cluster.wait_for_sleep();
    cluster.crash();
    let run = Run::from(child.wait_with_output().expect("retort")).fails_with(3);
    assert!(
        run.stderr.contains(
            "the server closed the connection during a section that runs outside a transaction"
        ) && run.stderr.contains("retort resolve --completed"),
        "{}",
        run.stderr
    );
    cluster.restart();
    let url = cluster.url.as_str();
    let current = project.run(&["--database-url", url, "current"]).ok();
    assert!(
        current.stdout.contains(&format!("{} DIRTY", ids[1])),
        "{}",
        current.stdout
    );
    // Runs refuse until a human settles it.
    project
        .run(&["--database-url", url, "upgrade"])
        .fails_with(3);
    // What took effect: b, not c. The operator finishes the section by hand.
    assert_eq!(
        cluster.psql("SELECT to_regclass('b') IS NOT NULL AND to_regclass('c') IS NULL"),
        "t"
    );
    cluster.psql("CREATE TABLE c (id int)");
    project
        .run(&["--database-url", url, "resolve", "--completed"])
        .ok();
    project.run(&["--database-url", url, "upgrade"]).ok();
    assert_eq!(
        cluster.psql("SELECT string_agg(revision, ',') FROM retort_version"),
        ids[2]
    );
    assert_eq!(
        history(&cluster),
        format!("upgrade {}, resolve {}, upgrade {}", ids[0], ids[1], ids[2])
    );
}

/// A TCP proxy in front of the test server that cuts each connection once `budget`
/// bytes have passed (both directions counted); `None` never cuts. Returns its port
/// and the bytes that passed through it.
fn cutting_proxy(
    upstream: std::net::SocketAddr,
    budget: Option<u64>,
) -> (u16, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
    let port = listener.local_addr().expect("proxy address").port();
    let passed = Arc::new(AtomicU64::new(0));
    let total = Arc::clone(&passed);
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(upstream) else {
                continue;
            };
            let used = Arc::new(AtomicU64::new(0));
            for (mut from, mut to) in [
                (client.try_clone(), server.try_clone()),
                (server.try_clone(), client.try_clone()),
            ]
            .into_iter()
            .filter_map(|(a, b)| Some((a.ok()?, b.ok()?)))
            {
                let used = Arc::clone(&used);
                let total = Arc::clone(&total);
                std::thread::spawn(move || {
                    let mut buffer = [0u8; 8192];
                    loop {
                        let n = match from.read(&mut buffer) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let before = used.fetch_add(n as u64, Ordering::SeqCst);
                        let allowed =
                            budget.map_or(n as u64, |b| b.saturating_sub(before).min(n as u64));
                        let allowed = usize::try_from(allowed).unwrap_or(n);
                        if to.write_all(&buffer[..allowed]).is_err() {
                            break;
                        }
                        total.fetch_add(allowed as u64, Ordering::SeqCst);
                        if allowed < n {
                            break;
                        }
                    }
                    let _ = from.shutdown(Shutdown::Both);
                    let _ = to.shutdown(Shutdown::Both);
                });
            }
        }
    });
    (port, passed)
}

/// The connection cut at random points of the protocol (startup, queries, results,
/// COMMIT): every run ends with exit 0 or 3, never a panic, and leaves each revision
/// whole or absent with the history agreeing; a last run without the proxy completes,
/// each revision applied once.
#[test]
fn connections_cut_at_random_points_never_leave_a_half_applied_revision() {
    use crate::runner::{assert_consistent, filled_chain, wait_for_backends};

    let project = Project::new();
    let db = crate::support::TestDb::new("faults_cut");
    let n = 8;
    let ids = filled_chain(&project, n);
    let (host_port, rest) = db
        .url
        .strip_prefix("postgres://postgres@")
        .and_then(|r| r.split_once('/'))
        .expect("a postgres://postgres@host:port/db URL");
    let upstream: std::net::SocketAddr = host_port.parse().expect("host:port");
    let through =
        |port: u16| format!("postgres://postgres@127.0.0.1:{port}/{rest}?sslmode=disable");
    // How many bytes a whole upgrade and downgrade take, to cut within them.
    let (port, passed) = cutting_proxy(upstream, None);
    let url = through(port);
    project.run(&["--database-url", &url, "upgrade"]).ok();
    project
        .run(&["--database-url", &url, "downgrade", "base"])
        .ok();
    let whole = passed.load(std::sync::atomic::Ordering::SeqCst) / 2;
    assert!(whole > 1_000, "only {whole} bytes for {n} revisions");
    wait_for_backends(&db);

    // A fixed seed by default; `scripts/stress.sh` gives each pass its own.
    let first_seed: u64 = std::env::var("RETORT_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0xc0ff_ee11);
    let mut seed = first_seed;
    let mut next = move |bound: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % bound
    };
    let mut cut_runs = 0;
    for trial in 0..30 {
        let at = assert_consistent(&db, &ids);
        let args: &[&str] = if at == n as usize || (trial % 4 == 3 && at > 0) {
            &["downgrade", "base"]
        } else {
            &["upgrade"]
        };
        let budget = next(whole);
        let (port, _) = cutting_proxy(upstream, Some(budget));
        let url = through(port);
        let mut all = vec!["--database-url", url.as_str()];
        all.extend_from_slice(args);
        let run = project.run(&all);
        let code = run.code;
        assert!(
            code == 0 || code == 3,
            "trial {trial} (seed {first_seed}, {} cut after {budget} bytes): exit {code}\n{}",
            args[0],
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        if code == 3 {
            cut_runs += 1;
            assert!(
                run.stderr.contains("connection"),
                "trial {trial}: a cut connection must be named:\n{}",
                run.stderr
            );
        }
        wait_for_backends(&db);
        let at = assert_consistent(&db, &ids);
        eprintln!(
            "trial {trial}: {} cut after {budget} bytes: exit {code}, at {at}",
            args[0]
        );
    }
    assert!(
        cut_runs >= 15,
        "only {cut_runs} runs were cut (seed {first_seed})"
    );
    project.run(&["--database-url", &db.url, "upgrade"]).ok();
    assert_eq!(assert_consistent(&db, &ids), n as usize);
}

/// The server crashes under a fleet run of four databases and comes back a second later:
/// the fleet's retries carry every target to head, every revision applied once per
/// target.
#[test]
fn a_server_crash_under_a_fleet_run_is_retried_and_each_revision_applied_once() {
    let cluster = Cluster::start();
    let project = Project::new();
    let ids = crate::support::table_chain(&project, 4, "SELECT pg_sleep(0.4);\n");
    let mut targets = String::new();
    for i in 0..4 {
        cluster.psql(&format!("CREATE DATABASE tenant{i}"));
        let url = cluster.database_url(&format!("tenant{i}"));
        targets.push_str(&format!(
            "[[targets]]\nname = \"tenant{i}\"\nurl = \"{url}\"\n\n"
        ));
    }
    std::fs::write(project.path().join("targets.toml"), targets).expect("targets.toml");
    let child = retort(project.path())
        .args([
            "fleet",
            "upgrade",
            "--concurrency",
            "4",
            "--retries",
            "6",
            "--retry-base",
            "500ms",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the fleet");
    cluster.wait_for_sleep();
    cluster.crash();
    std::thread::sleep(Duration::from_secs(1));
    cluster.restart();
    let run = Run::from(child.wait_with_output().expect("the fleet"));
    eprintln!("{}\n{}", run.stdout, run.stderr);
    // Six retries (0.5 s doubling) outlast a restart: the run itself finishes.
    let run = run.ok();
    assert!(run.stderr.contains("failed, retrying in"), "{}", run.stderr);
    assert!(run.stdout.contains("4 done, 0 failed"), "{}", run.stdout);
    // And a rerun has nothing to do.
    let again = project
        .run(&["fleet", "upgrade", "--concurrency", "4"])
        .ok();
    assert!(!again.stdout.contains("upgraded ("), "{}", again.stdout);
    for i in 0..4 {
        let url = cluster.database_url(&format!("tenant{i}"));
        let output = Command::new(crate::support::pg_program("psql"))
            .args([
                "-X",
                "-At",
                "-d",
                &url,
                "-c",
                "SELECT string_agg(direction || ' ' || revision, ', ' ORDER BY id) FROM retort_history",
            ])
            .output()
            .expect("psql");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            ids.iter()
                .map(|id| format!("upgrade {id}"))
                .collect::<Vec<_>>()
                .join(", "),
            "tenant{i}"
        );
    }
}

/// The scratch server crashes under `test-migration`: a server that went away is no
/// verdict on any revision, so the run stops with exit 3 saying so (not "upgrade
/// failed"), and names the scratch database it could not drop; after the restart the
/// test passes.
#[test]
fn a_server_crash_under_test_migration_stops_it_without_a_verdict() {
    let cluster = Cluster::start();
    let project = Project::new();
    crate::support::table_chain(&project, 3, "SELECT pg_sleep(0.5);\n");
    let args = [
        "test-migration",
        "--each",
        "--scratch",
        "server",
        "--scratch-url",
        cluster.url.as_str(),
    ];
    let child = retort(project.path())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn test-migration");
    cluster.wait_for_sleep();
    cluster.crash();
    let run = Run::from(child.wait_with_output().expect("test-migration")).fails_with(3);
    eprintln!("{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("the server closed the connection"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains("upgrade failed"), "{}", run.stdout);
    assert!(
        run.stderr.contains("is left on the server")
            && run.stderr.contains("DROP DATABASE retort_scratch_"),
        "{}",
        run.stderr
    );
    cluster.restart();
    let left = cluster.psql(
        "SELECT string_agg(datname, ',') FROM pg_database WHERE datname LIKE 'retort_scratch_%'",
    );
    assert!(
        run.stderr.contains(&left),
        "{left} is not the database named:\n{}",
        run.stderr
    );
    cluster.psql(&format!("DROP DATABASE {left}"));
    project.run(&args).ok();
}

/// A batch section with `max_lag=1s` waits while a streaming standby's replay is paused
/// (its lag grows past the limit), says so, runs no batch meanwhile, and finishes once
/// the standby replays again.
#[test]
fn a_batch_section_waits_while_a_replica_lags_beyond_max_lag() {
    let cluster = Cluster::start();
    let standby = pg_local(&cluster.state, "standby");
    let on_standby = |sql: &str| psql_at(&standby, sql);
    cluster.psql(
        "CREATE TABLE t (id int PRIMARY KEY, touched int NOT NULL DEFAULT 0);
         INSERT INTO t (id) SELECT g FROM generate_series(1, 2000) g;
         CREATE TABLE seen (at timestamptz, rows int)",
    );
    let project = Project::new();
    let upgrade = "SELECT 1;\n\n\
         -- migrate:batch table=t key=id size=200 max_lag=1s\n\
         WITH u AS (UPDATE t SET touched = touched + 1 WHERE id >= :lo AND id < :hi RETURNING 1)\n\
         INSERT INTO seen SELECT clock_timestamp(), count(*) FROM u;";
    write_revision(
        &project.versions(),
        &Rev {
            number: 1,
            parents: &[],
            message: "backfill",
            upgrade,
            downgrade: None,
            non_transactional: false,
        },
    );
    // Replay paused, and WAL to replay: the lag grows past a second.
    on_standby("SELECT pg_wal_replay_pause()");
    cluster.psql("CREATE TABLE filler AS SELECT g FROM generate_series(1, 50000) g");
    let lagging = Instant::now();
    while cluster.psql(
        "SELECT coalesce(max(extract(epoch FROM replay_lag)), 0) > 1.5 FROM pg_stat_replication",
    ) != "t"
    {
        assert!(
            lagging.elapsed() < Duration::from_secs(30),
            "the standby never lagged"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let child = spawn_upgrade(&project, &cluster.url);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        cluster.psql("SELECT count(*) FROM seen"),
        "0",
        "a batch ran while the replica lagged"
    );
    on_standby("SELECT pg_wal_replay_resume()");
    let run = child.wait_with_output().expect("the run ends");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("a replica lags"), "{stderr}");
    assert!(stderr.contains("more than max_lag=1000ms"), "{stderr}");
    assert_eq!(cluster.psql("SELECT count(*) FROM seen"), "10");
    assert_eq!(
        cluster.psql("SELECT count(*) FROM t WHERE touched <> 1"),
        "0"
    );
}
