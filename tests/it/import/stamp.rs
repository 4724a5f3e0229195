//! `stamp --from-tool TOOL`: a database the tool manages is adopted from the tool's own
//! version table, and refused when that table or the schema says it cannot be.

use super::fixtures::{fixture, Spec, DBMATE, FLYWAY, GOLANG_MIGRATE, GOOSE, SQLX};
use super::project::Project;
use super::replay::{assert_same_schema, dump, ran_one};
use super::tool_side::tool_database;
use crate::support::{admin_url, Run, TestDb};

fn stamp_from_tool(project: &Project, url: &str, tool: &str, extra: &[&str]) -> Run {
    let mut args = vec!["stamp", "--from-tool", tool, "--scratch-url", admin_url()];
    args.extend_from_slice(extra);
    project.run(url, &args)
}

fn row_count(db: &TestDb, table: &str) -> String {
    db.texts(&format!("SELECT count(*)::text FROM \"{table}\""))
        .remove(0)
}

/// A database the tool brought to its next-to-last migration: `stamp --from-tool`
/// records the matching revision, the next `upgrade` runs exactly the last one and
/// gives the tool's final schema, and the tool's table is left as it was.
pub(super) fn stamp_next_to_last(spec: &Spec, project: &Project, tool: &[String]) {
    let n = spec.steps.len();
    let db = tool_database(spec, n - 1, spec.table);
    let rows = row_count(&db, spec.table);
    let stamped = stamp_from_tool(project, &db.url, spec.tool, &[]).ok();
    let at = project.by_source(spec.steps[n - 2].source);
    assert_eq!(
        project.heads(&db.url),
        vec![at.revision.clone()],
        "stamped at {} {}: {}",
        spec.tool,
        at.source,
        stamped.stderr
    );
    let up = project.run(&db.url, &["upgrade"]).ok();
    assert!(
        ran_one(&up.stdout, "applied"),
        "only the last revision runs: {}",
        up.stdout
    );
    let last = project.by_source(spec.steps[n - 1].source);
    assert_eq!(project.heads(&db.url), vec![last.revision.clone()]);
    assert_same_schema(
        "the stamped database after upgrade",
        &tool[n - 1],
        &dump(&db.url, spec.table),
    );
    assert_eq!(
        row_count(&db, spec.table),
        rows,
        "the tool's table is untouched"
    );
}

#[test]
fn stamp_from_tool_refuses_a_dirty_or_failed_or_unknown_version() {
    // golang-migrate: a migration that failed half-way leaves `dirty`.
    let gm = Project::import("golang-migrate", &fixture("golang-migrate"), &[]);
    let db = tool_database(&GOLANG_MIGRATE, 4, "schema_migrations");
    db.execute("UPDATE schema_migrations SET dirty = true")
        .expect("dirty");
    let refused = stamp_from_tool(&gm, &db.url, "golang-migrate", &[]).fails_with(2);
    assert!(refused.stderr.contains("dirty"), "{}", refused.stderr);
    assert_eq!(gm.heads(&db.url), Vec::<String>::new());

    // flyway: the last row records a failed migration.
    let fly = Project::import("flyway", &fixture("flyway"), &[]);
    let db = tool_database(&FLYWAY, 3, "flyway_schema_history");
    db.execute(
        "INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, \
         checksum, installed_by, execution_time, success) \
         VALUES (4, '3', 'status', 'SQL', 'V3__status.sql', 1, 'postgres', 5, false)",
    )
    .expect("failed row");
    let refused = stamp_from_tool(&fly, &db.url, "flyway", &[]).fails_with(2);
    assert!(
        refused.stderr.contains("fail"),
        "names the failed migration: {}",
        refused.stderr
    );

    // goose: a version the imported chain does not have.
    let goose = Project::import("goose", &fixture("goose"), &[]);
    let db = tool_database(&GOOSE, 5, "goose_db_version");
    db.execute("INSERT INTO goose_db_version (version_id, is_applied) VALUES (99, true)")
        .expect("unknown version");
    let refused = stamp_from_tool(&goose, &db.url, "goose", &[]).fails_with(2);
    assert!(refused.stderr.contains("99"), "{}", refused.stderr);
    assert_eq!(goose.heads(&db.url), Vec::<String>::new());

    // sqlx: a migration recorded as failed.
    let sqlx = Project::import("sqlx", &fixture("sqlx"), &[]);
    let db = tool_database(&SQLX, 2, "_sqlx_migrations");
    db.execute(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (20240103000000, 'users name index', false, '\\x00', 1)",
    )
    .expect("failed row");
    stamp_from_tool(&sqlx, &db.url, "sqlx", &[]).fails_with(2);
}

#[test]
fn stamp_from_tool_refuses_a_missing_table_and_a_schema_that_differs() {
    // No version table: the tool never ran here (or under another name).
    let dbmate = Project::import("dbmate", &fixture("dbmate"), &[]);
    let db = tool_database(&DBMATE, 3, "dbmate_versions");
    let refused = stamp_from_tool(&dbmate, &db.url, "dbmate", &[]).fails_with(2);
    assert!(
        refused.stderr.contains("schema_migrations"),
        "names the table it looked for: {}",
        refused.stderr
    );
    // --tool-table names it.
    stamp_from_tool(
        &dbmate,
        &db.url,
        "dbmate",
        &["--tool-table", "public.dbmate_versions"],
    )
    .ok();
    assert_eq!(
        dbmate.heads(&db.url),
        vec![dbmate.by_source(DBMATE.steps[2].source).revision.clone()]
    );

    // The table says 4 but someone dropped a column: not the chain's schema at 4.
    let db = tool_database(&DBMATE, 4, "schema_migrations");
    db.execute("ALTER TABLE users DROP COLUMN email")
        .expect("drift");
    let refused = stamp_from_tool(&dbmate, &db.url, "dbmate", &[]).fails_with(1);
    assert!(
        refused.stdout.contains("email") || refused.stderr.contains("email"),
        "shows the difference\nstdout:\n{}\nstderr:\n{}",
        refused.stdout,
        refused.stderr
    );
    assert_eq!(dbmate.heads(&db.url), Vec::<String>::new());
    // --force records it anyway.
    stamp_from_tool(&dbmate, &db.url, "dbmate", &["--force"]).ok();
    assert_eq!(
        dbmate.heads(&db.url),
        vec![dbmate.by_source(DBMATE.steps[3].source).revision.clone()]
    );

    // The same for goose, whose table keeps a row per migration.
    let goose = Project::import("goose", &fixture("goose"), &[]);
    let db = tool_database(&GOOSE, 3, "goose_db_version");
    db.execute("ALTER TABLE users DROP COLUMN updated_at CASCADE")
        .expect("drift");
    stamp_from_tool(&goose, &db.url, "goose", &[]).fails_with(1);
}
