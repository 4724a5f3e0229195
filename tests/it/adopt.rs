//! Adopting an existing database: `init --from-database` writes models and a baseline
//! revision proven to give the database's schema, `stamp` records it after the same
//! check, and refuses a database whose schema is not the chain's.

use crate::support::{admin_url, retort, Run, TestDb};

/// A schema as another tool would have left it, with what the dump must order:
/// a foreign key to a table later in name order, a view over a view, a sequence owned
/// by a column, a SQL function reading a table, an enum.
const EXISTING: &str = "
CREATE TYPE mood AS ENUM ('sad', 'happy');
CREATE TABLE zones (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE accounts (
    id bigserial PRIMARY KEY,
    zone_id int REFERENCES zones(id),
    mood mood DEFAULT 'happy',
    email text UNIQUE
);
CREATE FUNCTION account_count() RETURNS bigint LANGUAGE sql STABLE
    AS $$ SELECT count(*) FROM accounts $$;
CREATE VIEW zv AS SELECT id, name FROM zones;
CREATE VIEW azv AS SELECT a.id, z.name FROM accounts a JOIN zv z ON z.id = a.zone_id;
CREATE INDEX accounts_zone_idx ON accounts (zone_id);
";

fn run_in(dir: &std::path::Path, args: &[&str]) -> Run {
    Run::from(retort(dir).args(args).output().expect("run retort"))
}

/// `init --from-database` of a fresh database holding [`EXISTING`]; the project dir.
fn adopt(db: &TestDb) -> (tempfile::TempDir, std::path::PathBuf, Run) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("proj");
    let run = run_in(
        tmp.path(),
        &[
            "init",
            "proj",
            "--from-database",
            &db.url,
            "--scratch-url",
            admin_url(),
        ],
    );
    (tmp, dir, run)
}

#[test]
fn init_from_database_writes_models_and_a_baseline_that_gives_the_database() {
    let db = TestDb::new("adopt_src");
    db.execute(EXISTING).expect("existing schema");
    let (_tmp, dir, run) = adopt(&db);
    let run = run.ok();
    assert!(
        run.stderr.contains("gives exactly the schema of"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("stamp "), "{}", run.stderr);
    let models = std::fs::read_to_string(dir.join("models/schema.sql")).expect("models");
    assert!(models.contains("CREATE VIEW public.azv"), "{models}");
    assert!(!dir.join("models/00_example.sql").exists());
    let revisions: Vec<_> = std::fs::read_dir(dir.join("versions"))
        .expect("versions")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with("_baseline.sql"))
        .collect();
    assert_eq!(revisions.len(), 1);

    // The baseline from nothing gives the schema (upgrade on an empty database).
    let fresh = TestDb::new("adopt_fresh");
    run_in(&dir, &["--database-url", &fresh.url, "upgrade"]).ok();
    let check = run_in(
        &dir,
        &[
            "check",
            "--from-database",
            &fresh.url,
            "--scratch-url",
            admin_url(),
        ],
    );
    assert_eq!(check.code, 0, "{}\n{}", check.stdout, check.stderr);

    // The database itself is stamped, after the check, and is then up to date.
    run_in(
        &dir,
        &[
            "--database-url",
            &db.url,
            "stamp",
            "head",
            "--scratch-url",
            admin_url(),
        ],
    )
    .ok();
    let current = run_in(&dir, &["--database-url", &db.url, "current"]).ok();
    assert!(current.stdout.contains("baseline"), "{}", current.stdout);
    let upgrade = run_in(&dir, &["--database-url", &db.url, "upgrade"]).ok();
    assert!(
        !upgrade.stdout.contains("upgraded"),
        "nothing to run: {}",
        upgrade.stdout
    );
}

#[test]
fn stamp_refuses_a_database_whose_schema_is_not_the_revisions() {
    let db = TestDb::new("adopt_src2");
    db.execute(EXISTING).expect("existing schema");
    let (_tmp, dir, run) = adopt(&db);
    run.ok();
    // Another environment that drifted: a column more.
    let drifted = TestDb::new("adopt_drift");
    db.execute("SELECT 1").expect("alive");
    drifted.execute(EXISTING).expect("existing schema");
    drifted
        .execute("ALTER TABLE accounts ADD COLUMN note text")
        .expect("drift");
    let refused = run_in(
        &dir,
        &[
            "--database-url",
            &drifted.url,
            "stamp",
            "head",
            "--scratch-url",
            admin_url(),
        ],
    )
    .fails_with(1);
    assert!(
        refused.stderr.contains("not stamped") && refused.stdout.contains("note text"),
        "{}\n{}",
        refused.stdout,
        refused.stderr
    );
    let current = run_in(&dir, &["--database-url", &drifted.url, "current"]);
    assert!(!current.stdout.contains("baseline"), "{}", current.stdout);
    // --force records it anyway.
    run_in(
        &dir,
        &["--database-url", &drifted.url, "stamp", "head", "--force"],
    )
    .ok();
}

#[test]
fn init_from_an_empty_database_writes_nothing_and_says_what_to_do() {
    let db = TestDb::new("adopt_empty");
    let (_tmp, dir, run) = adopt(&db);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("no schema to adopt"), "{}", run.stderr);
    assert!(!dir.join("retort.toml").exists());
}

#[test]
fn another_tools_version_table_stays_with_the_database_not_in_the_baseline() {
    let db = TestDb::new("adopt_alembic");
    db.execute(EXISTING).expect("existing schema");
    db.execute(
        "CREATE TABLE alembic_version (version_num varchar(32) NOT NULL PRIMARY KEY);
         INSERT INTO alembic_version VALUES ('451aebb31d03');
         CREATE SCHEMA ops;
         CREATE TABLE ops.goose_db_version (id serial PRIMARY KEY, version_id bigint NOT NULL,
             is_applied boolean NOT NULL, tstamp timestamp DEFAULT now());
         -- A table of the application that only shares a tool table's name is schema.
         CREATE SCHEMA app;
         CREATE TABLE app.schema_migrations (name text PRIMARY KEY);",
    )
    .expect("tool tables");
    let (_tmp, dir, run) = adopt(&db);
    let run = run.ok();
    assert!(
        run.stderr.contains("left out public.alembic_version")
            && run.stderr.contains("left out ops.goose_db_version"),
        "{}",
        run.stderr
    );
    let models = std::fs::read_to_string(dir.join("models/schema.sql")).expect("models");
    assert!(!models.contains("alembic_version"), "{models}");
    assert!(!models.contains("goose_db_version"), "{models}");
    assert!(models.contains("app.schema_migrations"), "{models}");
    // stamp's check leaves them out too, and touches nothing of theirs.
    run_in(
        &dir,
        &[
            "--database-url",
            &db.url,
            "stamp",
            "head",
            "--scratch-url",
            admin_url(),
        ],
    )
    .ok();
    assert_eq!(
        db.texts("SELECT version_num::text FROM alembic_version"),
        ["451aebb31d03"]
    );
    // Nor is it drift for `check`, or something for autogenerate to drop.
    let check = run_in(
        &dir,
        &[
            "check",
            "--from-database",
            &db.url,
            "--scratch-url",
            admin_url(),
        ],
    );
    assert_eq!(check.code, 0, "{}\n{}", check.stdout, check.stderr);
}
