//! `retort import TOOL SOURCE` and `stamp --from-tool TOOL`: each tool's history in
//! tests/fixtures/import/TOOL (written for these tests) becomes a chain whose every
//! revision gives the schema the tool itself gives at that migration, and a database the
//! tool manages is adopted from the tool's own version table.
//!
//! The oracle is the tool's own way of running its files: psql for the SQL-file tools
//! (one transaction per migration unless the tool's marker says otherwise; a
//! golang-migrate file as one query string, as its driver sends it), and Alembic itself
//! (online, from the venv of scripts/python-tools.sh named by `RETORT_TEST_PYTHON`).

mod fixtures;
mod project;
mod replay;
mod stamp;
mod tool_side;

use std::path::Path;

use serde_json::Value;

use crate::support::TestDb;
use fixtures::{
    fixture, rt, test_python, Spec, ALEMBIC, DBMATE, EMAIL, FLYWAY, GOLANG_MIGRATE, GOOSE, MERGE,
    PROJECTS, ROOT, SQLX,
};
use project::{check_files, import_into, Project};
use replay::{replay, tool_dumps};
use stamp::stamp_next_to_last;

/// Import, the step-by-step replay with downgrades, and the stamp of a database at the
/// next-to-last migration.
fn import_replay_and_stamp(spec: &Spec, source: &Path, extra: &[&str]) -> Project {
    let project = Project::import(spec.tool, source, extra);
    check_files(spec, &project);
    let tool = tool_dumps(spec);
    replay(spec, &project, &tool);
    stamp_next_to_last(spec, &project, &tool);
    project
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

#[test]
fn flyway_history_imports_in_version_order_and_replays() {
    let project = import_replay_and_stamp(&FLYWAY, &fixture("flyway"), &[]);
    // The repeatable migration is not a revision: reported, not blocking.
    let repeatable: Vec<&Value> = project
        .notes
        .iter()
        .filter(|n| {
            n["origin"]
                .as_str()
                .unwrap_or("")
                .contains("R__refresh_view.sql")
        })
        .collect();
    assert_eq!(
        repeatable.len(),
        1,
        "one note on the repeatable: {:?}",
        project.notes
    );
    assert_eq!(repeatable[0]["blocking"], Value::Bool(false));
    // Text output reports it on stderr; a second import into the same versions dir
    // refuses (exit 2) and leaves it alone.
    let tmp = tempfile::tempdir().expect("temp dir");
    let versions = tmp.path().join("versions");
    let text = import_into(
        tmp.path(),
        &versions,
        "flyway",
        &fixture("flyway"),
        &[],
        false,
    )
    .ok();
    assert!(
        text.stderr.contains("R__refresh_view.sql"),
        "{}",
        text.stderr
    );
    let before = std::fs::read_dir(&versions).expect("versions").count();
    import_into(
        tmp.path(),
        &versions,
        "flyway",
        &fixture("flyway"),
        &[],
        false,
    )
    .fails_with(2);
    assert_eq!(
        std::fs::read_dir(&versions).expect("versions").count(),
        before
    );
}

#[test]
fn dbmate_history_imports_and_replays() {
    import_replay_and_stamp(&DBMATE, &fixture("dbmate"), &[]);
}

#[test]
fn golang_migrate_history_imports_and_replays() {
    import_replay_and_stamp(&GOLANG_MIGRATE, &fixture("golang-migrate"), &[]);
}

#[test]
fn goose_history_imports_and_replays() {
    import_replay_and_stamp(&GOOSE, &fixture("goose"), &[]);
}

#[test]
fn sqlx_history_imports_and_replays() {
    import_replay_and_stamp(&SQLX, &fixture("sqlx"), &[]);
}

#[test]
fn alembic_history_imports_with_its_merge_and_dependency_and_replays() {
    let python = test_python();
    let ini = fixture("alembic").join("alembic.ini");
    let project = import_replay_and_stamp(&ALEMBIC, &ini, &["--python", python.as_str()]);
    let id = |source: &str| project.by_source(source).revision.clone();
    // The merge keeps both parents; the dependency is a dependency, not a parent.
    let merge = project.by_source(MERGE);
    let mut parents = merge.ids("down_revision");
    parents.sort();
    let mut want = vec![id(PROJECTS), id(EMAIL)];
    want.sort();
    assert_eq!(parents, want, "{}", merge.text);
    let email = project.by_source(EMAIL);
    assert_eq!(email.ids("down_revision"), vec![id(ROOT)], "{}", email.text);
    assert_eq!(
        email.ids("depends_on"),
        vec![id(PROJECTS)],
        "{}",
        email.text
    );
    let projects = project.by_source(PROJECTS);
    assert_eq!(projects.ids("down_revision"), vec![id(ROOT)]);
    assert!(project.by_source(ROOT).ids("down_revision").is_empty());
    // The directory holding alembic.ini names the same project.
    let again = Project::import(
        "alembic",
        &fixture("alembic"),
        &["--python", python.as_str()],
    );
    let mut sources: Vec<&str> = again.revisions.iter().map(|r| r.source.as_str()).collect();
    sources.sort();
    let mut want: Vec<&str> = ALEMBIC.steps.iter().map(|s| s.source).collect();
    want.sort();
    assert_eq!(sources, want);
}

/// A copy of the fixture of `tool` in a temp dir, with `extra` files (name, text) added.
fn fixture_copy(tool: &str, extra: &[(&str, &str)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(fixture(tool)).expect("fixture dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), tmp.path().join(entry.file_name())).expect("copy fixture");
    }
    for (name, text) in extra {
        std::fs::write(tmp.path().join(name), text).expect("write extra file");
    }
    tmp
}

#[test]
fn a_malformed_file_is_named_with_its_line_and_nothing_is_written() {
    let source = fixture_copy(
        "goose",
        &[(
            "00006_broken.sql",
            "-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int\n\
             LANGUAGE sql AS $$ SELECT 1 $$;\n\n-- +goose Down\nDROP FUNCTION f();\n",
        )],
    );
    let tmp = tempfile::tempdir().expect("temp dir");
    let versions = tmp.path().join("versions");
    let run = import_into(tmp.path(), &versions, "goose", source.path(), &[], false).fails_with(2);
    let named = run
        .stderr
        .split("00006_broken.sql:")
        .nth(1)
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
    assert!(named, "names file:line: {}", run.stderr);
    let written = std::fs::read_dir(&versions).map(|d| d.count()).unwrap_or(0);
    assert_eq!(written, 0, "nothing written on bad input");
}

#[test]
fn an_unconvertible_migration_is_written_to_refuse_and_exits_1() {
    // A goose Go migration: retort cannot run Go, so the revision is written with an
    // upgrade that refuses to run until someone writes its SQL.
    let source = fixture_copy(
        "goose",
        &[(
            "00006_backfill_names.go",
            "package migrations\n\nimport (\n\t\"context\"\n\t\"database/sql\"\n\n\t\
             \"github.com/pressly/goose/v3\"\n)\n\nfunc init() {\n\t\
             goose.AddMigrationContext(upBackfillNames, downBackfillNames)\n}\n\n\
             func upBackfillNames(ctx context.Context, tx *sql.Tx) error {\n\t\
             _, err := tx.ExecContext(ctx, \"UPDATE users SET name = trim(name)\")\n\t\
             return err\n}\n\nfunc downBackfillNames(ctx context.Context, tx *sql.Tx) error {\n\t\
             return nil\n}\n",
        )],
    );
    let tmp = tempfile::tempdir().expect("temp dir");
    let versions = tmp.path().join("versions");
    let run = import_into(tmp.path(), &versions, "goose", source.path(), &[], true).fails_with(1);
    let json = run.json();
    let revisions = json["revisions"].as_array().expect("revisions");
    assert_eq!(revisions.len(), 6, "{json}");
    let blocking: Vec<&Value> = json["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .filter(|n| n["blocking"] == Value::Bool(true))
        .collect();
    assert!(
        blocking.iter().any(|n| n["origin"]
            .as_str()
            .unwrap_or("")
            .contains("00006_backfill_names.go")),
        "a blocking note on the Go migration: {json}"
    );
    let last = revisions.last().expect("a revision");
    assert_eq!(last["source"], "6", "{json}");
    let text = std::fs::read_to_string(last["path"].as_str().expect("path")).expect("revision");
    assert!(text.contains("DO"), "a refusing DO block:\n{text}");
    let dir = tmp.path();
    let versions = versions.to_str().expect("utf-8 path");
    rt(dir, &["--versions", versions, "verify", "--files"]).ok();
    // The five SQL migrations run; the sixth refuses.
    let db = TestDb::new("import_refuse");
    let up = rt(
        dir,
        &["--versions", versions, "--database-url", &db.url, "upgrade"],
    );
    assert_ne!(up.code, 0, "the unconverted revision refuses to run");
    let current = rt(
        dir,
        &[
            "--versions",
            versions,
            "--database-url",
            &db.url,
            "--json",
            "current",
        ],
    )
    .ok();
    let heads = current.json()["heads"].clone();
    assert_eq!(
        heads[0]["revision"], revisions[4]["revision"],
        "at the fifth: {}\n{}",
        current.stdout, up.stderr
    );
}
