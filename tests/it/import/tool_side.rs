//! The tool's side: its migrations applied and its version table filled the way the
//! tool itself does (psql for the SQL-file tools, Alembic online).

use std::path::PathBuf;
use std::process::Command;

use super::fixtures::{fixture, test_python, Runner, Spec, Step};
use crate::support::{pg_program, Run, TestDb};

/// The up SQL of a migration file of `tool`.
fn up_sql(tool: &str, text: &str) -> String {
    match tool {
        "dbmate" => section(text, "-- migrate:up", "-- migrate:down"),
        "goose" => section(text, "-- +goose Up", "-- +goose Down"),
        _ => text.to_owned(),
    }
}

/// The lines after the line starting with `start`, up to the one starting with `stop`.
fn section(text: &str, start: &str, stop: &str) -> String {
    let mut out = String::new();
    let mut on = false;
    for line in text.lines() {
        if line.starts_with(start) {
            on = true;
        } else if line.starts_with(stop) {
            on = false;
        } else if on {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(!out.trim().is_empty(), "no `{start}` section in:\n{text}");
    out
}

/// Runs psql on `url`: `sql` from a file (in one transaction when `transactional`), or
/// as one query string.
fn psql(url: &str, sql: &str, transactional: bool, one_query: bool) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new(pg_program("psql"));
    cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url]);
    if one_query {
        cmd.arg("-c").arg(sql);
    } else {
        let file = tmp.path().join("step.sql");
        std::fs::write(&file, sql).expect("write step.sql");
        if transactional {
            cmd.arg("--single-transaction");
        }
        cmd.arg("-f").arg(&file);
    }
    let run = Run::from(cmd.output().expect("run psql"));
    assert_eq!(
        run.code, 0,
        "psql failed on:\n{sql}\nstdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
}

/// Applies migration `step` of `spec` to the database at `url` the way the tool does.
pub(super) fn apply_tool_step(spec: &Spec, step: &Step, url: &str, alembic: Option<&AlembicEnv>) {
    match spec.runner {
        Runner::Alembic => alembic
            .expect("an Alembic environment")
            .upgrade(step.source),
        runner => {
            let path = fixture(spec.tool).join(step.file);
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            psql(
                url,
                &up_sql(spec.tool, &text),
                step.transactional,
                runner == Runner::OneQuery,
            );
        }
    }
}

/// The Alembic project of the fixture, pointed at one database: a copy of alembic.ini
/// naming that database and the fixture's script directory.
pub(super) struct AlembicEnv {
    _tmp: tempfile::TempDir,
    ini: PathBuf,
    python: String,
}

impl AlembicEnv {
    pub(super) fn new(url: &str) -> AlembicEnv {
        let python = test_python();
        let tmp = tempfile::tempdir().expect("temp dir");
        let source = fixture("alembic");
        let text = std::fs::read_to_string(source.join("alembic.ini")).expect("alembic.ini");
        let scripts = source.join("migrations");
        let sa_url = sqlalchemy_url(url).replace('%', "%%");
        let ini_text: String = text
            .lines()
            .map(|line| {
                if line.starts_with("script_location") {
                    format!("script_location = {}", scripts.display())
                } else if line.starts_with("sqlalchemy.url") {
                    format!("sqlalchemy.url = {sa_url}")
                } else {
                    line.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let ini = tmp.path().join("alembic.ini");
        std::fs::write(&ini, ini_text + "\n").expect("write alembic.ini");
        AlembicEnv {
            _tmp: tmp,
            ini,
            python,
        }
    }

    fn alembic(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(&self.python);
        cmd.arg("-m")
            .arg("alembic")
            .arg("-c")
            .arg(&self.ini)
            .args(args)
            // Leave no __pycache__ in the fixture.
            .env("PYTHONDONTWRITEBYTECODE", "1");
        if let Ok(ca) = std::env::var("TEST_PG_CA") {
            cmd.env("PGSSLROOTCERT", ca);
        }
        Run::from(
            cmd.output()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.python)),
        )
    }

    fn upgrade(&self, revision: &str) {
        let run = self.alembic(&["upgrade", revision]);
        assert_eq!(
            run.code, 0,
            "alembic upgrade {revision}\nstdout:\n{}\nstderr:\n{}",
            run.stdout, run.stderr
        );
    }
}

/// The test server's URL for SQLAlchemy's psycopg2 driver; query parameters (sslmode
/// and the like) are kept, libpq reads them.
fn sqlalchemy_url(url: &str) -> String {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .unwrap_or_else(|| panic!("not a postgres:// URL: {url}"));
    format!("postgresql+psycopg2://{rest}")
}

// ---------------------------------------------------------------------------
// The tool's version table, as the tool creates and fills it
// ---------------------------------------------------------------------------

/// The tool's DDL for its version table named `table` (in the search_path), and the
/// rows saying that `applied` (in order) ran.
fn tool_table_sql(tool: &str, table: &str, applied: &[&Step]) -> String {
    let mut sql = String::new();
    match tool {
        "flyway" => {
            sql.push_str(&format!(
                "CREATE TABLE \"{table}\" (
                    installed_rank INT NOT NULL,
                    version VARCHAR(50),
                    description VARCHAR(200) NOT NULL,
                    type VARCHAR(20) NOT NULL,
                    script VARCHAR(1000) NOT NULL,
                    checksum INTEGER,
                    installed_by VARCHAR(100) NOT NULL,
                    installed_on TIMESTAMP NOT NULL DEFAULT now(),
                    execution_time INTEGER NOT NULL,
                    success BOOLEAN NOT NULL
                );
                ALTER TABLE \"{table}\" ADD CONSTRAINT \"{table}_pk\" PRIMARY KEY (installed_rank);
                CREATE INDEX \"{table}_s_idx\" ON \"{table}\" (success);\n"
            ));
            for (rank, step) in applied.iter().enumerate() {
                let description = step
                    .file
                    .split_once("__")
                    .map_or("", |(_, d)| d.trim_end_matches(".sql"))
                    .replace('_', " ");
                sql.push_str(&format!(
                    "INSERT INTO \"{table}\" (installed_rank, version, description, type, script, \
                     checksum, installed_by, execution_time, success) \
                     VALUES ({}, '{}', '{description}', 'SQL', '{}', {}, 'postgres', 12, true);\n",
                    rank + 1,
                    step.source,
                    step.file,
                    -1_234_567 + rank as i64
                ));
            }
        }
        "dbmate" => {
            sql.push_str(&format!(
                "CREATE TABLE IF NOT EXISTS \"{table}\" (version varchar(128) primary key);\n"
            ));
            for step in applied {
                sql.push_str(&format!(
                    "INSERT INTO \"{table}\" (version) VALUES ('{}');\n",
                    step.source
                ));
            }
        }
        "golang-migrate" => {
            // One row: the version the database is at.
            sql.push_str(&format!(
                "CREATE TABLE IF NOT EXISTS \"{table}\" (version bigint not null primary key, dirty boolean not null);\n"
            ));
            if let Some(last) = applied.last() {
                sql.push_str(&format!(
                    "INSERT INTO \"{table}\" (version, dirty) VALUES ({}, false);\n",
                    last.source
                ));
            }
        }
        "goose" => {
            sql.push_str(&format!(
                "CREATE TABLE \"{table}\" (
                    id serial NOT NULL,
                    version_id bigint NOT NULL,
                    is_applied boolean NOT NULL,
                    tstamp timestamp NULL default now(),
                    PRIMARY KEY(id)
                );
                INSERT INTO \"{table}\" (version_id, is_applied) VALUES (0, true);\n"
            ));
            for step in applied {
                sql.push_str(&format!(
                    "INSERT INTO \"{table}\" (version_id, is_applied) VALUES ({}, true);\n",
                    step.source
                ));
            }
        }
        "sqlx" => {
            sql.push_str(&format!(
                "CREATE TABLE IF NOT EXISTS \"{table}\" (
                    version BIGINT PRIMARY KEY,
                    description TEXT NOT NULL,
                    installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),
                    success BOOLEAN NOT NULL,
                    checksum BYTEA NOT NULL,
                    execution_time BIGINT NOT NULL
                );\n"
            ));
            for step in applied {
                let description = step
                    .file
                    .split_once('_')
                    .map_or("", |(_, d)| d.split('.').next().unwrap_or(""))
                    .replace('_', " ");
                sql.push_str(&format!(
                    "INSERT INTO \"{table}\" (version, description, success, checksum, execution_time) \
                     VALUES ({}, '{description}', true, sha256(convert_to('{}', 'UTF8')), 3071000);\n",
                    step.source, step.file
                ));
            }
        }
        other => panic!("no version table for {other}"),
    }
    sql
}

/// A fresh database where the tool applied `spec.steps[..upto]` and recorded them in its
/// version table (named `table`), as the tool would have.
pub(super) fn tool_database(spec: &Spec, upto: usize, table: &str) -> TestDb {
    let db = TestDb::new("import_stamp");
    let alembic = (spec.runner == Runner::Alembic).then(|| AlembicEnv::new(&db.url));
    for step in &spec.steps[..upto] {
        apply_tool_step(spec, step, &db.url, alembic.as_ref());
    }
    if spec.runner != Runner::Alembic {
        let applied: Vec<&Step> = spec.steps[..upto].iter().collect();
        db.execute(&tool_table_sql(spec.tool, table, &applied))
            .expect("the tool's version table");
    }
    db
}
