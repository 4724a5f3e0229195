//! Models kept as a `pg_dump --schema-only` of the database: the dump's psql
//! meta-commands, its owners and grants naming production's roles, and the way its
//! expressions read back differently from the chain's must all leave `check` green.

use std::path::Path;
use std::process::Command;

use crate::support::{admin_url, pg_program, write_revision, Project, Rev, Run, TestDb};

/// The chain's one revision: expressions PostgreSQL rewrites when it stores them, and
/// rewrites again when their stored form is loaded (a varchar `IN` list above all).
const UPGRADE: &str = "
CREATE TYPE stage AS ENUM ('draft', 'live');
CREATE TABLE item (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lifecycle_stage varchar(20) NOT NULL DEFAULT 'active'::varchar
        CHECK (lifecycle_stage IN ('active', 'deleted')),
    c varchar(10) CHECK (c IN ('a', 'b')),
    label varchar DEFAULT 'x'::varchar,
    stage stage NOT NULL DEFAULT 'draft',
    price numeric(10, 2) CHECK (price > 0),
    label_key text GENERATED ALWAYS AS (lower(label::text)) STORED
);
CREATE INDEX item_label_idx ON item (lower(label));
-- Before item in name order, yet joined to it.
CREATE TABLE attachment (
    id int PRIMARY KEY,
    item_id bigint REFERENCES item (id),
    kind varchar(5) CHECK (kind IN ('x', 'y'))
);
CREATE INDEX item_live_idx ON item (id) WHERE c IN ('a', 'b') AND stage = 'live';
CREATE VIEW live_item AS
    SELECT id, label FROM item WHERE lifecycle_stage IN ('active', 'deleted');
CREATE FUNCTION item_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.label := coalesce(NEW.label, 'x');
    RETURN NEW;
END
$$;
CREATE TRIGGER item_touch BEFORE UPDATE ON item FOR EACH ROW
    WHEN (OLD.c IS DISTINCT FROM NEW.c AND NEW.c IN ('a', 'b'))
    EXECUTE FUNCTION item_touch();
ALTER TABLE item ENABLE ROW LEVEL SECURITY;
CREATE POLICY item_visible ON item USING (lifecycle_stage IN ('active'));
";

const DOWNGRADE: &str = "
DROP VIEW live_item;
DROP TABLE attachment;
DROP TABLE item;
DROP FUNCTION item_touch();
DROP TYPE stage;
";

/// A role no server here has: the dump's owner and grantee in production.
const PROD_ROLE: &str = "retort_prod_owner_nowhere";

fn scratch_run(project: &Project, args: &[&str]) -> Run {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--scratch", "server", "--scratch-url", admin_url()]);
    project.run(&all)
}

/// A project with no models (init's example removed) and no revisions.
fn empty_project() -> Project {
    let project = Project::new();
    for dir in ["models", "versions"] {
        for entry in std::fs::read_dir(project.path().join(dir)).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "sql") {
                std::fs::remove_file(path).expect("remove");
            }
        }
    }
    project
}

/// `pg_dump --schema-only` (plain) of `url`, with `extra` arguments.
fn schema_dump(url: &str, extra: &[&str]) -> String {
    let out = Command::new(pg_program("pg_dump"))
        .args(["--schema-only", "--format=plain"])
        .args(extra)
        .arg("--dbname")
        .arg(url)
        .env("PGSSLMODE", "disable")
        .output()
        .expect("run pg_dump");
    assert!(
        out.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("a UTF-8 dump")
}

/// What production's dump looks like: the owners and a few grants name a role this
/// server lacks, and `\restrict` / `\unrestrict` are there as pg_dump writes them since
/// its August 2025 minor releases (added when this pg_dump is older than that).
fn as_production(dump: &str, owner: &str) -> String {
    let mut text = dump.replace(
        &format!("OWNER TO {owner};"),
        &format!("OWNER TO {PROD_ROLE};"),
    );
    text.push_str(&format!(
        "\nGRANT SELECT ON TABLE public.live_item TO {PROD_ROLE};\n\
         ALTER DEFAULT PRIVILEGES FOR ROLE {PROD_ROLE} IN SCHEMA public GRANT SELECT ON TABLES TO {PROD_ROLE};\n"
    ));
    if !text.contains("\n\\restrict ") {
        let key = "q7Zk2RmV0aXc9LbN3sTy8HwE";
        let header_end = text.find("\n\n").map_or(0, |i| i + 2);
        text.insert_str(header_end, &format!("\\restrict {key}\n\n"));
        text.push_str(&format!("\n\\unrestrict {key}\n"));
    }
    text
}

/// The chain's database as production has it, dumped into the project's models.
fn models_from_dump(project: &Project, extra: &[&str]) -> String {
    let db = TestDb::new("modelsdump");
    write_revision(
        &project.versions(),
        &Rev {
            number: 1,
            parents: &[],
            message: "items",
            upgrade: UPGRADE,
            downgrade: Some(DOWNGRADE),
            non_transactional: false,
        },
    );
    project.run(&["--database-url", &db.url, "upgrade"]).ok();
    let owner = db.texts("SELECT current_user::text").remove(0);
    let dump = as_production(&schema_dump(&db.url, extra), &owner);
    assert!(dump.contains(&format!("OWNER TO {PROD_ROLE}")), "{dump}");
    write_model(project, "schema.sql", &dump);
    dump
}

fn write_model(project: &Project, name: &str, text: &str) {
    std::fs::write(project.path().join("models").join(name), text).expect("write model");
}

fn remove_revisions(versions: &Path) {
    for entry in std::fs::read_dir(versions).expect("read versions") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "sql") {
            std::fs::remove_file(path).expect("remove revision");
        }
    }
}

#[test]
fn check_passes_against_a_pg_dump_of_the_chains_own_schema() {
    let project = empty_project();
    let dump = models_from_dump(&project, &[]);
    assert!(dump.contains("\\restrict "), "{dump}");
    let run = scratch_run(&project, &["-v", "check"]).ok();
    assert!(run.stdout.contains("no differences"), "{}", run.stdout);
    assert!(
        run.stderr
            .contains("owner/privilege statement(s) naming roles this server lacks"),
        "{}",
        run.stderr
    );
    // The dump's side has been through a reload already: settling the chain's is enough.
    assert!(
        run.stderr.contains("by creating 1 side(s) again"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    // Only the settled definitions are compared, in either direction.
    let run = scratch_run(
        &project,
        &["diff", "--from", "models", "--to", "head", "--exit-code"],
    )
    .ok();
    assert!(run.stdout.contains("no differences"), "{}", run.stdout);
}

#[test]
fn a_real_difference_in_an_expression_still_shows_after_settling() {
    let project = empty_project();
    let dump = models_from_dump(&project, &[]);
    // Production also allows 'archived': a real change of the check constraint.
    let changed = dump.replacen(
        "'deleted'::character varying",
        "'deleted'::character varying, 'archived'::character varying",
        1,
    );
    assert_ne!(
        changed, dump,
        "the dump spells the check as expected:\n{dump}"
    );
    write_model(&project, "schema.sql", &changed);
    let run = scratch_run(&project, &["check"]).fails_with(1);
    assert!(run.stdout.contains("archived"), "{}", run.stdout);
}

#[test]
fn autogenerate_from_an_empty_chain_writes_the_dumped_schema() {
    let project = empty_project();
    models_from_dump(&project, &[]);
    remove_revisions(&project.versions());
    let run = scratch_run(
        &project,
        &["new-migration", "-m", "from production", "--autogenerate"],
    )
    .ok();
    let written = project.path().join(run.stdout.trim());
    let revision = std::fs::read_to_string(&written).expect("read the new revision");
    assert!(revision.contains("CREATE TABLE public.item"), "{revision}");
    assert!(!revision.contains(PROD_ROLE), "{revision}");
    // The chain of that one revision applies, and then matches the models.
    let run = scratch_run(&project, &["check"]).ok();
    assert!(run.stdout.contains("no differences"), "{}", run.stdout);
}

#[test]
fn a_dump_made_with_create_loads_into_the_scratch_database() {
    let project = empty_project();
    let dump = models_from_dump(&project, &["--create"]);
    assert!(dump.contains("\\connect "), "{dump}");
    assert!(dump.contains("CREATE DATABASE "), "{dump}");
    let run = scratch_run(&project, &["check"]).ok();
    assert!(
        run.stderr.contains("about the dumped database itself"),
        "{}",
        run.stderr
    );
}

#[test]
fn other_meta_commands_are_refused_at_their_line() {
    let project = empty_project();
    write_model(
        &project,
        "schema.sql",
        "\\restrict abc\nCREATE TABLE t (id int);\n\\i more.sql\n\\unrestrict abc\n",
    );
    let run = scratch_run(&project, &["check"]).fails_with(2);
    assert!(run.stderr.contains("schema.sql:3:"), "{}", run.stderr);
    assert!(run.stderr.contains("\\i cannot run here"), "{}", run.stderr);

    write_model(
        &project,
        "schema.sql",
        "\\connect one\nCREATE TABLE t (id int);\n\\connect two\n",
    );
    let run = scratch_run(&project, &["check"]).fails_with(2);
    assert!(run.stderr.contains("schema.sql:3:"), "{}", run.stderr);
    assert!(
        run.stderr.contains("\"two\" after \"one\""),
        "{}",
        run.stderr
    );

    // A dump with data: its rows are for psql to feed, not statements.
    write_model(
        &project,
        "schema.sql",
        "CREATE TABLE t (id int, s text);\n\nCOPY public.t (id, s) FROM stdin;\n1\tone\n\\.\n",
    );
    let run = scratch_run(&project, &["check"]).fails_with(2);
    assert!(run.stderr.contains("schema.sql:3:"), "{}", run.stderr);
    assert!(run.stderr.contains("--schema-only"), "{}", run.stderr);
}

#[test]
fn create_schema_public_loads_where_public_exists_and_a_dumps_settings_stay_in_it() {
    let project = empty_project();
    write_revision(
        &project.versions(),
        &Rev {
            number: 1,
            parents: &[],
            message: "t",
            upgrade: "CREATE TABLE t (id int);",
            downgrade: Some("DROP TABLE t;"),
            non_transactional: false,
        },
    );
    write_model(
        &project,
        "schema.sql",
        "--\n-- PostgreSQL database dump\n--\n\n\
         -- Dumped from database version 15.18\n\
         -- Dumped by pg_dump version 15.18\n\n\
         SET transaction_timeout = 0;\n\
         SET retort_test_no_such_setting = on;\n\
         SELECT pg_catalog.set_config('search_path', '', false);\n\
         CREATE SCHEMA public;\n\
         ALTER SCHEMA public OWNER TO pg_database_owner;\n\
         COMMENT ON SCHEMA public IS 'standard public schema';\n",
    );
    // The dump's empty search_path stays in the dump: a model file after it names
    // its tables as usual.
    write_model(&project, "zz_more.sql", "CREATE TABLE t (id integer);\n");
    let run = scratch_run(&project, &["-v", "check"]).ok();
    assert!(run.stdout.contains("no differences"), "{}", run.stdout);
    // PostgreSQL 17's pg_dump sets transaction_timeout, which older servers lack.
    assert!(
        run.stderr
            .contains("SET(s) of parameters this server does not know"),
        "{}",
        run.stderr
    );
    // Nothing differs, so nothing is created again to settle expressions.
    assert!(!run.stderr.contains("settled"), "{}", run.stderr);
}
