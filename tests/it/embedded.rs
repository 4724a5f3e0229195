//! retort as a library inside an application: `examples/embedded.rs` (revisions
//! compiled in with `embed_migrations!`, applied on the application's connection),
//! the advisory lock given back to a lent connection, and the build refused when an
//! embedded revision no longer matches `retort.sum`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use retort::db::{Session, VersionTables};
use retort::migrator::RunOptions;
use retort::Migrator;

use crate::support::{connect, repo_root, write_revision, Project, Rev, TestDb};

/// The example's binary, built by `cargo test`/`nextest` next to the test binaries.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/..");
    let binary = profile_dir.join("examples").join("embedded");
    assert!(
        binary.is_file(),
        "{} is missing: the examples are built with the tests (`cargo test`, \
         `cargo nextest run`); build it with `cargo build --example embedded`",
        binary.display()
    );
    binary
}

#[test]
fn example_started_twice_at_once_applies_each_revision_once() {
    let db = TestDb::new("embedded_twice");
    let binary = example_binary();
    let start = || {
        Command::new(&binary)
            .env("DATABASE_URL", &db.url)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the example")
    };
    let (first, second) = (start(), start());
    let mut applied_lines = 0;
    for child in [first, second] {
        let out = child.wait_with_output().expect("example runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "example failed\nstdout:\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("the database is at head"), "{stdout}");
        applied_lines += stdout.matches("embedded: applied ").count();
    }
    // Between them the two instances applied the two revisions once.
    assert_eq!(applied_lines, 2);
    assert_eq!(
        db.texts(
            "SELECT revision || ' ' || count(*) FROM retort_history \
             WHERE direction = 'upgrade' GROUP BY revision ORDER BY revision"
        ),
        ["0001_4c949167a28c 1", "0002_0dde39e81d5b 1"]
    );
    assert_eq!(
        db.texts("SELECT revision FROM retort_version"),
        ["0002_0dde39e81d5b"]
    );
    assert_eq!(
        db.texts("SELECT indexname::text FROM pg_indexes WHERE tablename = 'accounts' ORDER BY 1"),
        ["accounts_email_key", "accounts_pkey"]
    );
}

/// Advisory locks this connection holds.
async fn advisory_locks_held(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()",
            &[],
        )
        .await
        .expect("read pg_locks")
        .get(0)
}

#[test]
fn lent_connection_gets_the_lock_back_after_success_and_failure() {
    let db = TestDb::new("embedded_lent");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(lend_connection(&db));
}

async fn lend_connection(db: &TestDb) {
    let project = Project::new();
    let good = write_revision(
        &project.versions(),
        &Rev {
            number: 1,
            parents: &[],
            message: "create t",
            upgrade: "CREATE TABLE t (id int);",
            downgrade: Some("DROP TABLE t;"),
            non_transactional: false,
        },
    );
    let client = connect(&db.url).await;
    let session = Session::from_client(&client, VersionTables::default())
        .await
        .expect("session over the lent client");
    assert!(session.target().ends_with(&format!("/{}", db.name)));
    let migrator = Migrator::open(&project.versions()).expect("chain");
    let run = |m: &'static str| move |_: &str| panic!("{m}: no other run holds the lock");
    migrator
        .upgrade(
            &session,
            "head",
            &RunOptions::default(),
            run("upgrade"),
            &mut |_| {},
        )
        .await
        .expect("upgrade");
    assert_eq!(advisory_locks_held(&client).await, 0, "after a success");

    // A revision that fails: the run's error is returned and the lock is still freed.
    write_revision(
        &project.versions(),
        &Rev {
            number: 2,
            parents: &[&good],
            message: "broken",
            upgrade: "ALTER TABLE missing ADD COLUMN c int;",
            downgrade: None,
            non_transactional: false,
        },
    );
    let migrator = Migrator::open(&project.versions()).expect("chain");
    let error = migrator
        .upgrade(
            &session,
            "head",
            &RunOptions::default(),
            run("failing"),
            &mut |_| {},
        )
        .await
        .expect_err("the broken revision fails");
    assert!(error.to_string().contains("missing"), "{error}");
    assert_eq!(advisory_locks_held(&client).await, 0, "after a failure");
    // The application's connection is still usable.
    let one: i32 = client
        .query_one("SELECT 1", &[])
        .await
        .expect("connection usable")
        .get(0);
    assert_eq!(one, 1);
}

/// A scratch crate that embeds a copy of the example's versions with
/// `retort = { path, default-features = false }`: it builds, and after one revision
/// is edited the build fails naming the file. The build shares a target directory
/// under target/ so that later runs only compile what changed.
#[test]
fn edited_embedded_revision_fails_the_build_naming_the_file() {
    let root = repo_root();
    let dir = tempfile::tempdir().expect("tempdir");
    let app = dir.path();
    std::fs::create_dir_all(app.join("src")).expect("src");
    std::fs::create_dir_all(app.join("versions")).expect("versions");
    for entry in std::fs::read_dir(root.join("examples/embedded/versions")).expect("versions") {
        let path = entry.expect("entry").path();
        std::fs::copy(
            &path,
            app.join("versions").join(path.file_name().expect("name")),
        )
        .expect("copy");
    }
    std::fs::write(
        app.join("Cargo.toml"),
        format!(
            "[package]\nname = \"embed-check\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
             [dependencies]\nretort = {{ path = {:?}, default-features = false }}\n\n\
             [workspace]\n",
            root.display().to_string()
        ),
    )
    .expect("Cargo.toml");
    // The repository's lock file, so the scratch crate builds the same versions.
    std::fs::copy(root.join("Cargo.lock"), app.join("Cargo.lock")).expect("Cargo.lock");
    std::fs::write(
        app.join("src/main.rs"),
        "static MIGRATIONS: retort::EmbeddedMigrations = retort::embed_migrations!(\"versions\");\n\
         fn main() {\n    let m = retort::Migrator::from_embedded(&MIGRATIONS).expect(\"valid\");\n    \
         println!(\"{}\", m.graph().revisions().len());\n}\n",
    )
    .expect("main.rs");
    let cargo = |args: &[&str]| {
        let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(args)
            .current_dir(app)
            .env("CARGO_TARGET_DIR", root.join("target/embed-check"))
            .output()
            .expect("run cargo");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    // Without default features: neither the linter's parser nor the command line.
    let (ok, tree, stderr) = cargo(&["tree", "--offline", "-e", "normal", "--prefix", "none"]);
    assert!(ok, "cargo tree: {stderr}");
    for absent in ["pg_query", "clap", "indicatif", "dotenvy"] {
        assert!(
            !tree.lines().any(|l| l.starts_with(&format!("{absent} "))),
            "{absent} is in the tree of retort without default features:\n{tree}"
        );
    }
    let (ok, stdout, stderr) = cargo(&["run", "--offline", "--quiet"]);
    assert!(ok, "the embedding crate does not build or run:\n{stderr}");
    assert_eq!(stdout.trim(), "2");

    let edited = app.join("versions/0002_0dde39e81d5b_add_account_email_index.sql");
    let text = std::fs::read_to_string(&edited).expect("read");
    std::fs::write(&edited, text.replace("lower(email)", "email")).expect("edit");
    let (ok, _, stderr) = cargo(&["build", "--offline", "--quiet"]);
    assert!(!ok, "the build accepted an edited revision");
    assert!(
        stderr.contains(
            "edited:  versions/0002_0dde39e81d5b_add_account_email_index.sql (0002_0dde39e81d5b) \
             changed since retort.sum was written"
        ) && stderr.contains("retort rehash"),
        "{stderr}"
    );
}
