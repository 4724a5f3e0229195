//! `check` and `diff`: the models against the chain's head, a live database or a dump,
//! each loaded into scratch databases of the test server.

use crate::support::{admin_url, repo_root, Project, Run, TestDb};

/// A project holding copies of the repository's example models and chain.
fn example_project() -> Project {
    let project = Project::new();
    for dir in ["versions", "models"] {
        let target = project.path().join(dir);
        std::fs::create_dir_all(&target).expect("mkdir");
        for entry in std::fs::read_dir(repo_root().join(dir)).expect("read dir") {
            let path = entry.expect("entry").path();
            std::fs::copy(&path, target.join(path.file_name().expect("name"))).expect("copy");
        }
    }
    // `init` wrote an example model of its own; the repository's models replace it.
    for entry in std::fs::read_dir(project.path().join("models")).expect("models") {
        let path = entry.expect("entry").path();
        if !repo_root()
            .join("models")
            .join(path.file_name().expect("name"))
            .exists()
        {
            std::fs::remove_file(path).expect("remove the init example");
        }
    }
    project
}

fn scratch_run(project: &Project, args: &[&str]) -> Run {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--scratch", "server", "--scratch-url", admin_url()]);
    project.run(&all)
}

#[test]
fn check_passes_when_models_match_the_chain_and_fails_with_the_difference() {
    let project = example_project();
    let run = scratch_run(&project, &["check"]).ok();
    assert!(run.stdout.contains("no differences"), "{}", run.stdout);

    let model = project.path().join("models/10_users.sql");
    let text = std::fs::read_to_string(&model).expect("read model");
    std::fs::write(
        &model,
        text.replace(
            "display_name text,",
            "display_name text,\n    nickname text,",
        ),
    )
    .expect("edit model");
    let run = scratch_run(&project, &["check"]).fails_with(1);
    assert!(
        run.stdout
            .contains("ALTER TABLE public.users ADD COLUMN nickname text;"),
        "check prints the SQL that would fix it:\n{}",
        run.stdout
    );
    assert!(run.stderr.contains("check failed"), "{}", run.stderr);
    let run = scratch_run(&project, &["check", "--dump-diff"]).fails_with(1);
    assert!(run.stdout.contains("+    nickname text"), "{}", run.stdout);

    // diff shows the same and exits 0 unless asked.
    let run = scratch_run(&project, &["diff"]).ok();
    assert!(run.stdout.contains("nickname"), "{}", run.stdout);
    scratch_run(&project, &["diff", "--exit-code"]).fails_with(1);
    let json = scratch_run(
        &project,
        &["--json", "diff", "--from", "head", "--to", "models"],
    )
    .ok()
    .json();
    assert_eq!(json["differs"], true);
}

#[test]
fn check_from_database_detects_drift() {
    let project = example_project();
    let db = TestDb::new("drift");
    project.run(&["--database-url", &db.url, "upgrade"]).ok();
    scratch_run(&project, &["check", "--from-database", &db.url]).ok();
    db.execute("ALTER TABLE datasets ADD COLUMN hotfix boolean")
        .expect("drift");
    let run = scratch_run(&project, &["check", "--from-database", &db.url]).fails_with(1);
    assert!(
        run.stdout.contains("DROP COLUMN \"hotfix\"") && run.stdout.contains("-- WARNING"),
        "{}",
        run.stdout
    );
    // The URL never appears in the output (it may hold a password).
    assert!(!run.stdout.contains(&db.url) && !run.stderr.contains(&db.url));
}

#[test]
fn a_bad_model_statement_is_located_in_its_file() {
    let project = example_project();
    std::fs::write(
        project.path().join("models/50_broken.sql"),
        "-- a typo\nCREATE TABLE broken (\n    id intt\n);\n",
    )
    .expect("write model");
    let run = scratch_run(&project, &["check"]).fails_with(2);
    assert!(run.stderr.contains("50_broken.sql:3:8"), "{}", run.stderr);
    assert!(run.stderr.contains("intt"), "{}", run.stderr);
}

#[test]
fn a_side_naming_nothing_fails_before_any_scratch_database() {
    let project = example_project();
    // An unreachable scratch server: reaching it would fail with exit 3, not 2.
    let unreachable = [
        "--scratch",
        "server",
        "--scratch-url",
        "postgres://nobody@127.0.0.1:1/none",
    ];
    for (side, expected) in [
        ("nonsense", "no revision matches `nonsense`"),
        ("models:no-such-dir", "no models directory no-such-dir"),
        ("dump:no-such.dump", "no dump file no-such.dump"),
    ] {
        let mut args = vec!["diff", "--from", side];
        args.extend(unreachable);
        let run = project.run(&args).fails_with(2);
        assert!(run.stderr.contains(expected), "{side}: {}", run.stderr);
        assert!(run.stderr.contains("`dump:FILE`"), "{side}: {}", run.stderr);
        assert!(!run.stderr.contains("scratch"), "{side}: {}", run.stderr);
    }
}

#[test]
fn diff_between_a_revision_and_a_dump() {
    let project = example_project();
    let db = TestDb::new("diffdump");
    project
        .run(&["--database-url", &db.url, "upgrade", "0003"])
        .ok();
    let dump = project.path().join("at3.dump");
    let out = std::process::Command::new(crate::support::pg_program("pg_dump"))
        .args(["--format=custom", "--file"])
        .arg(&dump)
        .args(["--dbname", &db.url])
        .env("PGSSLMODE", "disable")
        .output()
        .expect("pg_dump");
    assert!(out.status.success());
    let dump_arg = format!("dump:{}", dump.display());
    let run = scratch_run(
        &project,
        &["diff", "--from", "0003", "--to", &dump_arg, "--exit-code"],
    )
    .ok();
    assert!(run.stdout.contains("no differences"), "{}", run.stdout);
    let run = scratch_run(&project, &["diff", "--from", &dump_arg, "--to", "head"]).ok();
    assert!(
        run.stdout
            .contains("CREATE VIEW public.collection_stats AS"),
        "{}",
        run.stdout
    );
}

#[test]
fn autogenerate_writes_a_revision_that_round_trips_and_makes_check_pass() {
    let project = example_project();
    // Nothing to do yet: nothing is written.
    let run = scratch_run(&project, &["new-migration", "-m", "noop", "--autogenerate"]).ok();
    assert!(run.stderr.contains("no revision written"), "{}", run.stderr);
    assert_eq!(project.revision_files().len(), 5);

    // A new column in the middle of a table and a new index.
    let users = project.path().join("models/10_users.sql");
    let text = std::fs::read_to_string(&users).expect("read model");
    std::fs::write(
        &users,
        text.replace(
            "display_name text,",
            "display_name text,\n    nickname varchar(40) NOT NULL DEFAULT '',",
        ),
    )
    .expect("edit model");
    let datasets = project.path().join("models/30_datasets.sql");
    let mut text = std::fs::read_to_string(&datasets).expect("read model");
    text.push_str("\nCREATE INDEX datasets_name_idx ON datasets (lower(name));\n");
    std::fs::write(&datasets, text).expect("edit model");

    let run = scratch_run(
        &project,
        &["new-migration", "-m", "add nickname", "--autogenerate"],
    )
    .ok();
    let written = project.path().join(run.stdout.trim());
    let revision = std::fs::read_to_string(&written).expect("read the new revision");
    assert!(
        revision.contains("ADD COLUMN nickname character varying(40)"),
        "{revision}"
    );
    assert!(
        revision.contains("CREATE INDEX datasets_name_idx"),
        "{revision}"
    );
    assert!(
        revision.contains("DROP INDEX public.datasets_name_idx"),
        "{revision}"
    );
    assert!(
        revision.contains("-- WARNING"),
        "the downgrade drops a column:\n{revision}"
    );
    // The generated revision is reversible, and the chain now matches the models.
    scratch_run(&project, &["test-migration", "--each"]).ok();
    scratch_run(&project, &["check"]).ok();
    scratch_run(&project, &["verify", "--files"]);
}

#[test]
fn a_drop_and_add_gets_a_rename_hint_and_a_declared_rename_becomes_alter_rename() {
    let project = example_project();
    let model = project.path().join("models/10_users.sql");
    let text = std::fs::read_to_string(&model).expect("read model");
    std::fs::write(
        &model,
        text.replace("display_name text,", "full_name    text,"),
    )
    .expect("edit model");

    // Undeclared: a drop and an add, and a hint naming the flag that would say rename.
    let run = scratch_run(&project, &["diff"]).ok();
    assert!(
        run.stdout.contains("DROP COLUMN") && run.stdout.contains("ADD COLUMN full_name text"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("hint: column public.users.display_name is dropped and full_name (text) is added: if it is a rename, pass --rename column:public.users.display_name=full_name"),
        "{}",
        run.stderr
    );

    // Declared: a rename, no data loss, no hint.
    let rename = ["--rename", "column:users.display_name=full_name"];
    let mut args = vec!["diff"];
    args.extend(rename);
    let run = scratch_run(&project, &args).ok();
    assert!(
        run.stdout
            .contains("ALTER TABLE public.users RENAME COLUMN display_name TO full_name;"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("DROP COLUMN"), "{}", run.stdout);
    assert!(!run.stderr.contains("hint:"), "{}", run.stderr);

    // Autogenerate writes the rename both ways, and the models then match.
    let mut args = vec![
        "new-migration",
        "-m",
        "rename display name",
        "--autogenerate",
    ];
    args.extend(rename);
    scratch_run(&project, &args).ok();
    let written = project
        .revision_files()
        .into_iter()
        .find(|f| f.contains("rename_display_name"))
        .expect("the autogenerated revision");
    let text = std::fs::read_to_string(project.versions().join(&written)).expect("read");
    assert!(
        text.contains("RENAME COLUMN display_name TO full_name")
            && text.contains("RENAME COLUMN full_name TO display_name"),
        "{text}"
    );
    scratch_run(&project, &["check"]).ok();

    // A rename of something that does not exist is refused, naming it.
    let run = scratch_run(
        &project,
        &["diff", "--rename", "column:users.nope=full_name"],
    )
    .fails_with(2);
    assert!(
        run.stderr
            .contains("there is no column public.users.nope in the current schema"),
        "{}",
        run.stderr
    );
    let run = scratch_run(&project, &["diff", "--rename", "view:a=b"]).fails_with(2);
    assert!(run.stderr.contains("KIND is one of"), "{}", run.stderr);
}

#[test]
fn an_enum_label_used_in_the_same_upgrade_is_written_outside_a_transaction() {
    let project = example_project();
    let types = project.path().join("models/00_types.sql");
    let text = std::fs::read_to_string(&types).expect("read model");
    std::fs::write(&types, text.replace("'admin'", "'admin', 'owner'")).expect("edit");
    let users = project.path().join("models/10_users.sql");
    let text = std::fs::read_to_string(&users).expect("read model");
    std::fs::write(&users, text.replace("DEFAULT 'viewer'", "DEFAULT 'owner'")).expect("edit");

    let run = scratch_run(
        &project,
        &["new-migration", "-m", "owners by default", "--autogenerate"],
    )
    .ok();
    assert!(
        run.stderr
            .contains("the upgrade section is written with transaction:false"),
        "{}",
        run.stderr
    );
    let written = project
        .revision_files()
        .into_iter()
        .find(|f| f.contains("owners_by_default"))
        .expect("the autogenerated revision");
    let text = std::fs::read_to_string(project.versions().join(&written)).expect("read");
    assert!(
        text.contains("-- migrate:upgrade transaction:false"),
        "{text}"
    );
    assert!(text.contains("ADD VALUE 'owner'"), "{text}");
    // The chain with the new revision replays (the label is committed before its use)
    // and matches the models.
    scratch_run(&project, &["check"]).ok();
}

/// `--online` writes the forms that keep existing tables available, they reach exactly
/// the models, and they run and round-trip on a database holding rows.
#[test]
fn online_autogenerate_writes_concurrent_and_not_valid_forms_that_reach_the_models() {
    let project = Project::new();
    for entry in std::fs::read_dir(project.path().join("models")).expect("models") {
        std::fs::remove_file(entry.expect("entry").path()).expect("remove the init example");
    }
    let base = "CREATE TABLE owners (id bigint PRIMARY KEY);\n\
                CREATE TABLE accounts (id bigint PRIMARY KEY, email text, n int, \
                owner_id bigint, tag text);\n\
                CREATE INDEX accounts_tag_idx ON accounts (tag);";
    crate::support::write_revision(
        &project.versions(),
        &crate::support::Rev {
            number: 1,
            parents: &[],
            message: "accounts",
            upgrade: base,
            downgrade: Some("DROP TABLE accounts;\nDROP TABLE owners;"),
            non_transactional: false,
        },
    );
    let wanted = "CREATE TABLE owners (id bigint PRIMARY KEY);\n\
                  CREATE TABLE accounts (id bigint PRIMARY KEY, email text, n int NOT NULL, \
                  owner_id bigint REFERENCES owners (id), tag text, \
                  CONSTRAINT accounts_n_positive CHECK (n >= 0), \
                  CONSTRAINT accounts_email_key UNIQUE (email));\n\
                  CREATE INDEX accounts_owner_idx ON accounts (owner_id);\n\
                  CREATE TABLE audits (id bigint PRIMARY KEY, at timestamptz);\n\
                  CREATE INDEX audits_at_idx ON audits (at);";
    std::fs::write(project.path().join("models/schema.sql"), wanted).expect("write model");
    project.run(&["rehash"]).ok();

    scratch_run(
        &project,
        &[
            "new-migration",
            "-m",
            "online",
            "--autogenerate",
            "--online",
        ],
    )
    .ok();
    let written = project
        .revision_files()
        .into_iter()
        .find(|f| f.contains("online"))
        .expect("the autogenerated revision");
    let path = project.versions().join(&written);
    let text = std::fs::read_to_string(&path).expect("read");
    for expected in [
        "-- migrate:upgrade transaction:false",
        "-- migrate:downgrade transaction:false",
        "CREATE INDEX CONCURRENTLY accounts_owner_idx ON public.accounts",
        "DROP INDEX CONCURRENTLY public.accounts_tag_idx",
        "NOT VALID",
        "VALIDATE CONSTRAINT accounts_n_positive",
        "VALIDATE CONSTRAINT accounts_owner_id_fkey",
        "CREATE UNIQUE INDEX CONCURRENTLY accounts_email_key ON public.accounts (email)",
        "ADD CONSTRAINT accounts_email_key UNIQUE USING INDEX accounts_email_key",
        "CHECK (n IS NOT NULL) NOT VALID",
        "ALTER COLUMN n SET NOT NULL",
        // The downgrade gives the dropped index back concurrently too.
        "CREATE INDEX CONCURRENTLY accounts_tag_idx",
    ] {
        assert!(text.contains(expected), "no {expected:?} in:\n{text}");
    }
    // A table the migration creates keeps the plain form: nobody can see it yet.
    assert!(
        text.contains("CREATE INDEX audits_at_idx ON public.audits"),
        "{text}"
    );

    // The online forms reach exactly the models (the helper check is gone again).
    scratch_run(&project, &["check"]).ok();
    // Nothing left for the linter to flag as blocking.
    let lint = project.run(&["--json", "lint", written.split('_').next().expect("id")]);
    let rules: Vec<String> = lint
        .json()
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["rule"].as_str().unwrap_or("").to_string())
        .collect();
    for blocking in [
        "index-not-concurrent",
        "constraint-missing-not-valid",
        "setting-not-null",
        "validate-in-same-transaction",
    ] {
        assert!(
            !rules.iter().any(|r| r == blocking),
            "{blocking} in {rules:?}"
        );
    }

    // It runs on rows and comes back down.
    let db = TestDb::new("online_autogen");
    project
        .run(&["upgrade", "0001", "--database-url", &db.url])
        .ok();
    db.execute(
        "INSERT INTO owners SELECT g FROM generate_series(1, 50) g;\n\
         INSERT INTO accounts SELECT g, 'a' || g, g, 1 + g % 50, 't' FROM generate_series(1, 500) g;",
    )
    .expect("rows");
    project.run(&["upgrade", "--database-url", &db.url]).ok();
    project
        .run(&["downgrade", "-1", "--database-url", &db.url])
        .ok();
    project.run(&["upgrade", "--database-url", &db.url]).ok();
}
