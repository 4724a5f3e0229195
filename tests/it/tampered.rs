//! Version tables edited by hand: `current` warns, `verify` fails (exit 1), and a run
//! refuses (exit 3) whenever it would apply a revision again or plan from a wrong head,
//! each time saying what disagrees and which command settles it. Nothing is repaired
//! silently.

use crate::support::{rev_id, table_chain, Project, Run, TestDb};

fn run(project: &Project, db: &TestDb, args: &[&str]) -> Run {
    project.run_on(db, args)
}

/// Three revisions, each creating a table, applied.
fn applied_chain(project: &Project, db: &TestDb) -> Vec<String> {
    let ids = table_chain(project, 3, "");
    run(project, db, &["upgrade"]).ok();
    ids
}

fn history_rows(db: &TestDb) -> usize {
    db.texts("SELECT count(*)::text FROM retort_history")[0]
        .parse()
        .expect("a count")
}

#[test]
fn a_version_row_set_back_by_hand_is_named_and_blocks_runs() {
    let project = Project::new();
    let db = TestDb::new("tampered_back");
    let ids = applied_chain(&project, &db);
    db.execute(&format!(
        "UPDATE retort_version SET revision = '{}'",
        ids[0]
    ))
    .expect("tamper");
    let rows = history_rows(&db);

    let current = run(&project, &db, &["current"]).ok();
    assert!(
        current.stderr.contains(&format!(
            "warning: the history records {}, {} as applied, but public.retort_version does not",
            ids[1], ids[2]
        )),
        "{}",
        current.stderr
    );
    let json = run(&project, &db, &["current", "--json"]).ok().json();
    assert_eq!(json["findings"][0]["kind"], "history_ahead");

    let verify = run(&project, &db, &["verify"]).fails_with(1);
    assert!(
        verify.stderr.contains("retort stamp --purge REV"),
        "{}",
        verify.stderr
    );

    // An upgrade would create t2 and t3 a second time: it refuses before running any.
    let upgrade = run(&project, &db, &["upgrade"]).fails_with(3);
    assert!(
        upgrade.stderr.contains("edited by hand, so nothing ran"),
        "{}",
        upgrade.stderr
    );
    assert_eq!(history_rows(&db), rows, "nothing ran");

    // The human settles it: the schema is at the third revision.
    run(&project, &db, &["stamp", "--purge", "--force", &ids[2]]).ok();
    run(&project, &db, &["verify"]).ok();
    let upgrade = run(&project, &db, &["upgrade"]).ok();
    assert!(!upgrade.stdout.contains("upgraded"), "{}", upgrade.stdout);
}

#[test]
fn a_head_row_added_below_the_head_is_named() {
    let project = Project::new();
    let db = TestDb::new("tampered_heads");
    let ids = applied_chain(&project, &db);
    db.execute(&format!(
        "INSERT INTO retort_version (revision) VALUES ('{}')",
        ids[0]
    ))
    .expect("tamper");
    let verify = run(&project, &db, &["verify"]).fails_with(1);
    assert!(
        verify.stderr.contains(&format!(
            "records both {} and {}, which builds on it",
            ids[0], ids[2]
        )),
        "{}",
        verify.stderr
    );
    run(&project, &db, &["downgrade", "-1"]).fails_with(3);
    assert_eq!(
        db.texts("SELECT count(*)::text FROM information_schema.tables WHERE table_name = 't3'"),
        ["1"],
        "nothing was downgraded"
    );
}

#[test]
fn deleted_history_rows_fail_verify_but_do_not_block_runs() {
    let project = Project::new();
    let db = TestDb::new("tampered_history");
    let ids = applied_chain(&project, &db);
    db.execute(&format!(
        "DELETE FROM retort_history WHERE revision = '{}'",
        ids[1]
    ))
    .expect("tamper");
    let verify = run(&project, &db, &["verify"]).fails_with(1);
    assert!(
        verify.stderr.contains(&format!(
            "the version rows imply {} as applied, but public.retort_history never recorded it",
            ids[1]
        )),
        "{}",
        verify.stderr
    );
    // The version rows are right about what is applied: runs go on.
    run(&project, &db, &["downgrade", "-1"]).ok();
    run(&project, &db, &["upgrade"]).ok();
}

#[test]
fn stamp_purge_below_the_head_keeps_history_and_rows_agreeing() {
    let project = Project::new();
    let db = TestDb::new("tampered_purge");
    let ids = applied_chain(&project, &db);
    run(&project, &db, &["stamp", "--purge", "--force", &ids[0]]).ok();
    // What the history recorded as applied and the target leaves out is unstamped.
    let mut last = db
        .texts("SELECT direction || ' ' || revision FROM retort_history ORDER BY id DESC LIMIT 2");
    last.sort();
    assert_eq!(
        last,
        [format!("unstamp {}", ids[1]), format!("unstamp {}", ids[2])]
    );
    run(&project, &db, &["verify"]).ok();
}

#[test]
fn unknown_revisions_and_other_tools_tables_are_named() {
    let project = Project::new();
    let db = TestDb::new("tampered_unknown");
    applied_chain(&project, &db);
    // Another tool's version table: a note, not a failure.
    db.execute("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
        .expect("alembic's table");
    let verify = run(&project, &db, &["verify"]).ok();
    assert!(
        verify
            .stderr
            .contains("this database also has public.alembic_version"),
        "{}",
        verify.stderr
    );
    // A version row naming a revision no file has.
    let stranger = rev_id(9);
    db.execute(&format!(
        "INSERT INTO retort_version (revision) VALUES ('{stranger}')"
    ))
    .expect("tamper");
    let current = run(&project, &db, &["current"]).fails_with(2);
    assert!(
        current.stderr.contains(&stranger) && current.stderr.contains("stamp REV --purge"),
        "{}",
        current.stderr
    );
}
