//! No password in any output. Each way of giving one — in the URL, in a libpq conninfo
//! string, in `PGPASSWORD`, in a password file (`PGPASSFILE`), in a service file
//! (`PGSERVICEFILE`), in `DATABASE_URL`, in retort.toml's `database_url` — gets a run of
//! every command that connects: success, SQL errors, connection errors (a missing
//! database, a port where nothing listens), the errors of psql and pg_restore, `--json`,
//! `-v`, scratch servers, the fleet's events and metrics files, JUnit reports, dump and
//! revision files. Every stdout, every stderr and every file the run leaves is then
//! searched for the password. Every run has `RUST_BACKTRACE=1`, so a panic would print
//! all it can. Malformed retort.toml, .env and targets files, whose lines may be the URL
//! with its password, are reported by place, never by quoting the line.
//!
//! The test server trusts local connections, so any password connects: what is tested
//! is the output, not authentication.

use std::path::{Path, PathBuf};

use crate::support::{admin_url, retort, rev_id, write_revision, Project, Rev, Run, TestDb};

/// Distinctive, so that a hit can only be a leak.
const PASSWORD: &str = "Zq9SECRETpw77";

/// How the password reaches retort.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Way {
    /// `postgres://postgres:PASSWORD@host:port/db` as --database-url.
    Url,
    /// `host=... password=PASSWORD` as --database-url.
    Conninfo,
    /// A URL without password, the password in `PGPASSWORD`.
    PgPassword,
    /// A URL without password, the password in a 0600 file named by `PGPASSFILE`.
    PgPassFile,
    /// `service=NAME dbname=...`, the password in the service file named by
    /// `PGSERVICEFILE`.
    ServiceFile,
    /// No --database-url: `DATABASE_URL` holds the URL with the password.
    DatabaseUrlEnv,
    /// No --database-url: retort.toml's `database_url` holds the URL with the password.
    RetortToml,
}

impl Way {
    /// Whether the database is named without --database-url (environment or file).
    fn implicit(self) -> bool {
        matches!(self, Way::DatabaseUrlEnv | Way::RetortToml)
    }
}

/// Host and port of the test server, from its URL.
fn server() -> (String, u16) {
    let url = admin_url();
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split(['/', '?']).next().expect("authority");
    let hostport = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "5432"));
    (
        host.to_owned(),
        port.parse().expect("port of TEST_DATABASE_URL"),
    )
}

/// One way's run of many commands, with everything they printed.
struct Case {
    way: Way,
    project: Project,
    /// Files the case writes (password file, dumps) and the commands write (reports).
    files: tempfile::TempDir,
    host: String,
    port: u16,
    /// (what, text) of every stdout, stderr and file.
    outputs: Vec<(String, String)>,
    /// The files that hold the password on purpose (the inputs).
    inputs: Vec<PathBuf>,
    retort_toml: String,
}

impl Case {
    fn new(way: Way) -> Case {
        let project = Project::new();
        chain(&project);
        let files = tempfile::tempdir().expect("temp dir");
        let (host, port) = server();
        let retort_toml =
            std::fs::read_to_string(project.path().join("retort.toml")).expect("retort.toml");
        let mut case = Case {
            way,
            project,
            files,
            host,
            port,
            outputs: Vec::new(),
            inputs: Vec::new(),
            retort_toml,
        };
        if way == Way::PgPassFile {
            let pgpass = case.pgpass_file();
            write_private(&pgpass, &format!("*:*:*:*:{PASSWORD}\n"));
            case.inputs.push(pgpass);
        }
        if way == Way::ServiceFile {
            let services = case.service_file();
            write_private(
                &services,
                &format!(
                    "[retort_secrets]\nhost={}\nuser=postgres\npassword={PASSWORD}\n",
                    case.host
                ),
            );
            case.inputs.push(services);
        }
        if way == Way::RetortToml {
            case.inputs.push(case.project.path().join("retort.toml"));
        }
        case
    }

    fn pgpass_file(&self) -> PathBuf {
        self.files.path().join("pgpass")
    }

    fn service_file(&self) -> PathBuf {
        self.files.path().join("pg_service.conf")
    }

    fn file(&self, name: &str) -> PathBuf {
        self.files.path().join(name)
    }

    /// The text that names database `dbname` at `port` of the test server, as this way
    /// writes it (the password in it, or not).
    fn conn_at(&self, dbname: &str, port: u16) -> String {
        let host = &self.host;
        match self.way {
            Way::Url | Way::DatabaseUrlEnv | Way::RetortToml => {
                format!("postgres://postgres:{PASSWORD}@{host}:{port}/{dbname}")
            }
            Way::Conninfo => {
                format!("host={host} port={port} dbname={dbname} user=postgres password={PASSWORD}")
            }
            Way::PgPassword | Way::PgPassFile => {
                format!("postgres://postgres@{host}:{port}/{dbname}")
            }
            Way::ServiceFile => format!("service=retort_secrets port={port} dbname={dbname}"),
        }
    }

    fn conn(&self, dbname: &str) -> String {
        self.conn_at(dbname, self.port)
    }

    /// Runs retort with `args`, the database (if any) named as this way names it, and
    /// checks the exit code; keeps stdout and stderr for the final search.
    #[track_caller]
    fn run(&mut self, label: &str, database: Option<&str>, args: &[&str], code: i32) -> Run {
        let mut command = retort(self.project.path());
        command.env("RUST_BACKTRACE", "1");
        match self.way {
            Way::PgPassword => {
                command.env("PGPASSWORD", PASSWORD);
            }
            Way::PgPassFile => {
                command.env("PGPASSFILE", self.pgpass_file());
            }
            Way::ServiceFile => {
                command.env("PGSERVICEFILE", self.service_file());
            }
            _ => {}
        }
        let toml = self.project.path().join("retort.toml");
        match (self.way, database) {
            (Way::DatabaseUrlEnv, Some(db)) => {
                command.env("DATABASE_URL", db);
            }
            (Way::RetortToml, Some(db)) => std::fs::write(
                &toml,
                format!("{}\ndatabase_url = \"{db}\"\n", self.retort_toml),
            )
            .expect("retort.toml"),
            (Way::RetortToml, None) => std::fs::write(&toml, &self.retort_toml).expect("toml"),
            (_, Some(db)) => {
                command.args(["--database-url", db]);
            }
            (_, None) => {}
        }
        command.args(args);
        let run = Run::from(command.output().expect("run retort"));
        let what = format!("{:?}: {label} (retort {})", self.way, args.join(" "));
        self.outputs
            .push((format!("{what} stdout"), run.stdout.clone()));
        self.outputs
            .push((format!("{what} stderr"), run.stderr.clone()));
        assert_eq!(
            run.code, code,
            "{what}: expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            run.stdout, run.stderr
        );
        run
    }

    /// Searches every output and every file left in the project and the case's
    /// directory (but the inputs that hold the password on purpose); panics listing
    /// each leak.
    fn assert_no_password(mut self) {
        let mut files = Vec::new();
        walk(self.project.path(), &mut files);
        walk(self.files.path(), &mut files);
        assert!(
            !files.is_empty(),
            "the project holds at least its revisions"
        );
        for file in files {
            if self.inputs.contains(&file) {
                continue;
            }
            let text =
                String::from_utf8_lossy(&std::fs::read(&file).expect("read file")).into_owned();
            self.outputs
                .push((format!("{:?}: file {}", self.way, file.display()), text));
        }
        let leaks: Vec<String> = self
            .outputs
            .iter()
            .filter(|(_, text)| text.contains(PASSWORD))
            .map(|(what, text)| {
                let lines: Vec<&str> = text.lines().filter(|l| l.contains(PASSWORD)).collect();
                format!("{what}:\n  {}", lines.join("\n  "))
            })
            .collect();
        assert!(
            leaks.is_empty(),
            "the password was printed or written:\n{}",
            leaks.join("\n")
        );
    }
}

/// Every file under `dir`, recursively.
fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            walk(&path, found);
        } else {
            found.push(path);
        }
    }
}

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

/// Two good revisions, then one with a SQL error; a model the database lacks.
fn chain(project: &Project) {
    let revisions = [
        ("create a", "CREATE TABLE a (id int);", "DROP TABLE a;"),
        ("create b", "CREATE TABLE b (id int);", "DROP TABLE b;"),
        ("broken c", "CREATE TABLEX c (id int);", "DROP TABLE c;"),
    ];
    for (i, (message, upgrade, downgrade)) in revisions.into_iter().enumerate() {
        let number = i as u32 + 1;
        let parent = (number > 1).then(|| rev_id(number - 1));
        write_revision(
            &project.versions(),
            &Rev {
                number,
                parents: &parent.iter().map(String::as_str).collect::<Vec<_>>(),
                message,
                upgrade,
                downgrade: Some(downgrade),
                non_transactional: false,
            },
        );
    }
    std::fs::write(
        project.path().join("models").join("10_users.sql"),
        "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);\n",
    )
    .expect("write model");
    project.run(&["rehash"]).ok();
}

/// A plain SQL dump whose second statement fails (psql reports it), and a custom-format
/// archive cut short (pg_restore reports it).
fn broken_dumps(case: &Case, good: &TestDb) -> (PathBuf, PathBuf) {
    let plain = case.file("broken.sql");
    std::fs::write(
        &plain,
        "CREATE TABLE ok (id int);\nCREATE TABLE broken (id nosuchtype);\n",
    )
    .expect("write dump");
    let full = case.file("full.dump");
    good.execute(
        "CREATE TABLE filler AS SELECT g AS id, md5(g::text) AS t FROM generate_series(1, 2000) g",
    )
    .expect("filler");
    crate::support::pg_dump(&good.url, "custom", &full);
    let bytes = std::fs::read(&full).expect("read dump");
    let cut = case.file("cut.dump");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write cut dump");
    std::fs::remove_file(&full).expect("remove full dump");
    (plain, cut)
}

/// The commands that read the database from the default places (so also from
/// DATABASE_URL and retort.toml).
fn database_commands(case: &mut Case, db: &TestDb) {
    let url = case.conn(&db.name);
    let url = Some(url.as_str());
    let (r1, r2) = (rev_id(1), rev_id(2));
    case.run("current, empty", url, &["current"], 0);
    case.run("current --json", url, &["--json", "current"], 0);
    case.run("history", url, &["-v", "history"], 0);
    case.run("upgrade --sql", url, &["upgrade", "--sql"], 0);
    case.run("upgrade --json", url, &["--json", "upgrade", &r1], 0);
    case.run("upgrade -v", url, &["-v", "upgrade", &r2], 0);
    let failed = case.run("upgrade, SQL error", url, &["upgrade"], 3);
    assert!(failed.stderr.contains("TABLEX"), "{}", failed.stderr);
    case.run("upgrade --json, SQL error", url, &["--json", "upgrade"], 3);
    case.run("upgrade -v, SQL error", url, &["-v", "upgrade"], 3);
    let current = case.run("current -v", url, &["-v", "current"], 0);
    assert!(current.stdout.contains(&r2), "{}", current.stdout);
    case.run("verify", url, &["verify"], 0);
    case.run("verify --json", url, &["--json", "-v", "verify"], 0);
    case.run("downgrade", url, &["-v", "downgrade", "-1"], 0);
    case.run("upgrade again", url, &["upgrade", &r2], 0);
    case.run("stamp", url, &["-v", "stamp", &r2], 0);
    case.run("lint the pending revision", url, &["-v", "lint"], 1);
    let printed = case.run("dump-schema", url, &["dump-schema"], 0);
    case.run(
        "dump-schema --json",
        url,
        &["-v", "dump-schema", "--format", "json"],
        0,
    );
    let out = case.file("schema.txt");
    case.run(
        "dump-schema -o",
        url,
        &["dump-schema", "-o", out.to_str().expect("path")],
        0,
    );
    assert_eq!(
        std::fs::read_to_string(&out).expect("dump-schema -o wrote the file"),
        printed.stdout
    );

    // Connection errors: a database that does not exist, a port where nothing listens.
    let missing = case.conn("no_such_database_secrets");
    let missing = Some(missing.as_str());
    let refused = case.run("no such database", missing, &["current"], 3);
    assert!(
        refused.stderr.contains("no_such_database_secrets"),
        "{}",
        refused.stderr
    );
    case.run("no such database -v", missing, &["-v", "upgrade"], 3);
    case.run(
        "no such database --json",
        missing,
        &["--json", "current"],
        3,
    );
    case.run(
        "no such database, dump-schema",
        missing,
        &["dump-schema"],
        3,
    );
    let down = case.conn_at(&db.name, 1);
    let down = Some(down.as_str());
    let unreachable = case.run("unreachable", down, &["current"], 3);
    assert!(unreachable.stderr.contains(":1"), "{}", unreachable.stderr);
    case.run(
        "unreachable -v --json",
        down,
        &["-v", "--json", "upgrade"],
        3,
    );
    case.run("unreachable, verify", down, &["verify"], 3);
}

/// The commands that take a database as an argument of their own: diff, check,
/// scratch servers, test-migration in place and from dumps, restore-dump, fleet.
fn argument_commands(case: &mut Case, db: &TestDb) {
    let url = case.conn(&db.name);
    let scratch = case.conn(scratch_database());
    let on_scratch = ["--scratch", "server", "--scratch-url", scratch.as_str()];

    // diff, a database against the models (on a scratch database) and against itself.
    let mut args = vec!["diff", "--from", url.as_str(), "--to", "models"];
    args.extend(on_scratch);
    let diff = case.run("diff database → models", None, &args, 0);
    assert!(diff.stdout.contains("users"), "{}", diff.stdout);
    let mut args = vec!["-v", "--json", "diff", "--from", url.as_str()];
    args.extend(on_scratch);
    case.run("diff --json -v", None, &args, 0);
    let mut args = vec!["diff", "--from", url.as_str(), "--to", "rev:head"];
    args.extend(on_scratch);
    case.run("diff → the broken head", None, &args, 3);
    case.run(
        "diff database → database",
        None,
        &["diff", "--from", &url, "--to", &url, "--exit-code"],
        0,
    );
    let missing = case.conn("no_such_database_secrets");
    case.run(
        "diff, no such database",
        None,
        &["-v", "diff", "--from", &missing, "--to", &url],
        3,
    );

    // check: drift of a live database from the models.
    let mut args = vec!["check", "--from-database", url.as_str()];
    args.extend(on_scratch);
    case.run("check --from-database", None, &args, 1);
    let mut args = vec!["-v", "--json", "check", "--from-database", url.as_str()];
    args.extend(on_scratch);
    case.run("check --from-database --json", None, &args, 1);

    // test-migration in place, on a database of its own; the broken revision fails.
    let inplace = TestDb::new("secrets_inplace");
    let inplace_url = case.conn(&inplace.name);
    let junit = case.file("junit.xml");
    let junit_arg = junit.to_str().expect("path");
    let run = case.run(
        "test-migration in place",
        Some(&inplace_url),
        &[
            "--json",
            "test-migration",
            "--each",
            "--keep-going",
            "--format",
            "junit",
            junit_arg,
        ],
        1,
    );
    assert!(run.stdout.contains("TABLEX"), "{}", run.stdout);
    assert!(
        std::fs::read_to_string(&junit).is_ok_and(|x| x.contains("TABLEX")),
        "the JUnit report names the failure"
    );
    case.run(
        "test-migration in place -v",
        Some(&inplace_url),
        &["-v", "test-migration", "-r", &format!(":{}", rev_id(2))],
        0,
    );
    case.run(
        "test-migration, chain on a scratch database",
        None,
        &[&["-v", "test-migration", "--each"][..], &on_scratch].concat(),
        1,
    );

    // test-migration from dumps that fail to restore: psql's and pg_restore's errors.
    let (plain, cut) = broken_dumps(case, db);
    let (plain, cut) = (plain.to_str().expect("path"), cut.to_str().expect("path"));
    let run = case.run(
        "test-migration --from-dump, psql error",
        None,
        &[
            &["-v", "test-migration", "--from-dump", plain][..],
            &on_scratch,
        ]
        .concat(),
        3,
    );
    assert!(run.stderr.contains("nosuchtype"), "{}", run.stderr);
    let run = case.run(
        "test-migration --from-dump, pg_restore error",
        None,
        &[
            &["-v", "test-migration", "--from-dump", cut][..],
            &on_scratch,
        ]
        .concat(),
        3,
    );
    assert!(run.stderr.contains("pg_restore"), "{}", run.stderr);
    case.run(
        "test-migration --from-dump --json",
        None,
        &[
            &["--json", "test-migration", "--from-dump", plain][..],
            &on_scratch,
        ]
        .concat(),
        3,
    );

    // restore-dump into an empty database: psql's and pg_restore's errors.
    let target = TestDb::new("secrets_restore");
    let target_url = case.conn(&target.name);
    let run = case.run(
        "restore-dump, psql error",
        Some(&target_url),
        &["-v", "restore-dump", plain],
        3,
    );
    assert!(run.stderr.contains("nosuchtype"), "{}", run.stderr);
    let target = TestDb::new("secrets_restore_cut");
    let target_url = case.conn(&target.name);
    let run = case.run(
        "restore-dump, pg_restore error",
        Some(&target_url),
        &["--json", "restore-dump", cut],
        3,
    );
    assert!(run.stderr.contains("pg_restore"), "{}", run.stderr);
    case.run(
        "restore-dump, no such database",
        Some(&missing),
        &["restore-dump", plain],
        3,
    );

    // fleet: a good target (stops at the broken revision), a missing database, a port
    // where nothing listens; events and metrics files.
    let fleet_db = TestDb::new("secrets_fleet");
    let targets = case.file("targets.toml");
    std::fs::write(
        &targets,
        format!(
            "[[targets]]\nname = \"good\"\nurl = \"{}\"\n\n\
             [[targets]]\nname = \"missing\"\nurl = \"{}\"\n\n\
             [[targets]]\nname = \"down\"\nurl = \"{}\"\n",
            case.conn(&fleet_db.name),
            missing,
            case.conn_at(&fleet_db.name, 1),
        ),
    )
    .expect("targets.toml");
    case.inputs.push(targets.clone());
    let events = case.file("events.jsonl");
    let metrics = case.file("fleet.prom");
    let fleet = |verbosity: &'static str| -> Vec<String> {
        [
            verbosity,
            "fleet",
            "upgrade",
            "--targets",
            targets.to_str().expect("path"),
            "--events",
            events.to_str().expect("path"),
            "--metrics",
            metrics.to_str().expect("path"),
            "--retries",
            "0",
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let args = fleet("--json");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = case.run("fleet upgrade --json", None, &args, 1);
    assert_eq!(run.json()["targets"].as_array().map(Vec::len), Some(3));
    let args = fleet("-v");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    case.run("fleet upgrade -v", None, &args, 1);
    let events_text = std::fs::read_to_string(&events).expect("events file");
    assert!(
        events_text.contains("no_such_database_secrets") && events_text.contains("TABLEX"),
        "the events name the failures:\n{events_text}"
    );
    assert!(metrics.is_file(), "the metrics file is written");
    let status = [
        "fleet",
        "status",
        "--targets",
        targets.to_str().expect("path"),
        "--events",
        events.to_str().expect("path"),
    ];
    case.run("fleet status", None, &status, 3);
    case.run(
        "fleet status --json",
        None,
        &[&["--json", "-v"][..], &status].concat(),
        3,
    );

    let dry = [
        "fleet",
        "upgrade",
        "--dry-run",
        "--retries",
        "0",
        "--targets",
        targets.to_str().expect("path"),
    ];
    case.run("fleet upgrade --dry-run", None, &dry, 1);
    let stamp = [
        "-v",
        "fleet",
        "stamp",
        &rev_id(1),
        "--all",
        "--retries",
        "0",
        "--targets",
        targets.to_str().expect("path"),
    ];
    case.run("fleet stamp", None, &stamp, 1);

    // fleet over the tenant schemas of the control database.
    fleet_db
        .execute("CREATE SCHEMA tenant_a; CREATE SCHEMA tenant_b;")
        .expect("tenant schemas");
    let fleet_url = case.conn(&fleet_db.name);
    case.run(
        "fleet --schemas",
        Some(&fleet_url),
        &["--json", "fleet", "upgrade", "--schemas", "tenant%"],
        1,
    );

    // fleet with targets from a query on a control database: the URLs come from rows.
    let query = format!(
        "SELECT 'queried' AS name, '{}' AS url",
        case.conn(&fleet_db.name)
    );
    case.run(
        "fleet --targets-query",
        Some(&url),
        &[
            "-v",
            "fleet",
            "upgrade",
            "--targets-query",
            &query,
            "--retries",
            "0",
        ],
        1,
    );
}

/// Commands that write new files: adopting a database into a new project, and a
/// revision autogenerated from the difference between a database and the models.
fn writing_commands(case: &mut Case, db: &TestDb) {
    let url = case.conn(&db.name);
    let scratch = case.conn(scratch_database());
    let on_scratch = ["--scratch", "server", "--scratch-url", scratch.as_str()];
    let adopted = case.file("adopted");
    let adopted = adopted.to_str().expect("path");
    case.run(
        "init --from-database",
        None,
        &[
            &["-v", "init", adopted, "--from-database", &url][..],
            &on_scratch,
        ]
        .concat(),
        0,
    );
    let run = case.run(
        "new-migration --autogenerate --from-database",
        None,
        &[
            &[
                "-v",
                "new-migration",
                "-m",
                "users",
                "--autogenerate",
                "--from-database",
                &url,
            ][..],
            &on_scratch,
        ]
        .concat(),
        0,
    );
    assert!(run.stdout.contains(".sql"), "{}", run.stdout);
    let mut args = vec!["lint", "--all", "--observe"];
    args.extend(on_scratch);
    case.run("lint --observe", None, &args, 3);
}

/// The scratch server's maintenance database: the test server's.
fn scratch_database() -> &'static str {
    let url = admin_url();
    let name = url.rsplit('/').next().expect("dbname");
    name.split('?').next().expect("dbname")
}

fn all_commands(way: Way) {
    let mut case = Case::new(way);
    let db = TestDb::new("secrets");
    database_commands(&mut case, &db);
    if !way.implicit() {
        argument_commands(&mut case, &db);
        writing_commands(&mut case, &db);
    }
    case.assert_no_password();
}

#[test]
fn password_in_the_url() {
    all_commands(Way::Url);
}

#[test]
fn password_in_a_conninfo_string() {
    all_commands(Way::Conninfo);
}

#[test]
fn password_in_pgpassword() {
    all_commands(Way::PgPassword);
}

#[test]
fn password_in_a_password_file() {
    all_commands(Way::PgPassFile);
}

#[test]
fn password_in_a_service_file() {
    all_commands(Way::ServiceFile);
}

#[test]
fn password_in_database_url() {
    all_commands(Way::DatabaseUrlEnv);
}

#[test]
fn password_in_retort_toml() {
    all_commands(Way::RetortToml);
}

/// Runs retort in `dir` with `envs`, `RUST_BACKTRACE=1`; checks the exit code and that
/// neither stream holds the password.
#[track_caller]
fn run_clean(dir: &Path, envs: &[(&str, &str)], args: &[&str], code: i32) -> Run {
    let mut command = retort(dir);
    command
        .env("RUST_BACKTRACE", "1")
        .envs(envs.iter().copied());
    let run = Run::from(command.args(args).output().expect("run retort"));
    assert_eq!(
        run.code, code,
        "retort {args:?}: expected exit {code}\nstdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert!(
        !run.stdout.contains(PASSWORD) && !run.stderr.contains(PASSWORD),
        "retort {args:?} printed the password:\nstdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    run
}

/// A malformed retort.toml or .env is reported by place, never by quoting the line:
/// the line may be the database URL with its password.
#[test]
fn malformed_configuration_files_are_reported_without_their_lines() {
    let case = Case::new(Way::Url);
    let dir = case.project.path();
    let url = case.conn("whatever");
    let toml = dir.join("retort.toml");
    let original = std::fs::read_to_string(&toml).expect("retort.toml");
    let line = original.lines().count() + 1;
    for (what, bad) in [
        ("trailing garbage", format!("database_url = \"{url}\" x\n")),
        (
            "a duplicate key",
            format!("database_url = \"{url}\"\ndatabase_url = \"{url}\"\n"),
        ),
        ("a wrong type", format!("database_url = [\"{url}\"]\n")),
        (
            "an unterminated string",
            format!("database_url = \"{url}\n"),
        ),
        (
            "a URL where a table belongs",
            format!("[env]\nprod = \"{url}\"\n"),
        ),
    ] {
        std::fs::write(&toml, format!("{original}{bad}")).expect("write retort.toml");
        let run = run_clean(dir, &[], &["current"], 2);
        // The duplicate, and the URL under [env], are on the line after.
        let named = [line, line + 1]
            .iter()
            .any(|n| run.stderr.contains(&format!("retort.toml: line {n},")));
        assert!(
            named,
            "{what}: the error names the file and line:\n{}",
            run.stderr
        );
    }
    std::fs::write(&toml, &original).expect("restore retort.toml");

    let env_file = dir.join(".env");
    for (what, bad, named) in [
        (
            "a stray quote",
            format!("DATABASE_URL={url}'\n"),
            "DATABASE_URL",
        ),
        (
            "an unterminated quote",
            format!("export DATABASE_URL=\"{url}\nA=1\n"),
            "DATABASE_URL",
        ),
        ("a bare word", format!("A=1\n{PASSWORD}\n"), "a line"),
    ] {
        std::fs::write(&env_file, bad).expect("write .env");
        let run = run_clean(dir, &[], &["current"], 2);
        assert!(
            run.stderr.contains(".env") && run.stderr.contains(named),
            "{what}: the error names the file and the variable:\n{}",
            run.stderr
        );
    }
    // A well-formed .env is read, and the run says where the URL came from.
    let db = TestDb::new("secrets_dotenv");
    std::fs::write(&env_file, format!("DATABASE_URL={}\n", case.conn(&db.name)))
        .expect("write .env");
    let run = run_clean(dir, &[], &["-v", "upgrade", &rev_id(2)], 0);
    assert!(run.stderr.contains("DATABASE_URL"), "{}", run.stderr);
    assert_eq!(db.texts("SELECT revision FROM retort_version"), [rev_id(2)]);
    std::fs::remove_file(&env_file).expect("remove .env");

    // An environment of retort.toml taking its URL from a variable.
    std::fs::write(
        &toml,
        format!("{original}\n[env.prod]\ndatabase_url_env = \"PROD_URL\"\n"),
    )
    .expect("write retort.toml");
    let prod = case.conn(&db.name);
    let run = run_clean(
        dir,
        &[("PROD_URL", &prod)],
        &["--env", "prod", "-v", "current"],
        0,
    );
    assert!(run.stdout.contains(&rev_id(2)), "{}", run.stdout);
}

/// The fleet's inputs that hold URLs: a targets file with a broken entry, a targets
/// query returning a bad URL.
#[test]
fn broken_fleet_targets_are_reported_without_the_password() {
    let case = Case::new(Way::Url);
    let dir = case.project.path();
    let db = TestDb::new("secrets_inputs");

    let targets = case.file("targets.toml");
    let url = case.conn(&db.name);
    for (what, text) in [
        (
            "a bad setting in the URL",
            format!("[[targets]]\nname = \"a\"\nurl = \"{url}?sslmode=bogus\"\n"),
        ),
        (
            "trailing garbage",
            format!("[[targets]]\nname = \"a\"\nurl = \"{url}\" x\n"),
        ),
        (
            "a wrong type",
            format!("[[targets]]\nname = \"a\"\nurl = [\"{url}\"]\n"),
        ),
        (
            "a URL where a list belongs",
            format!("[[targets]]\nname = \"a\"\nlabels = \"{url}\"\n"),
        ),
        (
            "both url and url_env",
            format!("[[targets]]\nname = \"a\"\nurl = \"{url}\"\nurl_env = \"X\"\n"),
        ),
    ] {
        std::fs::write(&targets, text).expect("write targets.toml");
        let run = run_clean(
            dir,
            &[],
            &[
                "fleet",
                "upgrade",
                "--targets",
                targets.to_str().expect("path"),
            ],
            2,
        );
        assert!(
            run.stderr.contains("targets.toml:"),
            "{what}: the error names the file and line:\n{}",
            run.stderr
        );
    }

    let query = format!("SELECT 'a' AS name, '{url}?sslmode=bogus' AS url");
    let run = run_clean(
        dir,
        &[],
        &[
            "--database-url",
            &url,
            "fleet",
            "upgrade",
            "--targets-query",
            &query,
        ],
        2,
    );
    assert!(run.stderr.contains("sslmode"), "{}", run.stderr);
}

/// A password with characters a URL must percent-encode appears in neither form.
#[test]
fn a_percent_encoded_password_is_printed_in_neither_form() {
    let case = Case::new(Way::Url);
    let dir = case.project.path();
    let db = TestDb::new("secrets_encoded");
    let (encoded, decoded) = ("Zq9SECRET%40pw%3A77%2Fx%20y", "Zq9SECRET@pw:77/x y");
    let url_of = |dbname: &str, port: u16| {
        format!(
            "postgres://postgres:{encoded}@{}:{port}/{dbname}",
            case.host
        )
    };
    let url = url_of(&db.name, case.port);
    let dump = case.file("broken.sql");
    std::fs::write(&dump, "CREATE TABLE broken (id nosuchtype);\n").expect("write dump");
    let scratch = url_of(scratch_database(), case.port);
    let (missing, down, r2) = (
        url_of("no_such_database_secrets", case.port),
        url_of(&db.name, 1),
        rev_id(2),
    );
    let runs = [
        (vec!["--database-url", &url, "-v", "upgrade", &r2], 0),
        (vec!["--database-url", &url, "-v", "upgrade"], 3),
        (vec!["--database-url", &missing, "current"], 3),
        (vec!["--database-url", &down, "--json", "current"], 3),
        (
            vec![
                "-v",
                "test-migration",
                "--from-dump",
                dump.to_str().expect("path"),
                "--scratch",
                "server",
                "--scratch-url",
                &scratch,
            ],
            3,
        ),
    ];
    for (args, code) in runs {
        let run = run_clean(dir, &[], &args, code);
        for text in [&run.stdout, &run.stderr] {
            assert!(
                !text.contains("Zq9SECRET") && !text.contains(decoded) && !text.contains(encoded),
                "retort {args:?} printed the password:\n{text}"
            );
        }
    }
    assert_eq!(db.texts("SELECT revision FROM retort_version"), [rev_id(2)]);
}
