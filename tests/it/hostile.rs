//! Hostile names and content through catalog → diff → render → apply → dump:
//! identifiers with quotes, spaces, dots, `$$`, unicode, upper case, keywords and the
//! 63-byte limit; comments, defaults and bodies holding `;`, `$$` and `-- migrate:`
//! markers. Each direction of the diff is applied with psql and must reproduce the
//! other side's dump exactly; retort's own dump must load and dump again identically;
//! and a revision carrying the same content upgrades and downgrades cleanly.

use std::process::Command;

use crate::support::{pg_program, write_revision, Project, Rev, Run, TestDb};

/// A schema with every kind of hostile name and content.
const HOSTILE: &str = r#"
CREATE SCHEMA "we""ird sch.ema";
CREATE TYPE "we""ird sch.ema"."Mood $$" AS ENUM ('ha;ppy', 'sa''d', '$$', '-- migrate:downgrade');
CREATE DOMAIN "we""ird sch.ema"."pos int" AS int CHECK (VALUE > 0);
CREATE TABLE "we""ird sch.ema"."Table ""One"".x" (
    "id" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    "select" text DEFAULT ';--',
    "ÜñïcødéÄ表" text,
    "UPPER" "we""ird sch.ema"."Mood $$",
    "sp ace" "we""ird sch.ema"."pos int" CHECK ("sp ace" < 1000),
    "$$" text DEFAULT '$$ -- migrate:upgrade',
    "user" text UNIQUE
);
CREATE INDEX "idx ""q"" ;" ON "we""ird sch.ema"."Table ""One"".x" ("select", "ÜñïcødéÄ表");
COMMENT ON TABLE "we""ird sch.ema"."Table ""One"".x" IS 'it''s; -- migrate:downgrade $$ /* no */';
COMMENT ON COLUMN "we""ird sch.ema"."Table ""One"".x"."select" IS E'line one\n-- migrate:downgrade\nline three';
CREATE VIEW "we""ird sch.ema"."view.v" AS
    SELECT "select", "$$", "UPPER" FROM "we""ird sch.ema"."Table ""One"".x" WHERE "select" <> ';';
CREATE FUNCTION "we""ird sch.ema"."f$$"(a int) RETURNS text LANGUAGE sql
    AS $f$ SELECT 'a;$$' || a::text || '
-- migrate:upgrade
' $f$;
CREATE FUNCTION "we""ird sch.ema"."trig fn"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW."select" := coalesce(NEW."select", ';');  -- a comment; with a semicolon
    RETURN NEW;
END
$$;
CREATE TRIGGER "Trig;ger" BEFORE INSERT ON "we""ird sch.ema"."Table ""One"".x"
    FOR EACH ROW EXECUTE FUNCTION "we""ird sch.ema"."trig fn"();
CREATE TABLE public."user" ("table" int PRIMARY KEY, "order" text, "Group" int REFERENCES public."user" ("table"));
CREATE TABLE public.a_name_of_exactly_sixty_three_bytes_long_enough_to_fill_it_xyz (id int);
CREATE TABLE public.a_name_of_more_than_sixty_three_bytes_which_postgres_truncates_silently (id int);
CREATE SEQUENCE public."Seq.uence ""s""" START 42;
"#;

fn psql_file(url: &str, sql: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("script.sql");
    std::fs::write(&file, sql).expect("write the script");
    let output = Command::new(pg_program("psql"))
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f"])
        .arg(&file)
        .output()
        .expect("psql");
    assert!(
        output.status.success(),
        "psql failed: {}\n--- script ---\n{sql}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn dump(project: &Project, db: &TestDb) -> String {
    project
        .run(&["--database-url", &db.url, "dump-schema"])
        .ok()
        .stdout
}

fn diff(project: &Project, from: &TestDb, to: &TestDb) -> Run {
    project.run(&["diff", "--from", &from.url, "--to", &to.url])
}

#[test]
fn hostile_names_survive_diff_apply_and_dump_in_both_directions() {
    let project = Project::new();
    let hostile = TestDb::new("hostile_src");
    let empty = TestDb::new("hostile_dst");
    psql_file(&hostile.url, HOSTILE);
    let target = dump(&project, &hostile);
    // Truncated to 63 bytes by PostgreSQL, read back as such.
    assert!(
        target.contains("a_name_of_more_than_sixty_three_bytes_which_postgres_truncates_"),
        "{target}"
    );

    // Empty → hostile: the rendered SQL, applied by psql, gives the same schema.
    let up = diff(&project, &empty, &hostile).ok().stdout;
    psql_file(&empty.url, &up);
    assert_eq!(dump(&project, &empty), target, "after applying:\n{up}");
    let again = diff(&project, &empty, &hostile).ok().stdout;
    assert!(
        !again.contains("CREATE") && !again.contains("DROP"),
        "{again}"
    );

    // Hostile → empty: everything dropped, nothing left.
    let fresh = TestDb::new("hostile_empty");
    let down = diff(&project, &empty, &fresh).ok().stdout;
    psql_file(&empty.url, &down);
    assert_eq!(
        dump(&project, &empty),
        dump(&project, &fresh),
        "after:\n{down}"
    );

    // retort's own dump loads with psql and dumps again identically.
    let loaded = TestDb::new("hostile_loaded");
    psql_file(&loaded.url, &target);
    assert_eq!(dump(&project, &loaded), target);
}

#[test]
fn a_revision_holding_hostile_content_upgrades_and_downgrades_cleanly() {
    let project = Project::new();
    let db = TestDb::new("hostile_revision");
    // The hostile schema as one revision, undone by dropping what it made.
    write_revision(
        &project.versions(),
        &Rev {
            number: 1,
            parents: &[],
            message: "hostile",
            upgrade: HOSTILE,
            downgrade: Some(
                "DROP SCHEMA \"we\"\"ird sch.ema\" CASCADE;\nDROP TABLE public.\"user\";\n\
                 DROP TABLE public.a_name_of_exactly_sixty_three_bytes_long_enough_to_fill_it_xyz;\n\
                 DROP TABLE public.a_name_of_more_than_sixty_three_bytes_which_postgres_truncates_silently;\n\
                 DROP SEQUENCE public.\"Seq.uence \"\"s\"\"\";",
            ),
            non_transactional: false,
        },
    );
    let run = |args: &[&str]| project.run_on(&db, args);
    // Every marker-looking line sits inside a literal or a body: one upgrade section.
    run(&["upgrade"]).ok();
    assert_eq!(
        db.texts("SELECT \"we\"\"ird sch.ema\".\"f$$\"(7)"),
        ["a;$$7\n-- migrate:upgrade\n"]
    );
    run(&["downgrade", "base"]).ok();
    assert!(db
        .texts("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'we%'")
        .is_empty());
    // And test-migration proves it reversible in place.
    let tested = run(&["test-migration", "--each"]).ok();
    assert!(tested.stdout.contains("1 ok"), "{}", tested.stdout);
}
