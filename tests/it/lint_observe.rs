//! `retort lint --observe` end to end: the locks and rewrites reported are the ones
//! PostgreSQL took on a scratch database, sizes come from the configured database or a
//! restored dump, and the database the revisions are pending for is only read.

use serde_json::Value;

use crate::support::{admin_url, write_revision, Project, Rev, Run, TestDb};

/// accounts (base), then a transactional revision that locks and rewrites it, then a
/// transaction:false concurrent index.
fn project() -> (Project, [String; 3]) {
    let project = Project::new();
    let versions = project.versions();
    let r1 = write_revision(
        &versions,
        &Rev {
            number: 1,
            parents: &[],
            message: "accounts",
            upgrade: "CREATE TABLE accounts (id bigint PRIMARY KEY, n int);\n\
                      INSERT INTO accounts SELECT g, g FROM generate_series(1, 100) g;",
            downgrade: Some("DROP TABLE accounts;"),
            non_transactional: false,
        },
    );
    let r2 = write_revision(
        &versions,
        &Rev {
            number: 2,
            parents: &[&r1],
            message: "widen n",
            upgrade: "ALTER TABLE accounts ADD COLUMN note text;\n\
                      ALTER TABLE accounts ALTER COLUMN n TYPE bigint;\n\
                      CREATE INDEX accounts_n_idx ON accounts (n);",
            downgrade: Some(
                "DROP INDEX accounts_n_idx;\n\
                 ALTER TABLE accounts ALTER COLUMN n TYPE int;\n\
                 ALTER TABLE accounts DROP COLUMN note;",
            ),
            non_transactional: false,
        },
    );
    let r3 = write_revision(
        &versions,
        &Rev {
            number: 3,
            parents: &[&r2],
            message: "note index",
            upgrade: "CREATE INDEX CONCURRENTLY accounts_note_idx ON accounts (note);",
            downgrade: Some("DROP INDEX CONCURRENTLY accounts_note_idx;"),
            non_transactional: true,
        },
    );
    (project, [r1, r2, r3])
}

fn observe(project: &Project, args: &[&str]) -> Run {
    let mut all = vec!["--json", "lint", "--observe"];
    all.extend_from_slice(args);
    all.extend(["--scratch", "server", "--scratch-url", admin_url()]);
    project.run(&all)
}

fn revision<'a>(observed: &'a Value, id: &str) -> &'a Value {
    observed["revisions"]
        .as_array()
        .expect("revisions")
        .iter()
        .find(|r| r["revision"] == id)
        .unwrap_or_else(|| panic!("{id} not observed: {observed:#}"))
}

fn statement<'a>(revision: &'a Value, starts: &str) -> &'a Value {
    revision["statements"]
        .as_array()
        .expect("statements")
        .iter()
        .find(|s| s["sql"].as_str().is_some_and(|sql| sql.starts_with(starts)))
        .unwrap_or_else(|| panic!("no statement {starts}: {revision:#}"))
}

fn has_lock(statement: &Value, key: &str, relation: &str, mode: &str) -> bool {
    statement[key].as_array().expect(key).iter().any(|l| {
        let lock = if l["lock"].is_null() { l } else { &l["lock"] };
        lock["relation"]["name"] == relation && lock["mode"] == mode
    })
}

fn rewrote(statement: &Value, relation: &str) -> bool {
    statement["rewritten"]
        .as_array()
        .expect("rewritten")
        .iter()
        .any(|r| r["name"] == relation)
}

#[test]
fn pending_revisions_report_real_locks_rewrites_and_production_sizes() {
    let (project, [r1, r2, r3]) = project();
    let prod = TestDb::new("observe_prod");
    project
        .run(&["upgrade", r1.as_str(), "--database-url", &prod.url])
        .ok();
    prod.execute(
        "INSERT INTO accounts SELECT g, g FROM generate_series(101, 20000) g; ANALYZE accounts",
    )
    .expect("grow production");

    let run = observe(&project, &["--database-url", &prod.url]).ok();
    let json = run.json();
    let observed = &json["observed"];
    assert_eq!(observed["revisions"].as_array().map(Vec::len), Some(2));

    let widen = revision(observed, &r2);
    assert_eq!(widen["transactional"], true);
    let add = statement(widen, "ALTER TABLE accounts ADD COLUMN");
    assert!(
        has_lock(add, "locks", "public.accounts", "ACCESS EXCLUSIVE"),
        "{add:#}"
    );
    assert!(
        !rewrote(add, "public.accounts"),
        "adding a nullable column rewrites nothing"
    );
    let retype = statement(widen, "ALTER TABLE accounts ALTER COLUMN n TYPE bigint");
    assert!(rewrote(retype, "public.accounts"), "{retype:#}");
    assert!(rewrote(retype, "public.accounts_pkey"), "{retype:#}");
    assert!(
        has_lock(retype, "held", "public.accounts", "ACCESS EXCLUSIVE"),
        "the rewrite runs under the lock of the line before: {retype:#}"
    );
    let held_since = retype["held"][0]["since_line"].as_u64();
    assert_eq!(held_since, add["line"].as_u64());

    let index = revision(observed, &r3);
    assert_eq!(index["transactional"], false);
    let concurrent = statement(index, "CREATE INDEX CONCURRENTLY");
    assert!(
        has_lock(
            concurrent,
            "locks",
            "public.accounts",
            "SHARE UPDATE EXCLUSIVE"
        ),
        "{concurrent:#}"
    );

    let from = observed["sizes_from"].as_str().expect("sizes_from");
    assert!(from.contains(&prod.name), "{from}");
    assert!(!from.contains("postgres://"), "no URL is printed: {from}");
    let rows = observed["sizes"]["public.accounts"]["rows"].as_f64();
    assert_eq!(rows, Some(20000.0));

    // Production was only read: still at r1, without the new column.
    let columns = prod.texts(
        "SELECT column_name::text FROM information_schema.columns WHERE table_name = 'accounts' \
         ORDER BY 1",
    );
    assert_eq!(columns, ["id", "n"]);
    let at = prod.texts("SELECT revision FROM retort_version");
    assert_eq!(at, std::slice::from_ref(&r1));

    // The human report says the same, with the file position and the size.
    let run = project
        .run(&[
            "lint",
            "--observe",
            "--database-url",
            &prod.url,
            "--scratch",
            "server",
            "--scratch-url",
            admin_url(),
        ])
        .ok();
    assert!(
        run.stdout
            .contains("ACCESS EXCLUSIVE on public.accounts (table, ")
            && run
                .stdout
                .contains("~20,000 rows): blocks reads and writes until COMMIT"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("rewrote public.accounts (table"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(r2.as_str()), "{}", run.stdout);
}

fn dump(db: &TestDb, path: &std::path::Path) {
    crate::support::pg_dump(&db.url, "custom", path);
}

#[test]
fn a_restored_dump_is_observed_from_where_it_stands() {
    let (project, [r1, r2, r3]) = project();
    let prod = TestDb::new("observe_dump");
    project
        .run(&["upgrade", r1.as_str(), "--database-url", &prod.url])
        .ok();
    prod.execute(
        "INSERT INTO accounts SELECT g, g FROM generate_series(101, 5000) g; ANALYZE accounts",
    )
    .expect("grow production");
    let with_versions = project.path().join("prod.dump");
    dump(&prod, &with_versions);

    // The dump records r1: only r2 and r3 are observed, sizes are the dump's.
    let path = with_versions.to_string_lossy().to_string();
    let json = observe(&project, &["--all", "--from-dump", &path])
        .ok()
        .json();
    let observed = &json["observed"];
    assert_eq!(observed["skipped"], serde_json::json!([r1.clone()]));
    revision(observed, &r2);
    revision(observed, &r3);
    assert!(observed["sizes_from"]
        .as_str()
        .is_some_and(|s| s.contains("prod.dump")));
    assert_eq!(
        observed["sizes"]["public.accounts"]["rows"].as_f64(),
        Some(5000.0)
    );

    // Taken before retort managed it (no version table): it stands at the parent of
    // the first revision asked for.
    prod.execute("DROP TABLE retort_version, retort_history")
        .expect("forget retort");
    let bare = project.path().join("bare.dump");
    dump(&prod, &bare);
    let path = bare.to_string_lossy().to_string();
    let range = format!("{r2}:");
    let json = observe(&project, &[range.as_str(), "--from-dump", &path])
        .ok()
        .json();
    assert_eq!(
        json["observed"]["assumed_at"],
        serde_json::json!([r1.clone()])
    );
    revision(&json["observed"], &r2);
    revision(&json["observed"], &r3);
}

#[test]
fn a_statement_that_fails_on_the_scratch_database_is_located() {
    let (project, [_, r2, _]) = project();
    let path = crate::support::revision_path(&project.versions(), &r2);
    let text = std::fs::read_to_string(&path).expect("read r2");
    std::fs::write(&path, text.replace("TYPE bigint", "TYPE no_such_type")).expect("break r2");
    let run = project
        .run(&[
            "lint",
            "--observe",
            "--all",
            "--scratch",
            "server",
            "--scratch-url",
            admin_url(),
        ])
        .fails_with(3);
    let file = path
        .file_name()
        .expect("name")
        .to_string_lossy()
        .to_string();
    assert!(run.stderr.contains(&format!("{file}:")), "{}", run.stderr);
    assert!(run.stderr.contains("no_such_type"), "{}", run.stderr);
}
