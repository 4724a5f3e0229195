//! Schemas: the imported chain upgraded and downgraded one revision at a time gives the
//! schema the tool gives at each migration.

use super::fixtures::{rt, Runner, Spec};
use super::project::Project;
use super::tool_side::{apply_tool_step, AlembicEnv};
use crate::support::TestDb;

/// `retort dump-schema` of the database at `url`, without the blocks that name
/// `tool_table` (the tool's version table, its sequence and index): the chain does not
/// create it. retort leaves its own tables out by itself.
pub(super) fn dump(url: &str, tool_table: &str) -> String {
    let tmp = tempfile::tempdir().expect("temp dir");
    let run = rt(tmp.path(), &["--database-url", url, "dump-schema"]).ok();
    run.stdout
        .split("\n\n")
        .filter(|block| !block.contains(tool_table))
        .map(str::trim)
        .filter(|block| !block.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Whether `upgrade`/`downgrade` said it ran exactly one revision (`verb`: applied,
/// reverted).
pub(super) fn ran_one(stdout: &str, verb: &str) -> bool {
    let summary = format!("1 revision(s) {verb} ");
    stdout.lines().any(|line| line.starts_with(&summary))
}

#[track_caller]
pub(super) fn assert_same_schema(what: &str, tool: &str, ours: &str) {
    if tool != ours {
        panic!(
            "{what}: the schemas differ\n--- the tool's\n{tool}\n--- the imported chain's\n{ours}\n"
        );
    }
}

/// The tool's schema after each step (dumps[i]: after steps[0..=i]), built in a fresh
/// database the way the tool runs its migrations.
pub(super) fn tool_dumps(spec: &Spec) -> Vec<String> {
    let db = TestDb::new("import_tool");
    let alembic = (spec.runner == Runner::Alembic).then(|| AlembicEnv::new(&db.url));
    spec.steps
        .iter()
        .map(|step| {
            apply_tool_step(spec, step, &db.url, alembic.as_ref());
            dump(&db.url, spec.table)
        })
        .collect()
}

/// In a fresh database, the imported chain upgraded one revision at a time in the
/// import's order gives the tool's schema after every step; then it is downgraded
/// (step by step for a line, stopping with an error at an irreversible revision; to
/// base for a graph) and gives the tool's schema on the way down, and an empty schema
/// at base.
pub(super) fn replay(spec: &Spec, project: &Project, tool: &[String]) {
    let db = TestDb::new("import_chain");
    let empty = {
        let fresh = TestDb::new("import_empty");
        dump(&fresh.url, spec.table)
    };
    let index = |source: &str| {
        spec.steps
            .iter()
            .position(|s| s.source == source)
            .expect("a step of the spec")
    };
    // The tool's dumps were taken in the spec's order; the chain goes in the import's.
    // For the graphs these must be the same order for the comparison to hold.
    let order: Vec<usize> = project.revisions.iter().map(|r| index(&r.source)).collect();
    assert_eq!(
        order,
        (0..spec.steps.len()).collect::<Vec<_>>(),
        "the import's order (parents and dependencies first) is the order Alembic ran: {:?}",
        project
            .revisions
            .iter()
            .map(|r| &r.source)
            .collect::<Vec<_>>()
    );
    for (i, r) in project.revisions.iter().enumerate() {
        let up = project.run(&db.url, &["upgrade", &r.revision]).ok();
        assert!(
            ran_one(&up.stdout, "applied"),
            "upgrade {} ({} {}) runs that one revision: {}",
            r.revision,
            spec.tool,
            r.source,
            up.stdout
        );
        assert_same_schema(
            &format!("after {} {} ({})", spec.tool, r.source, r.revision),
            &tool[i],
            &dump(&db.url, spec.table),
        );
    }
    assert_eq!(
        project.heads(&db.url),
        vec![project
            .revisions
            .last()
            .expect("revisions")
            .revision
            .clone()]
    );

    if spec.runner == Runner::Alembic {
        project.run(&db.url, &["downgrade", "base"]).ok();
        assert_same_schema("after downgrade base", &empty, &dump(&db.url, spec.table));
        return;
    }
    for i in (0..project.revisions.len()).rev() {
        let (target, expected) = if i == 0 {
            ("base".to_owned(), &empty)
        } else {
            (project.revisions[i - 1].revision.clone(), &tool[i - 1])
        };
        let at = &project.revisions[i];
        let down = project.run(&db.url, &["downgrade", &target]);
        if !spec.steps[i].reversible {
            assert_ne!(
                down.code, 0,
                "downgrade through irreversible {} {} refused\nstdout:\n{}",
                spec.tool, at.source, down.stdout
            );
            assert!(
                down.stderr.contains("irreversible"),
                "the refusal says why: {}",
                down.stderr
            );
            assert_eq!(project.heads(&db.url), vec![at.revision.clone()]);
            assert_same_schema(
                &format!("after the refused downgrade below {}", at.source),
                &tool[i],
                &dump(&db.url, spec.table),
            );
            return;
        }
        let down = down.ok();
        assert!(
            ran_one(&down.stdout, "reverted"),
            "downgrade to {target}: {}",
            down.stdout
        );
        assert_same_schema(
            &format!("after downgrading {} {} to {target}", spec.tool, at.source),
            expected,
            &dump(&db.url, spec.table),
        );
    }
}
