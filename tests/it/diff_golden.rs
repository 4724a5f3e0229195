//! Golden tests of the SQL the diff engine generates, one case per directory:
//!
//! ```text
//! tests/fixtures/diff/<case>/from.sql   DDL of the starting schema
//! tests/fixtures/diff/<case>/to.sql     DDL of the target schema
//! tests/fixtures/diff/<case>/up.sql     expected to_script(render(diff(from, to)))
//! tests/fixtures/diff/<case>/down.sql   expected to_script(render(diff(to, from)))
//! ```
//!
//! For each case, `from.sql` and `to.sql` are loaded into two fresh databases and
//! inspected; the up and down scripts are generated and compared with `up.sql` and
//! `down.sql` (a mismatch fails with a unified diff). Then the scripts are proven on the
//! server: up is applied statement by statement to the `from` database, whose dump must
//! then equal the `to` dump (with each table's columns sorted by name, as in
//! `diff_property`: a migration can only add columns at the end) and diff again to
//! nothing; down is applied after it and must give the `from` dump back. A statement
//! carrying an `Unsupported` hazard fails the case: golden scripts are complete.
//!
//! `RETORT_BLESS=1 cargo nextest run diff_golden` writes `up.sql` and `down.sql` from the
//! current engine instead of comparing (the server checks still run). Read the changed
//! scripts before committing them: they are the reviewed expectation. Where a major
//! prints differently (view definitions from 16, extension versions), its expectation
//! is `up.pgN.sql` beside `up.sql` (`support::golden`); blessing on that major writes it.
//!
//! A case may hold a `renames` file: `--rename` specs, one per line, applied up (and
//! inverted down).
//!
//! A case whose scripts hold manual steps (`ManualStep` hazards: a type change with no
//! cast) needs a `manual` file with the statement a user would write for each, in
//! order, as `up: SQL` or `down: SQL` lines. Each generated manual step must carry the
//! `-- retort: manual step:` marker and fail on the server as generated (so that an
//! unedited revision cannot apply); the hand-written statement is then applied in its
//! place and the case goes on as any other. A manual step without its line, or a line
//! without its step, fails the case.
//!
//! Every directory under `tests/fixtures/diff` must be listed in `golden!` below (and
//! the other way round), so a fixture cannot be forgotten. A case that exposes an engine
//! bug not fixed yet can wait in `tests/fixtures/diff-pending/<case>` (with a README
//! saying what fails), outside the list.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use retort::catalog::{self, InspectOptions, Schema, Tracker};
use retort::diff;
use tokio_postgres::Client;

use crate::support::{connect, dump_sorted, golden, inspect, repo_root, TestDb};

/// One `#[test]` per case (so they run in parallel), and `CASES` listing them all.
macro_rules! golden {
    ($($case:ident),* $(,)?) => {
        const CASES: &[&str] = &[$(stringify!($case)),*];
        $(
            #[test]
            fn $case() {
                run_case(stringify!($case));
            }
        )*
    };
}

golden!(
    schema_add_drop,
    extension_add_drop,
    enum_add_value,
    enum_recreate,
    sequence_add_alter,
    function_changes,
    table_add_drop,
    column_changes,
    identity_columns,
    constraint_changes,
    index_changes,
    view_column_type_change,
    trigger_function,
    rls_policies,
    comments,
    quoting,
    key_widening_with_fk,
    domain_changes,
    composite_type_changes,
    range_type,
    collation,
    cast,
    materialized_view,
    statistics,
    rules,
    event_trigger,
    foreign_data,
    publication_pg15,
    table_properties,
    enum_to_other_enum,
    rename_table,
    rename_column,
    rename_index_constraint,
    rename_type,
    sequence_owner_moves_off_dropped_column,
    function_return_type_used_by_default,
    enum_recreate_partial_index,
    enum_recreate_function_argument,
    enum_recreate_with_dependent_types,
    column_type_manual_step,
    column_type_cast_paths,
    partitions_new,
    partition_add_drop,
    fk_after_unique_index,
    function_reads_table,
    objects_over_objects,
    drop_with_dependents,
    partition_parent_columns,
    fk_to_replaced_table,
    keyword_identifiers,
    nulls_not_distinct_pg15,
    security_invoker_view_pg15,
    generated_virtual_pg18,
    not_null_constraints_pg18,
    enforcement_and_temporal_keys_pg18,
);

/// What the tracker reads: everything, owners and grants too.
fn tracked_options() -> InspectOptions {
    InspectOptions {
        grants: true,
        owners: true,
        ..InspectOptions::default()
    }
}

fn fixtures() -> PathBuf {
    repo_root().join("tests/fixtures/diff")
}

fn blessing() -> bool {
    std::env::var("RETORT_BLESS").is_ok_and(|v| v == "1")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The server's message for a failed statement, with its detail and hint.
fn server_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut message = format!("{}: {}", db.code().code(), db.message());
            if let Some(detail) = db.detail() {
                message.push_str(&format!("\nDETAIL: {detail}"));
            }
            if let Some(hint) = db.hint() {
                message.push_str(&format!("\nHINT: {hint}"));
            }
            message
        }
        None => e.to_string(),
    }
}

struct Case {
    name: &'static str,
    dir: PathBuf,
}

impl Case {
    fn fail(&self, what: &str, detail: &str) -> ! {
        panic!("diff golden case {}: {what}\n{detail}", self.name)
    }

    /// Compares `script` with the expected file, or writes it when blessing.
    fn check_script(&self, file: &str, script: &str) {
        if blessing() {
            golden::bless(&self.dir.join(file), script);
            return;
        }
        let path = golden::golden_path(&self.dir.join(file));
        let Ok(expected) = std::fs::read_to_string(&path) else {
            self.fail(
                &format!("{file} is missing; rerun with RETORT_BLESS=1 to accept"),
                &format!("---- generated {file} ----\n{script}"),
            );
        };
        if let Some(d) = catalog::diff_dumps(
            &expected,
            script,
            &format!("{file} (expected)"),
            &format!("{file} (generated)"),
        ) {
            self.fail(
                &format!(
                    "the generated {file} differs from the fixture; rerun with RETORT_BLESS=1 \
                     to accept"
                ),
                &d,
            );
        }
    }

    /// The hand-written statements of the `manual` file for `what` (`up` or `down`).
    fn manual_steps(&self, what: &str) -> Vec<String> {
        let text = std::fs::read_to_string(self.dir.join("manual")).unwrap_or_default();
        let prefix = format!("{what}:");
        text.lines()
            .filter_map(|l| l.strip_prefix(prefix.as_str()))
            .map(|l| l.trim().to_string())
            .collect()
    }

    /// Applies `statements` one by one; the first failure names the statement. A manual
    /// step must fail as generated; the `manual` file's statement replaces it. After
    /// each statement `tracker` inspects again, checked against a whole inspection.
    async fn apply(
        &self,
        client: &Client,
        tracker: &mut Tracker,
        statements: &[diff::Statement],
        what: &str,
    ) {
        let mut manual = self.manual_steps(what).into_iter();
        for statement in statements {
            let is_manual = statement
                .hazards
                .iter()
                .any(|h| h.kind == diff::HazardKind::ManualStep);
            if is_manual {
                if !statement.sql.contains(diff::MANUAL_STEP) {
                    self.fail(
                        &format!("{what}: a manual step lacks its marker"),
                        &statement.sql,
                    );
                }
                if client.batch_execute(&statement.sql).await.is_ok() {
                    self.fail(
                        &format!("{what}: a manual step applies as generated"),
                        &statement.sql,
                    );
                }
                let Some(replacement) = manual.next() else {
                    self.fail(
                        &format!("{what}: a manual step has no `{what}:` line in `manual`"),
                        &statement.sql,
                    );
                };
                if let Err(e) = client.batch_execute(&replacement).await {
                    self.fail(
                        &format!("{what}: the hand-written statement from `manual` failed"),
                        &format!("{replacement}\n=> {}", server_message(&e)),
                    );
                }
                self.track(client, tracker, &replacement).await;
                continue;
            }
            if let Err(e) = client.batch_execute(&statement.sql).await {
                self.fail(
                    &format!("{what}: a statement failed"),
                    &format!("{}\n=> {}", statement.sql, server_message(&e)),
                );
            }
            self.track(client, tracker, &statement.sql).await;
        }
        let unused: Vec<String> = manual.collect();
        if !unused.is_empty() {
            self.fail(
                &format!("{what}: `manual` lines without a manual step"),
                &unused.join("\n"),
            );
        }
    }

    /// The incremental inspection after `sql` must equal a whole one (the tracker
    /// verifies it).
    async fn track(&self, client: &Client, tracker: &mut Tracker, sql: &str) {
        if let Err(e) = tracker.inspect(client, &[]).await {
            self.fail(
                &format!("the incremental inspection after a statement is wrong: {sql}"),
                &e.to_string(),
            );
        }
    }

    async fn check_reaches(&self, client: &Client, target: &Schema, what: &str) {
        let after = inspect(client).await;
        if let Some(d) =
            catalog::diff_dumps(&dump_sorted(target), &dump_sorted(&after), "want", "got")
        {
            self.fail(&format!("{what}: the dump differs from the target"), &d);
        }
        let again = diff::diff(&after, target);
        if !again.is_empty() {
            self.fail(
                &format!("{what}: a second diff is not empty"),
                &format!("{again:#?}"),
            );
        }
    }

    async fn run(&self, from_db: &TestDb, to_db: &TestDb) {
        let (a, b) = (connect(&from_db.url).await, connect(&to_db.url).await);
        for (client, file) in [(&a, "from.sql"), (&b, "to.sql")] {
            let sql = golden::for_server(&read(&self.dir.join(file)));
            if let Err(e) = client.batch_execute(&sql).await {
                self.fail(&format!("{file} does not load"), &server_message(&e));
            }
        }
        let from = inspect(&a).await;
        let to = inspect(&b).await;
        let mut tracker = Tracker::prepare(&a, &tracked_options())
            .await
            .expect("prepare the tracker")
            .verify(true);
        self.track(&a, &mut tracker, "from.sql").await;
        if !diff::diff(&from, &from).is_empty() || !diff::diff(&to, &to).is_empty() {
            self.fail("diff(x, x) is not empty", "");
        }

        // An optional `renames` file declares renames, one `--rename` spec per line.
        let renames: Vec<diff::Rename> = std::fs::read_to_string(self.dir.join("renames"))
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                l.parse()
                    .unwrap_or_else(|e| self.fail("bad renames file", &format!("{e}")))
            })
            .collect();
        let back: Vec<diff::Rename> = renames.iter().rev().map(diff::Rename::inverse).collect();
        let plan = |a: &Schema, b: &Schema, renames: &[diff::Rename]| {
            diff::diff_with_renames(a, b, renames)
                .unwrap_or_else(|e| self.fail("renames do not apply", &e.to_string()))
        };
        let up_changes = plan(&from, &to, &renames);
        let down_changes = plan(&to, &from, &back);
        if !renames.is_empty() && !diff::rename_hints(&from, &up_changes).is_empty() {
            self.fail(
                "a declared rename still leaves a rename hint",
                &diff::rename_hints(&from, &up_changes).join("\n"),
            );
        }
        let up = diff::render(&up_changes);
        let down = diff::render(&down_changes);
        for (statements, what) in [(&up, "up"), (&down, "down")] {
            if statements.is_empty() {
                self.fail(&format!("{what} is empty: from.sql and to.sql agree"), "");
            }
            let unsupported = statements.iter().find(|s| {
                s.hazards
                    .iter()
                    .any(|h| h.kind == diff::HazardKind::Unsupported)
            });
            if let Some(statement) = unsupported {
                self.fail(&format!("{what} is incomplete"), &statement.sql);
            }
        }
        self.check_script("up.sql", &diff::to_script(&up));
        self.check_script("down.sql", &diff::to_script(&down));

        self.apply(&a, &mut tracker, &up, "up").await;
        self.check_reaches(&a, &to, "up").await;
        self.apply(&a, &mut tracker, &down, "down").await;
        self.check_reaches(&a, &from, "down").await;
    }
}

fn run_case(name: &'static str) {
    // A case named `..._pgN` uses what only PostgreSQL N and newer have; the matrix
    // (scripts/test-matrix.sh) lists it as not run on older majors rather than run it.
    if let Some(needs) = name
        .rsplit_once("_pg")
        .and_then(|(_, n)| n.parse::<u32>().ok())
    {
        let major = golden::server_major();
        assert!(
            major >= needs,
            "diff golden case {name} needs PostgreSQL {needs}; the server is {major} \
             (scripts/test-matrix.sh excludes it there)"
        );
    }
    let case = Case {
        name,
        dir: fixtures().join(name),
    };
    let from_db = TestDb::new("golden_from");
    let to_db = TestDb::new("golden_to");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(case.run(&from_db, &to_db));
}

#[test]
fn every_fixture_directory_is_a_case() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(fixtures())
        .expect("read tests/fixtures/diff")
        .map(|entry| entry.expect("directory entry"))
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    let listed: BTreeSet<String> = CASES.iter().map(|c| c.to_string()).collect();
    let unlisted: Vec<&String> = on_disk.difference(&listed).collect();
    let missing: Vec<&String> = listed.difference(&on_disk).collect();
    assert!(
        unlisted.is_empty() && missing.is_empty(),
        "tests/fixtures/diff and the golden! list disagree: directories not listed: \
         {unlisted:?}; listed without a directory: {missing:?}"
    );
    assert_eq!(listed.len(), CASES.len(), "a case is listed twice");
}
