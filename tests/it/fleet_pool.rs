//! The fleet's connection pool against a real PostgreSQL: tenant schemas of one database
//! share `--concurrency` connections (sampled from `pg_stat_activity` while the run
//! goes), a failed tenant does not poison the connection for the next one, nothing a
//! tenant's revisions set in the session reaches another tenant, unqualified names land
//! in each tenant's schema, and database and schema targets mix.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::support::{write_revision, Project, Rev, TestDb};

/// What a sampler of `pg_stat_activity` saw.
#[derive(Debug, Default)]
struct Seen {
    /// The most retort sessions at once.
    peak: usize,
    /// Every backend pid of a retort session seen.
    pids: BTreeSet<i32>,
    /// Samples taken, and those that saw at least one session.
    samples: usize,
    busy: usize,
}

/// Counts the sessions with application_name `retort` on `databases`, every 2 ms, from
/// a connection of its own, until stopped.
struct Sampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Seen>,
}

impl Sampler {
    fn start(admin_url: &str, databases: &[&TestDb]) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let names: Vec<String> = databases.iter().map(|d| d.name.clone()).collect();
        let url = admin_url.to_owned();
        let flag = stop.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let handle = std::thread::spawn(move || {
            crate::support::runtime().block_on(async move {
                let client = crate::support::connect(&url).await;
                let query = client
                    .prepare(
                        "SELECT pid FROM pg_stat_activity \
                         WHERE datname = ANY($1) AND application_name = 'retort'",
                    )
                    .await
                    .expect("prepare the sample");
                let mut seen = Seen::default();
                let _ = ready_tx.send(());
                while !flag.load(Ordering::SeqCst) {
                    let rows = client.query(&query, &[&names]).await.expect("sample");
                    seen.samples += 1;
                    seen.peak = seen.peak.max(rows.len());
                    if !rows.is_empty() {
                        seen.busy += 1;
                    }
                    seen.pids.extend(rows.iter().map(|r| r.get::<_, i32>(0)));
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                seen
            })
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the sampler connects");
        Sampler { stop, handle }
    }

    fn finish(self) -> Seen {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().expect("sampler thread")
    }
}

/// Rows of one text column.
fn texts(db: &TestDb, sql: &str) -> Vec<String> {
    db.texts(sql)
}

fn relations_in(db: &TestDb, schema: &str, kind: char) -> Vec<String> {
    texts(
        db,
        &format!(
            "SELECT relname::text FROM pg_class WHERE relkind = '{kind}' \
             AND relnamespace = '\"{schema}\"'::regnamespace \
             AND relname NOT LIKE 'retort\\_%' ORDER BY relname"
        ),
    )
}

fn version_in(db: &TestDb, schema: &str) -> Vec<String> {
    if texts(
        db,
        &format!("SELECT (to_regclass('\"{schema}\".retort_version') IS NOT NULL)::text"),
    ) == ["false"]
    {
        return Vec::new();
    }
    texts(
        db,
        &format!(
            "SELECT revision || coalesce(' ' || dirty, '') FROM \"{schema}\".retort_version ORDER BY 1"
        ),
    )
}

/// Revision 1 fails when anything of another tenant's session is still there (a setting,
/// a temporary table, an advisory lock it took); the last revision leaves all three
/// behind in its session. Each revision creates an unqualified table, and revision 2 a
/// view over it, so the tenant's search_path decides where they land.
fn leaky_chain(project: &Project, n: u32, extra: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for i in 1..=n {
        let parents: Vec<&str> = ids.last().map(String::as_str).into_iter().collect();
        let mut up = format!(
            "{extra}CREATE TABLE t{i} (id int PRIMARY KEY);\nINSERT INTO t{i} VALUES ({i});\n"
        );
        if i == 1 {
            up.push_str(
                "DO $$ BEGIN\n\
                   IF coalesce(current_setting('fleet_test.leak', true), '') <> '' THEN\n\
                     RAISE 'a setting of % reached this tenant', current_setting('fleet_test.leak');\n\
                   END IF;\n\
                   IF to_regclass('pg_temp.leak_probe') IS NOT NULL THEN\n\
                     RAISE 'a temporary table of another tenant is visible';\n\
                   END IF;\n\
                   IF EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND objid = 4242) THEN\n\
                     RAISE 'an advisory lock of another tenant is still held';\n\
                   END IF;\n\
                 END $$;\n",
            );
        }
        if i == 2 {
            up.push_str("CREATE VIEW v1 AS SELECT id FROM t1;\n");
        }
        if i == n {
            up.push_str(
                "SELECT set_config('fleet_test.leak', current_schema(), false);\n\
                 CREATE TEMP TABLE leak_probe (x int);\n\
                 SELECT pg_try_advisory_lock(4242);\n",
            );
        }
        ids.push(write_revision(
            &project.versions(),
            &Rev {
                number: i,
                parents: &parents,
                message: &format!("create t{i}"),
                upgrade: &up,
                downgrade: Some(&format!("DROP TABLE t{i} CASCADE;")),
                non_transactional: false,
            },
        ));
    }
    ids
}

#[test]
fn sixty_tenant_schemas_share_three_connections_and_a_failure_poisons_none() {
    let project = Project::new();
    let ids = leaky_chain(&project, 4, "SELECT pg_sleep(0.002);\n");
    let db = TestDb::new("fleet_pool");
    let names: Vec<String> = (0..60).map(|i| format!("tenant_{i:02}")).collect();
    let mut setup: String = names
        .iter()
        .map(|n| format!("CREATE SCHEMA {n};\n"))
        .collect();
    // Revision 2 of tenant_17 fails (its table t2 exists): a transactional failure.
    let broken = 17;
    setup.push_str(&format!("CREATE TABLE {}.t2 (x int);\n", names[broken]));
    db.execute(&setup).expect("schemas");

    // Each tenant has its own advisory lock (the key comes from its version table).
    let keys: BTreeSet<i64> = names
        .iter()
        .map(|n| {
            retort::db::VersionTables {
                schema: n.clone(),
                ..Default::default()
            }
            .lock_key()
        })
        .collect();
    assert_eq!(keys.len(), names.len());

    let sampler = Sampler::start(crate::support::admin_url(), &[&db]);
    let run = project
        .run(&[
            "--database-url",
            &db.url,
            "fleet",
            "upgrade",
            "--schemas",
            "tenant\\_%",
            "--concurrency",
            "3",
            "--json",
        ])
        .fails_with(1);
    let seen = sampler.finish();
    eprintln!("{seen:?}");
    let report = run.json();

    // --concurrency counts sessions: never more than 3 at once, and a handful opened
    // for 60 targets (3, plus one to replace the failed tenant's dropped connection).
    assert!(seen.busy > 10, "the sampler saw the run: {seen:?}");
    assert!(seen.peak <= 3, "{seen:?}");
    let opened = report["connections_opened"].as_u64().expect("opened");
    assert!((1..=4).contains(&opened), "{opened}");
    assert!(seen.pids.len() as u64 <= opened, "{seen:?} vs {opened}");

    let targets = report["targets"].as_array().expect("targets");
    for (i, t) in targets.iter().enumerate() {
        assert_eq!(t["name"], names[i].as_str());
        if i == broken {
            assert_eq!(t["state"], "failed", "{t}");
            assert_eq!(t["failed_revision"], ids[1].as_str(), "{t}");
            assert!(t["error"].as_str().expect("error").contains("42P07"), "{t}");
        } else {
            assert_eq!(t["state"], "done", "{t}");
            assert_eq!(t["heads"], serde_json::json!([ids[3]]), "{t}");
        }
    }
    for (i, name) in names.iter().enumerate() {
        if i == broken {
            // At revision 1, nothing of revision 2 kept (t2 is the tenant's own table).
            assert_eq!(version_in(&db, name), [ids[0].clone()], "{name}");
            assert_eq!(relations_in(&db, name, 'r'), ["t1", "t2"], "{name}");
            assert!(relations_in(&db, name, 'v').is_empty(), "{name}");
            assert_eq!(
                texts(&db, &format!("SELECT count(*)::text FROM {name}.t2")),
                ["0"]
            );
        } else {
            assert_eq!(version_in(&db, name), [ids[3].clone()], "{name}");
            assert_eq!(
                relations_in(&db, name, 'r'),
                ["t1", "t2", "t3", "t4"],
                "{name}"
            );
            // The view's unqualified t1 is the tenant's own.
            assert_eq!(relations_in(&db, name, 'v'), ["v1"], "{name}");
            assert_eq!(
                texts(
                    &db,
                    &format!(
                        "SELECT DISTINCT d.refobjid::regclass::text FROM pg_depend d \
                         JOIN pg_rewrite r ON r.oid = d.objid \
                         WHERE r.ev_class = '{name}.v1'::regclass AND d.refobjid <> r.ev_class \
                           AND d.refclassid = 'pg_class'::regclass"
                    )
                ),
                [format!("{name}.t1")]
            );
        }
    }
    assert!(relations_in(&db, "public", 'r').is_empty());
    assert!(version_in(&db, "public").is_empty());

    // The sessions end with the run (the server notices the closed sockets at once).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while texts(
        &db,
        &format!(
            "SELECT count(*)::text FROM pg_stat_activity WHERE datname = '{}' \
             AND application_name = 'retort'",
            db.name
        ),
    ) != ["0"]
    {
        assert!(
            std::time::Instant::now() < deadline,
            "retort's sessions outlived it"
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    // fleet status reads through the pool too.
    let status = project
        .run(&[
            "--database-url",
            &db.url,
            "fleet",
            "status",
            "--schemas",
            "tenant\\_%",
            "--concurrency",
            "3",
            "--json",
        ])
        .json();
    let statuses = status["targets"].as_array().expect("targets");
    assert_eq!(statuses.len(), 60);
    for (i, s) in statuses.iter().enumerate() {
        let behind = if i == broken { 3 } else { 0 };
        assert_eq!(s["behind"], behind, "{s}");
        assert!(s.get("error").is_none(), "{s}");
    }
}

/// Writes targets.toml: each entry `(name, url, schema)`.
fn write_targets(project: &Project, entries: &[(&str, &str, Option<&str>)]) {
    let mut text = String::new();
    for (name, url, schema) in entries {
        text.push_str(&format!(
            "[[targets]]\nname = \"{name}\"\nurl = \"{url}\"\n"
        ));
        if let Some(schema) = schema {
            text.push_str(&format!("schema = \"{schema}\"\n"));
        }
        text.push('\n');
    }
    std::fs::write(project.path().join("targets.toml"), text).expect("targets.toml");
}

#[test]
fn database_and_schema_targets_mix_and_a_transaction_false_failure_stays_its_own() {
    let project = Project::new();
    let mut ids = Vec::new();
    let revisions = [
        (
            "CREATE TABLE t1 (id int PRIMARY KEY);\nINSERT INTO t1 VALUES (1);",
            false,
        ),
        // Outside a transaction: a failure here leaves the target dirty.
        ("CREATE INDEX CONCURRENTLY t1_idx ON t1 (id);", true),
        (
            "CREATE TABLE t3 (id int PRIMARY KEY);\nINSERT INTO t3 VALUES (3);",
            false,
        ),
    ];
    for (i, (up, non_transactional)) in revisions.iter().enumerate() {
        let parents: Vec<&str> = ids.last().map(String::as_str).into_iter().collect();
        let id = write_revision(
            &project.versions(),
            &Rev {
                number: i as u32 + 1,
                parents: &parents,
                message: &format!("step {}", i + 1),
                upgrade: up,
                downgrade: None,
                non_transactional: *non_transactional,
            },
        );
        ids.push(id);
    }
    let plain_a = TestDb::new("fleet_mix_a");
    let plain_b = TestDb::new("fleet_mix_b");
    let shared = TestDb::new("fleet_mix_s");
    shared
        .execute(
            "CREATE SCHEMA s1; CREATE SCHEMA s2; CREATE SCHEMA \"S 3\"; CREATE SCHEMA s4;\n\
             -- the index's name is taken in s2: CREATE INDEX CONCURRENTLY fails there\n\
             CREATE TABLE s2.t1_idx (x int);",
        )
        .expect("schemas");
    write_targets(
        &project,
        &[
            ("a", &plain_a.url, None),
            ("s1", &shared.url, Some("s1")),
            ("s2", &shared.url, Some("s2")),
            ("whole", &shared.url, None),
            ("s3", &shared.url, Some("S 3")),
            ("b", &plain_b.url, None),
            ("s4", &shared.url, Some("s4")),
        ],
    );
    let sampler = Sampler::start(crate::support::admin_url(), &[&plain_a, &plain_b, &shared]);
    let report = project
        .run(&["fleet", "upgrade", "--concurrency", "2", "--json"])
        .fails_with(1)
        .json();
    let seen = sampler.finish();
    eprintln!("{seen:?}");
    assert!(seen.peak <= 2, "{seen:?}");

    let state_of = |name: &str| {
        report["targets"]
            .as_array()
            .expect("targets")
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no {name}"))
            .clone()
    };
    let s2 = state_of("s2");
    assert_eq!(s2["state"], "failed", "{s2}");
    assert_eq!(s2["failed_revision"], ids[1].as_str(), "{s2}");
    for name in ["a", "b", "s1", "whole", "s3", "s4"] {
        let t = state_of(name);
        assert_eq!(t["state"], "done", "{t}");
        assert_eq!(t["heads"], serde_json::json!([ids[2]]), "{t}");
    }
    for (db, schema) in [
        (&plain_a, "public"),
        (&plain_b, "public"),
        (&shared, "public"),
        (&shared, "s1"),
        (&shared, "S 3"),
        (&shared, "s4"),
    ] {
        assert_eq!(version_in(db, schema), [ids[2].clone()], "{schema}");
        assert_eq!(relations_in(db, schema, 'r'), ["t1", "t3"], "{schema}");
        assert_eq!(
            relations_in(db, schema, 'i'),
            ["t1_idx", "t1_pkey", "t3_pkey"],
            "{schema}"
        );
    }
    // s2 stopped at the failed transaction:false revision, marked dirty, and nothing of
    // revision 3 ran there.
    assert_eq!(
        version_in(&shared, "s2"),
        [ids[0].clone(), format!("{} upgrade", ids[1])]
    );
    assert_eq!(relations_in(&shared, "s2", 'r'), ["t1", "t1_idx"]);
}

#[test]
fn one_connection_serves_schema_and_whole_database_targets_in_turn() {
    let project = Project::new();
    let ids = crate::support::table_chain(&project, 2, "");
    let db = TestDb::new("fleet_pool_turns");
    db.execute("CREATE SCHEMA s1; CREATE SCHEMA s2")
        .expect("schemas");
    // At --concurrency 1 each target takes the connection the one before gave back: the
    // whole-database target after s1 must find the database's own search_path again.
    write_targets(
        &project,
        &[
            ("s1", &db.url, Some("s1")),
            ("whole", &db.url, None),
            ("s2", &db.url, Some("s2")),
        ],
    );
    let report = project
        .run(&["fleet", "upgrade", "--concurrency", "1", "--json"])
        .ok()
        .json();
    assert_eq!(report["connections_opened"], 1, "{report}");
    for schema in ["s1", "public", "s2"] {
        assert_eq!(version_in(&db, schema), [ids[1].clone()], "{schema}");
        assert_eq!(relations_in(&db, schema, 'r'), ["t1", "t2"], "{schema}");
    }
}
