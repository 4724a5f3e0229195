//! The commands that need no database, run as a user runs them.

use crate::support::Project;

fn header(path: &std::path::Path, key: &str) -> String {
    let text = std::fs::read_to_string(path).expect("revision file");
    let prefix = format!("-- {key}:");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("{} has no {key}", path.display()))
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn three_new_migrations_chain_and_list() {
    let p = Project::new();
    let first = p.new_migration("add users", &[]);
    let second = p.new_migration("add users", &[]);
    let third = p.run(&["revision", "-m", "add users"]).ok(); // the Alembic alias
    let third = p.path().join(third.stdout.trim());
    for (path, number) in [(&first, "0001_"), (&second, "0002_"), (&third, "0003_")] {
        let name = file_name(path);
        assert!(
            name.starts_with(number) && name.ends_with("_add_users.sql"),
            "{name}"
        );
        assert!(header(path, "created").starts_with("20"));
    }
    assert_eq!(header(&first, "down_revision"), "");
    assert_eq!(header(&second, "down_revision"), header(&first, "revision"));
    assert_eq!(header(&third, "down_revision"), header(&second, "revision"));

    let history = p.run(&["history"]).ok().stdout;
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines.len(), 3, "{history}");
    assert!(lines[0].contains(&header(&third, "revision")) && lines[0].contains("(head)"));
    assert!(lines[2].starts_with("<base> -> 0001_"));
    let heads = p.run(&["heads"]).ok().stdout;
    assert!(heads.starts_with(&header(&third, "revision")), "{heads}");
    let graph = p.run(&["graph"]).ok().stdout;
    assert_eq!(graph.matches('*').count(), 3, "{graph}");

    let json = p.run(&["history", "--json"]).ok().json();
    let list = json.as_array().expect("list");
    assert_eq!(list.len(), 3);
    assert_eq!(list[0]["is_head"], true);
    assert_eq!(list[2]["is_base"], true);
    assert!(list[0]["checksum"]
        .as_str()
        .expect("checksum")
        .starts_with("sha256:"));

    // Ranges: from 0002 to head, and up to 0002.
    let range = p.run(&["history", "-r", "0002:head", "--json"]).ok().json();
    assert_eq!(range.as_array().expect("list").len(), 2);
    let range = p.run(&["history", "-r", ":0002", "--json"]).ok().json();
    assert_eq!(range.as_array().expect("list").len(), 2);
    let verbose = p.run(&["history", "--verbose"]).ok().stdout;
    assert!(verbose.contains("Rev: 0003_") && verbose.contains("Checksum: sha256:"));
    p.run(&["verify", "--files"]).ok();
}

#[test]
fn diverging_heads_are_refused_then_merged() {
    let p = Project::new();
    p.new_migration("one", &[]);
    p.new_migration("two", &[]);
    p.new_migration("three a", &[]);
    // 0002 is no head any more: building on it branches, which must be said.
    let before = p.revision_files();
    let refused = p
        .run(&["new-migration", "-m", "three b", "--head", "0002"])
        .fails_with(2);
    assert!(
        refused.stderr.contains("is not a head revision") && refused.stderr.contains("--splice"),
        "{}",
        refused.stderr
    );
    assert_eq!(before, p.revision_files(), "a refused command wrote a file");
    p.new_migration("three b", &["--head", "0002", "--splice"]);
    let heads = p.run(&["heads", "--json"]).ok().json();
    assert_eq!(heads.as_array().expect("list").len(), 2);

    let before = p.revision_files();
    let refused = p.run(&["new-migration", "-m", "four"]).fails_with(2);
    assert!(
        refused.stderr.contains("2 heads") && refused.stderr.contains("--head"),
        "{}",
        refused.stderr
    );
    assert_eq!(before, p.revision_files(), "a refused command wrote a file");

    let merged = p.run(&["merge", "-m", "merge heads"]).ok();
    let merge_path = p.path().join(merged.stdout.trim());
    assert!(
        file_name(&merge_path).starts_with("0004_"),
        "{}",
        merged.stdout
    );
    let parents = header(&merge_path, "down_revision");
    assert_eq!(parents.split(", ").count(), 2, "{parents}");
    let heads = p.run(&["heads", "--json"]).ok().json();
    let heads = heads.as_array().expect("list");
    assert_eq!(heads.len(), 1);
    assert_eq!(heads[0]["is_merge"], true);

    let graph = p.run(&["graph"]).ok().stdout;
    assert!(graph.contains("|\\") && graph.contains("|/"), "{graph}");
    let dot = p.run(&["graph", "--format", "dot"]).ok().stdout;
    assert!(
        dot.starts_with("digraph retort {") && dot.matches(" -> ").count() == 5,
        "{dot}"
    );
    let json = p.run(&["graph", "--json"]).ok().json();
    assert_eq!(json["edges"].as_array().expect("edges").len(), 5);

    // An ambiguous prefix lists its candidates.
    let ambiguous = p.run(&["show", "0003"]).fails_with(2);
    assert!(
        ambiguous.stderr.contains("ambiguous") && ambiguous.stderr.matches("0003_").count() >= 2,
        "{}",
        ambiguous.stderr
    );
    let shown = p.run(&["show", "head", "--json"]).ok().json();
    assert_eq!(shown[0]["id"], heads[0]["id"]);
    // Merging a single head is refused.
    p.run(&["merge", "-m", "again"]).fails_with(2);
    p.run(&["verify", "--files"]).ok();
}

#[test]
fn verify_names_edited_added_and_removed_files() {
    let p = Project::new();
    p.new_migration("create users", &[]);
    let second = p.new_migration("add email", &[]);
    p.run(&["verify", "--files"]).ok();

    let mut text = std::fs::read_to_string(&second).expect("read");
    text.push_str("ALTER TABLE users ADD COLUMN sneaky int;\n");
    std::fs::write(&second, text).expect("edit");
    let run = p.run(&["verify", "--files"]).fails_with(1);
    assert!(
        run.stdout.contains("edited:") && run.stdout.contains(&file_name(&second)),
        "{}",
        run.stdout
    );
    let json = p.run(&["verify", "--files", "--json"]).fails_with(1).json();
    assert_eq!(json["mismatches"][0]["kind"], "edited");
    // new-migration refuses to bless the edit silently.
    p.run(&["new-migration", "-m", "third"]).fails_with(2);

    p.run(&["rehash"]).ok();
    p.run(&["verify", "--files"]).ok();

    // A file removed: reported as removed (and the heads changed).
    let second_id = header(&second, "revision");
    let removed = std::fs::read(&second).expect("read");
    std::fs::remove_file(&second).expect("remove");
    let run = p.run(&["verify", "--files"]).fails_with(1);
    assert!(
        run.stdout.contains(&format!("removed: {second_id}")),
        "{}",
        run.stdout
    );
    std::fs::write(&second, removed).expect("restore");
    p.run(&["verify", "--files"]).ok();

    // A file added by hand: reported as added.
    let third = p.versions().join("0003_abcdefabcdef_by_hand.sql");
    std::fs::write(
        &third,
        format!("-- revision: 0003_abcdefabcdef\n-- down_revision: {}\n\n-- migrate:upgrade\nSELECT 1;\n", header(&second, "revision")),
    )
    .expect("write");
    let run = p.run(&["verify", "--files"]).fails_with(1);
    assert!(
        run.stdout.contains("added:") && run.stdout.contains("0003_abcdefabcdef_by_hand.sql"),
        "{}",
        run.stdout
    );
}

#[test]
fn completion_scripts_know_every_command() {
    let dir = tempfile::tempdir().expect("temp dir");
    for shell in ["bash", "zsh", "fish"] {
        let run = crate::support::run_in(
            dir.path(),
            env!("CARGO_BIN_EXE_retort"),
            &["completions", shell],
        )
        .ok();
        for word in ["new-migration", "test-migration", "fleet", "--autogenerate"] {
            assert!(run.stdout.contains(word), "{shell}: no {word}");
        }
    }
    crate::support::run_in(
        dir.path(),
        env!("CARGO_BIN_EXE_retort"),
        &["completions", "nope"],
    )
    .fails_with(2);
}

#[test]
fn init_refuses_to_overwrite_and_help_explains() {
    let p = Project::new();
    assert!(p.path().join("retort.toml").is_file());
    assert!(p.path().join("models/00_example.sql").is_file());
    let again = p.run(&["init", "."]).fails_with(2);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    let help = p.run(&["--help"]).ok().stdout;
    for verb in [
        "init",
        "new-migration",
        "merge",
        "history",
        "heads",
        "show",
        "graph",
        "verify",
        "rehash",
    ] {
        assert!(help.contains(verb), "--help lacks {verb}");
    }
    let sub = p.run(&["new-migration", "--help"]).ok().stdout;
    assert!(sub.contains("--head") && sub.contains("--message"), "{sub}");
    // Usage errors exit 2.
    p.run(&["history", "--bogus"]).fails_with(2);
    p.run(&["new-migration"]).fails_with(2);
}

#[test]
fn config_is_found_from_a_subdirectory() {
    let p = Project::new();
    p.new_migration("create users", &[]);
    let nested = p.path().join("src/deep");
    std::fs::create_dir_all(&nested).expect("mkdir");
    let out = crate::support::retort(&nested)
        .arg("history")
        .output()
        .expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("create users"));
}

#[test]
fn empty_project_lists_nothing_and_unknown_targets_explain() {
    let p = Project::new();
    assert_eq!(p.run(&["history"]).ok().stdout, "");
    let run = p.run(&["show", "abc"]).fails_with(2);
    assert!(run.stderr.contains("holds no revisions"), "{}", run.stderr);
    let missing = tempfile::tempdir().expect("tmp");
    let run = crate::support::retort(missing.path())
        .arg("history")
        .output()
        .expect("run");
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("retort init"));
}
