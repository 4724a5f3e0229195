//! `retort lint` end to end: the committed corpus and the example chain against their
//! expected findings, and the command's output formats, exit codes and configuration.
//!
//! `RETORT_BLESS=1` rewrites the expected files from the current findings; read the
//! diff before committing it.

use std::path::Path;

use crate::support::{repo_root, retort, Project, Run};

fn run(dir: &Path, args: &[&str]) -> Run {
    Run::from(retort(dir).args(args).output().expect("run retort"))
}

/// One line per finding: `file:line:col severity rule [ignored]`.
fn summarize(findings: &serde_json::Value) -> String {
    let mut out = String::new();
    for f in findings.as_array().expect("an array of findings") {
        let path = f["path"].as_str().expect("path");
        let file = Path::new(path)
            .file_name()
            .expect("file name")
            .to_string_lossy();
        let ignored = if f["ignored"].is_null() {
            ""
        } else {
            " ignored"
        };
        out.push_str(&format!(
            "{file}:{}:{} {} {}{ignored}\n",
            f["line"],
            f["column"],
            f["severity"].as_str().expect("severity"),
            f["rule"].as_str().expect("rule")
        ));
    }
    out
}

/// The corpus's findings under the repository's own retort.toml.
fn run_default(versions: &str) -> String {
    let run = run(&repo_root(), &["--versions", versions, "lint", "--json"]).fails_with(1);
    summarize(&run.json())
}

/// Compares with (or, blessing, writes) an expected file.
fn check_expected(name: &str, actual: &str) {
    let path = repo_root().join("tests/fixtures/lint").join(name);
    if std::env::var_os("RETORT_BLESS").is_some() {
        std::fs::write(&path, actual).expect("write expected");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if let Some(diff) = retort::catalog::diff_dumps(&expected, actual, "expected", "actual") {
        panic!(
            "lint findings differ from tests/fixtures/lint/{name} (RETORT_BLESS=1 rewrites it):\n{diff}"
        );
    }
}

#[test]
fn the_corpus_gives_the_expected_findings() {
    let versions = repo_root().join("tests/fixtures/lint/versions");
    let versions = versions.to_str().expect("utf-8 path");
    // tests/fixtures/lint/retort.toml turns the runner's lock_timeout off.
    let corpus_dir = repo_root().join("tests/fixtures/lint");
    let run = run(&corpus_dir, &["--versions", versions, "lint", "--json"]).fails_with(1);
    let findings = run.json();
    let summary = summarize(&findings);
    // With the runner's default lock_timeout (the repository's own retort.toml sets
    // none), missing-lock-timeout has nothing to say.
    let defaults = run_default(versions);
    assert!(
        !defaults.contains(" missing-lock-timeout") && defaults.contains(" index-not-concurrent"),
        "{defaults}"
    );
    // Every rule has at least one finding in the corpus.
    for rule in retort::lint::RULES {
        assert!(
            summary.contains(&format!(" {}", rule.id)),
            "the corpus triggers no {}: add a statement for it",
            rule.id
        );
    }
    check_expected("expected.txt", &summary);
}

#[test]
fn the_example_chain_gives_the_expected_findings() {
    let run = run(&repo_root(), &["--versions", "versions", "lint", "--json"]);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    check_expected("example-chain.txt", &summarize(&run.json()));
}

#[test]
fn human_output_shows_the_line_and_a_caret_and_fails_on_errors() {
    let project = Project::new();
    let path = project.new_migration("add email", &[]);
    let text = std::fs::read_to_string(&path).expect("read");
    let text = text.replace(
        "-- migrate:upgrade\n",
        "-- migrate:upgrade\nALTER TABLE users ADD COLUMN email text NOT NULL;\n",
    );
    std::fs::write(&path, text).expect("write");
    project.run(&["rehash"]).ok();
    let run = project.run(&["lint"]).fails_with(1);
    let file = path
        .file_name()
        .expect("name")
        .to_string_lossy()
        .to_string();
    assert!(
        run.stdout.contains(&format!("{file}:"))
            && run.stdout.contains("error[adding-not-null-column]: adds NOT NULL column email to users without a default"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("| ALTER TABLE users ADD COLUMN email text NOT NULL;\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("| ^"), "{}", run.stdout);
    assert!(run.stderr.contains("1 error(s)"), "{}", run.stderr);

    // SARIF for review tools.
    let run = project.run(&["lint", "--format", "sarif"]).fails_with(1);
    let sarif = run.json();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    assert!(results
        .iter()
        .any(|r| r["ruleId"] == "adding-not-null-column" && r["level"] == "error"));

    // Accepted knowingly: still listed, no longer failing.
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(
        &path,
        text.replace(
            "ALTER TABLE users ADD COLUMN email",
            "-- retort:ignore adding-not-null-column users is empty everywhere\nALTER TABLE users ADD COLUMN email",
        ),
    )
    .expect("write");
    project.run(&["rehash"]).ok();
    let run = project.run(&["lint"]).ok();
    assert!(
        run.stdout.contains("(ignored: users is empty everywhere)"),
        "{}",
        run.stdout
    );
}

#[test]
fn batch_sections_are_linted_at_their_lines_and_deny_refuses_their_errors() {
    let db = crate::support::TestDb::new("lintbatch");
    let project = Project::new();
    let path = project.new_migration("backfill", &[]);
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(
        &path,
        text.replace(
            "-- migrate:upgrade\n",
            "-- migrate:upgrade\n\
             CREATE TABLE events (id bigint PRIMARY KEY, c int);\n\
             CREATE TABLE seen (n bigint);\n\n\
             -- migrate:batch table=events key=id size=100\n\
             UPDATE seen SET n = n + 1 WHERE n >= :lo AND n < :hi;\n\n\
             -- migrate:upgrade\n\
             ALTER TABLE events ADD CONSTRAINT c_set CHECK (c IS NOT NULL) NOT VALID;\n",
        ),
    )
    .expect("write");
    project.run(&["rehash"]).ok();
    let text = std::fs::read_to_string(&path).expect("read");
    let line = 1 + text
        .lines()
        .position(|l| l.starts_with("UPDATE seen"))
        .expect("the batch statement");

    let run = project.run(&["lint", "--json"]).fails_with(1);
    let findings = run.json();
    let other = findings
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["rule"] == "batch-other-table")
        .expect("batch-other-table found");
    assert_eq!(
        (
            &other["line"],
            &other["column"],
            &other["section"],
            &other["severity"]
        ),
        (
            &serde_json::json!(line),
            &serde_json::json!(1),
            &serde_json::json!("upgrade"),
            &serde_json::json!("error")
        ),
        "{other}"
    );
    let run = project.run(&["lint"]).fails_with(1);
    assert!(
        run.stdout.contains(&format!(
            "{line} | UPDATE seen SET n = n + 1 WHERE n >= :lo AND n < :hi;\n"
        )),
        "{}",
        run.stdout
    );

    // An error in the batch statement is an error of the upgrade: nothing runs.
    let run = project
        .run_on(&db, &["upgrade", "--lint", "deny"])
        .fails_with(1);
    assert!(
        run.stderr.contains("batch-other-table") && run.stderr.contains("nothing ran"),
        "{}",
        run.stderr
    );
    assert_eq!(
        db.texts("SELECT count(*)::text FROM pg_class WHERE relname = 'events'"),
        vec!["0".to_string()]
    );

    // Accepted knowingly, it no longer fails either.
    std::fs::write(
        &path,
        text.replace(
            "UPDATE seen",
            "-- retort:ignore batch-other-table seen counts the ranges done\nUPDATE seen",
        ),
    )
    .expect("write");
    project.run(&["rehash"]).ok();
    let run = project.run(&["lint"]).ok();
    assert!(
        run.stdout
            .contains("(ignored: seen counts the ranges done)"),
        "{}",
        run.stdout
    );
    project.run_on(&db, &["upgrade", "--lint", "deny"]).ok();
}

#[test]
fn explain_rules_and_configuration() {
    let project = Project::new();
    let run = project
        .run(&["lint", "--explain", "index-not-concurrent"])
        .ok();
    assert!(run.stdout.contains("CONCURRENTLY"), "{}", run.stdout);
    assert!(run.stdout.contains("Instead:"), "{}", run.stdout);
    let run = project
        .run(&["lint", "--explain", "no-such-rule"])
        .fails_with(2);
    assert!(
        run.stderr.contains("no lint rule `no-such-rule`"),
        "{}",
        run.stderr
    );
    let run = project.run(&["lint", "--rules"]).ok();
    assert_eq!(run.stdout.lines().count(), retort::lint::RULES.len());

    // A typo in retort.toml is an error naming the file, not a silent no-op.
    let toml = project.path().join("retort.toml");
    let text = std::fs::read_to_string(&toml).unwrap_or_default();
    std::fs::write(
        &toml,
        format!("{text}\n[lint]\ndisable = [\"drop-tabel\"]\n"),
    )
    .expect("write");
    let run = project.run(&["lint"]).fails_with(2);
    assert!(
        run.stderr
            .contains("retort.toml: [lint] names an unknown rule `drop-tabel`"),
        "{}",
        run.stderr
    );
}

#[test]
fn upgrade_lint_deny_runs_nothing_and_lint_defaults_to_the_pending_revisions() {
    let db = crate::support::TestDb::new("lintdeny");
    let project = Project::new();
    let first = project.new_migration("create users", &[]);
    let text = std::fs::read_to_string(&first).expect("read");
    std::fs::write(
        &first,
        text.replace(
            "-- migrate:upgrade\n",
            "-- migrate:upgrade\nCREATE TABLE users (id bigint PRIMARY KEY);\n",
        )
        .replace(
            "-- migrate:downgrade\n",
            "-- migrate:downgrade\nDROP TABLE users;\n",
        ),
    )
    .expect("write");
    project.run(&["rehash"]).ok();
    let second = project.new_migration("add email", &[]);
    let text = std::fs::read_to_string(&second).expect("read");
    std::fs::write(
        &second,
        text.replace(
            "-- migrate:upgrade\n",
            "-- migrate:upgrade\nALTER TABLE users ADD COLUMN email text NOT NULL;\n",
        ),
    )
    .expect("write");
    project.run(&["rehash"]).ok();

    // The first revision is clean: deny lets it run.
    let url = ["--database-url", db.url.as_str()];
    let mut args = url.to_vec();
    args.extend(["upgrade", "+1", "--lint", "deny"]);
    project.run(&args).ok();

    // Only the pending revision is linted by default.
    let mut args = url.to_vec();
    args.extend(["lint", "--json"]);
    let run = project.run(&args).fails_with(1);
    assert!(
        run.stderr
            .contains("linting the 1 revision(s) not yet applied"),
        "{}",
        run.stderr
    );
    let findings = run.json();
    let findings = findings.as_array().expect("findings");
    assert!(findings
        .iter()
        .all(|f| f["revision"].as_str().expect("id").starts_with("0002")));

    // The second has an error: nothing runs, the finding is named.
    let mut args = url.to_vec();
    args.extend(["upgrade", "--lint", "deny"]);
    let run = project.run(&args).fails_with(1);
    assert!(
        run.stderr.contains("adding-not-null-column") && run.stderr.contains("nothing ran"),
        "{}",
        run.stderr
    );
    let applied = db
        .texts("SELECT count(*)::text FROM information_schema.columns WHERE column_name = 'email'");
    assert_eq!(applied, vec!["0".to_string()]);
}
