//! Running `pg_restore` and `psql` on a dump. The programs get the target's libpq
//! environment and none of ours: an inherited `PGHOSTADDR`, `PGSERVICE` or `PGOPTIONS`
//! meant for production must never reach them. Their messages are kept untranslated,
//! since [`super::stderr`] parses them.

use std::ffi::OsString;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use super::classify::{classify, Outcome};
use super::locate::fill_statements;
use super::stderr::{parse_pg_restore, parse_psql, PgRestoreErrors};
use super::{toc, ClientPrograms, DumpInfo, RestoreError, RestoreJobs, RestoreReport};
use crate::db::ConnInfo;

/// Lines of a failed program's stderr repeated in the error.
const OUTPUT_LINES: usize = 20;

/// A command for a client program with a clean environment: the target's libpq settings
/// (when given) and untranslated messages, since stderr is parsed.
pub(super) fn client_command(program: &Path, conn: Option<&ConnInfo>) -> Command {
    let mut command = Command::new(program);
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(|k| k.starts_with("PG")) {
            command.env_remove(key);
        }
    }
    command
        .env_remove("LC_ALL")
        .env_remove("LANGUAGE")
        .env("LC_MESSAGES", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(conn) = conn {
        command.envs(conn.libpq_env());
        command.env("PGAPPNAME", "retort restore");
    }
    command
}

/// A path as a program argument: one starting with `-` would be taken for an option (and
/// `-` alone for stdin).
pub(super) fn file_arg(path: &Path) -> OsString {
    if path.as_os_str().to_string_lossy().starts_with('-') {
        Path::new(".").join(path).into_os_string()
    } else {
        path.as_os_str().to_owned()
    }
}

pub(super) fn run(
    command: &mut Command,
    program: &Path,
    action: &str,
) -> Result<Output, RestoreError> {
    command.output().map_err(|source| RestoreError::Program {
        program: program.to_owned(),
        action: action.to_owned(),
        source,
    })
}

pub(super) fn status_text(output: &Output) -> String {
    match output.status.code() {
        Some(code) => format!("exit status {code}"),
        None => format!("{}", output.status),
    }
}

/// The error lines of a program's stderr (with what follows them), or its last lines
/// when none is marked as an error.
pub(super) fn error_lines(stderr: &str, prefix: &str) -> String {
    let mut kept = Vec::new();
    let mut in_error = false;
    for line in stderr.lines() {
        if let Some(rest) = line.strip_prefix(prefix) {
            in_error = ["error:", "detail:", "hint:", "ERROR:", "FATAL:"]
                .iter()
                .any(|marker| rest.contains(marker));
        }
        if in_error && !line.trim().is_empty() {
            kept.push(line);
        }
    }
    if kept.is_empty() {
        kept = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    }
    let from = kept.len().saturating_sub(OUTPUT_LINES);
    let tail = kept[from..].join("\n");
    if tail.is_empty() {
        "(no message)".to_owned()
    } else {
        tail
    }
}

/// Restores `info` into the (empty) database `conn`, tolerating role noise, with as many
/// pg_restore jobs as `jobs` says (see [`RestoreJobs`]).
pub fn restore(
    info: &DumpInfo,
    conn: &ConnInfo,
    programs: &ClientPrograms,
    jobs: RestoreJobs,
) -> Result<RestoreReport, RestoreError> {
    let started = Instant::now();
    let parallel = info.format.restores_in_parallel();
    let size = if parallel {
        archive_bytes(&info.path)
    } else {
        0
    };
    let jobs = toc::choose_jobs(jobs, parallel, size, toc::cores());
    let (program, outcome) = if !info.format.is_archive() {
        (
            programs.psql.as_path(),
            restore_plain(info, conn, programs)?,
        )
    } else if jobs == 1 {
        let parsed = run_pg_restore(info, conn, programs, &[])?;
        let counted = parsed.ignored.unwrap_or(0);
        (
            programs.pg_restore.as_path(),
            classify(parsed.errors, counted),
        )
    } else {
        (
            programs.pg_restore.as_path(),
            restore_parallel(info, conn, programs, jobs)?,
        )
    };
    if outcome.real_total > 0 {
        return Err(RestoreError::Errors {
            path: info.path.clone(),
            database: conn.dbname().to_owned(),
            program: program.to_owned(),
            total: outcome.real_total,
            shown: outcome.shown,
            skipped: outcome.skipped.len(),
        });
    }
    Ok(RestoreReport {
        skipped: outcome.skipped,
        duration_ms: started.elapsed().as_millis(),
        jobs,
    })
}

/// A plain SQL dump through psql, which goes on past failed statements and names each
/// by its line.
fn restore_plain(
    info: &DumpInfo,
    conn: &ConnInfo,
    programs: &ClientPrograms,
) -> Result<Outcome, RestoreError> {
    let program = programs.psql.as_path();
    let mut command = client_command(program, Some(conn));
    command
        .args(["-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=0", "-f"])
        .arg(file_arg(&info.path));
    let action = format!("restoring {}", info.path.display());
    let output = run(&mut command, program, &action)?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(RestoreError::Failed {
            program: program.to_owned(),
            action,
            database: conn.dbname().to_owned(),
            status: status_text(&output),
            output: error_lines(&stderr, "psql"),
        });
    }
    let mut errors = parse_psql(&stderr);
    fill_statements(&info.path, &mut errors);
    Ok(classify(errors, 0))
}

/// An archive with `jobs` parallel jobs: every entry but the policies in parallel, then
/// the policies with one job (why: [`super::toc`]).
fn restore_parallel(
    info: &DumpInfo,
    conn: &ConnInfo,
    programs: &ClientPrograms,
    jobs: usize,
) -> Result<Outcome, RestoreError> {
    let split = toc::split_list(&list_entries(info, programs)?);
    let parallel_list = write_list(&split.parallel)?;
    let parsed = run_pg_restore(
        info,
        conn,
        programs,
        &[
            format!("--jobs={jobs}").into(),
            "--use-list".into(),
            parallel_list.path().into(),
        ],
    )?;
    // A parallel pg_restore's closing count adds its workers' errors to the leader's
    // more than once (15.x reports 2 for one failed statement), so the errors it printed
    // are the count; a count with none printed is a failure it did not describe (its
    // lines mixed with another worker's), and a failure all the same.
    let counted = match parsed.ignored {
        Some(n) if n > 0 && parsed.errors.is_empty() => 1,
        _ => parsed.errors.len(),
    };
    let mut outcome = classify(parsed.errors, counted);
    if split.serial_entries == 0 {
        return Ok(outcome);
    }
    let serial_list = write_list(&split.serial)?;
    let parsed = run_pg_restore(
        info,
        conn,
        programs,
        &["--use-list".into(), serial_list.path().into()],
    )?;
    let counted = parsed.ignored.unwrap_or(0);
    outcome.absorb(classify(parsed.errors, counted));
    Ok(outcome)
}

/// Runs pg_restore on the archive with `extra` options, and parses what it reports
/// about failed statements; an error when it gave up rather than going on past them.
fn run_pg_restore(
    info: &DumpInfo,
    conn: &ConnInfo,
    programs: &ClientPrograms,
    extra: &[OsString],
) -> Result<PgRestoreErrors, RestoreError> {
    let program = programs.pg_restore.as_path();
    let mut command = client_command(program, Some(conn));
    // --verbose, because only then does pg_restore say which TOC entry failed.
    // Tablespaces and security label providers are the host's, like owners.
    command
        .args([
            "--verbose",
            "--no-owner",
            "--no-acl",
            "--no-subscriptions",
            "--no-tablespaces",
            "--no-security-labels",
            "--no-password",
        ])
        .args(extra)
        .arg("-d")
        .arg(database_arg(conn.dbname()))
        .arg(file_arg(&info.path));
    let action = format!("restoring {}", info.path.display());
    let output = run(&mut command, program, &action)?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let parsed = parse_pg_restore(&stderr);
    // Exit status 1 with the summary line: it went on past failed statements. Anything
    // else (no summary, another status) means it stopped.
    let went_through =
        output.status.success() || (output.status.code() == Some(1) && parsed.ignored.is_some());
    if !went_through {
        return Err(RestoreError::Failed {
            program: program.to_owned(),
            action,
            database: conn.dbname().to_owned(),
            status: status_text(&output),
            output: error_lines(&stderr, "pg_restore: "),
        });
    }
    Ok(parsed)
}

/// `pg_restore -l`: the archive's table of contents, one entry per line.
fn list_entries(info: &DumpInfo, programs: &ClientPrograms) -> Result<String, RestoreError> {
    let program = programs.pg_restore.as_path();
    let mut command = client_command(program, None);
    command
        .stdout(Stdio::piped())
        .arg("--list")
        .arg(file_arg(&info.path));
    let output = run(&mut command, program, "list the archive's contents")?;
    if !output.status.success() {
        return Err(super::format::input_error(
            &info.path,
            format!(
                "{} cannot list its contents ({}): {}",
                program.display(),
                status_text(&output),
                error_lines(&String::from_utf8_lossy(&output.stderr), "pg_restore: ")
            ),
            "the dump may be truncated or damaged: make it again",
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A list of entries for `pg_restore --use-list`, removed when dropped.
fn write_list(list: &str) -> Result<tempfile::NamedTempFile, RestoreError> {
    let failed = |source| RestoreError::TempFile {
        action: "hold the list of entries pg_restore restores".to_owned(),
        source,
    };
    let mut file = tempfile::Builder::new()
        .prefix("retort-restore-")
        .suffix(".list")
        .tempfile()
        .map_err(failed)?;
    file.write_all(list.as_bytes()).map_err(failed)?;
    file.flush().map_err(failed)?;
    Ok(file)
}

/// The size of an archive: the file, or a directory archive's files (its table data,
/// compressed, and toc.dat). Unreadable means 0: the restore then says what is wrong.
fn archive_bytes(path: &Path) -> u64 {
    let Ok(meta) = std::fs::metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter_map(|e| e.metadata().ok())
            .filter(std::fs::Metadata::is_file)
            .map(|m| m.len())
            .sum()
    })
}

/// pg_restore's `-d` is a connection string when it contains `=` or is a URL; a database
/// name that looks like one is passed as `dbname='...'` (the rest still comes from the
/// environment, so no password ever is on the command line).
fn database_arg(dbname: &str) -> String {
    if dbname.contains('=')
        || dbname.starts_with("postgres://")
        || dbname.starts_with("postgresql://")
    {
        format!(
            "dbname='{}'",
            dbname.replace('\\', "\\\\").replace('\'', "\\'")
        )
    } else {
        dbname.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::tests::{program, programs};
    use super::super::{inspect_dump, DumpFormat};
    use super::*;

    #[test]
    fn odd_names_stay_arguments() {
        assert_eq!(file_arg(Path::new("-x.dump")), OsString::from("./-x.dump"));
        assert_eq!(
            file_arg(Path::new("/tmp/x.dump")),
            OsString::from("/tmp/x.dump")
        );
        assert_eq!(database_arg("retort_scratch_a"), "retort_scratch_a");
        assert_eq!(database_arg("a=b'c"), "dbname='a=b\\'c'");
    }

    fn admin() -> ConnInfo {
        let url = std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| {
            panic!(
                "TEST_DATABASE_URL is not set. These tests restore real dumps and need a \
                 PostgreSQL superuser URL: run `make test` (it starts one), or \
                 `export TEST_DATABASE_URL=$(scripts/pg-local.sh start)`"
            )
        });
        ConnInfo::from_env(Some(&url)).expect("TEST_DATABASE_URL is a valid URL")
    }

    /// Runs SQL with psql on `conn`, returning the unaligned output.
    fn sql(conn: &ConnInfo, text: &str) -> String {
        let mut command = client_command(&program("psql"), Some(conn));
        command
            .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", text])
            .stdout(Stdio::piped());
        let output = command.output().expect("run psql");
        assert!(
            output.status.success(),
            "psql -c {text:?} on {}: {}",
            conn.describe(),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Unique names for the databases and roles of one test, dropped when it ends
    /// (also when it panics).
    struct Names {
        admin: ConnInfo,
        prefix: String,
        databases: Vec<String>,
        roles: Vec<String>,
    }

    impl Names {
        fn new(label: &str) -> Names {
            let mut random = [0u8; 4];
            getrandom::fill(&mut random).expect("random bytes");
            let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
            Names {
                admin: admin(),
                prefix: format!("retort_test_restore_{label}_{}_{hex}", std::process::id()),
                databases: Vec::new(),
                roles: Vec::new(),
            }
        }

        fn database(&mut self, suffix: &str) -> ConnInfo {
            let name = format!("{}_{suffix}", self.prefix);
            sql(
                &self.admin,
                &format!("CREATE DATABASE \"{name}\" TEMPLATE template0"),
            );
            self.databases.push(name.clone());
            self.admin.with_dbname(&name)
        }

        fn role(&mut self) -> String {
            let name = format!("{}_role", self.prefix);
            sql(&self.admin, &format!("CREATE ROLE \"{name}\""));
            self.roles.push(name.clone());
            name
        }
    }

    impl Drop for Names {
        fn drop(&mut self) {
            for name in self.databases.iter().rev() {
                let _ = client_command(&program("psql"), Some(&self.admin))
                    .args(["-X", "-q", "-c"])
                    .arg(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .status();
            }
            for name in &self.roles {
                let _ = client_command(&program("psql"), Some(&self.admin))
                    .args(["-X", "-q", "-c"])
                    .arg(format!("DROP ROLE IF EXISTS \"{name}\""))
                    .status();
            }
        }
    }

    fn pg_dump(conn: &ConnInfo, format: &str, path: &Path) {
        let mut command = client_command(&program("pg_dump"), Some(conn));
        command.arg(format!("-F{format}")).arg("-f").arg(path);
        let output = command.output().expect("run pg_dump");
        assert!(
            output.status.success(),
            "pg_dump -F{format}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// A database with objects owned by, and naming, a role that is then dropped, dumped
    /// in every format.
    fn dumps_naming_a_dropped_role(names: &mut Names, dir: &Path) -> Vec<(PathBuf, DumpFormat)> {
        let role = names.role();
        let source = names.database("src");
        sql(
            &source,
            &format!(
                "CREATE TABLE t (id int PRIMARY KEY, s text);
                 COMMENT ON TABLE t IS 'kept';
                 INSERT INTO t VALUES (1, 'a'), (2, 'b');
                 ALTER TABLE t OWNER TO \"{role}\";
                 ALTER TABLE t ENABLE ROW LEVEL SECURITY;
                 CREATE POLICY p ON t TO \"{role}\" USING (true);
                 COMMENT ON POLICY p ON t IS 'gone with its policy';
                 CREATE POLICY q ON t USING (true);
                 COMMENT ON POLICY q ON t IS 'policy kept';
                 CREATE VIEW v AS SELECT id FROM t;
                 GRANT SELECT ON v TO \"{role}\";"
            ),
        );
        let dumps = [
            ("c", "prod.sqlc", DumpFormat::Custom),
            ("d", "prod.dir", DumpFormat::Directory),
            ("t", "prod.tar", DumpFormat::Tar),
            ("p", "prod.sql", DumpFormat::Plain),
        ]
        .into_iter()
        .map(|(flag, name, format)| {
            let path = dir.join(name);
            pg_dump(&source, flag, &path);
            (path, format)
        })
        .collect();
        sql(
            &source,
            &format!(
                "DROP POLICY p ON t; DROP POLICY q ON t; DROP VIEW v; DROP TABLE t; \
                 REVOKE ALL ON SCHEMA public FROM \"{role}\";"
            ),
        );
        sql(&names.admin, &format!("DROP ROLE \"{role}\""));
        names.roles.clear();
        dumps
    }

    #[test]
    fn every_format_restores_with_role_noise_skipped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut names = Names::new("noise");
        let dumps = dumps_naming_a_dropped_role(&mut names, dir.path());
        let server_major: u32 = sql(&names.admin, "SHOW server_version_num")
            .parse::<u32>()
            .expect("server_version_num")
            / 10000;
        let programs = programs();
        for (i, (path, format)) in dumps.iter().enumerate() {
            let info = inspect_dump(path, &programs)
                .unwrap_or_else(|e| panic!("inspect {}: {e}", path.display()));
            assert_eq!(info.format, *format, "{}", path.display());
            assert_eq!(info.server_major(), Some(server_major), "{info:?}");
            assert!(info.pg_dump_version.is_some(), "{info:?}");

            for (j, jobs) in [RestoreJobs::Auto, two_jobs()].into_iter().enumerate() {
                let target = names.database(&format!("dst{i}_{j}"));
                let report = restore(&info, &target, &programs, jobs)
                    .unwrap_or_else(|e| panic!("restore of the {format} dump failed: {e}"));
                // Small dumps restore with one job unless told; tar and plain always do.
                let parallel = jobs != RestoreJobs::Auto
                    && matches!(format, DumpFormat::Custom | DumpFormat::Directory);
                assert_eq!(
                    report.jobs,
                    if parallel { 2 } else { 1 },
                    "{format} {jobs:?}"
                );
                assert!(
                    report
                        .skipped
                        .iter()
                        .any(|s| s.message.ends_with("_role\" does not exist")
                            && s.statement.starts_with("CREATE POLICY p ON public.t")),
                    "{format}: the policy's role noise is not among {:#?}",
                    report.skipped
                );
                if *format == DumpFormat::Plain {
                    // Without --no-owner, the plain dump's OWNER TO and GRANT name the role too.
                    for kind in [
                        "ALTER TABLE public.t OWNER TO",
                        "GRANT SELECT ON TABLE public.v",
                    ] {
                        assert!(
                            report.skipped.iter().any(|s| s.statement.starts_with(kind)
                                && s.location.starts_with(&path.display().to_string())),
                            "plain: {kind} is not among {:#?}",
                            report.skipped
                        );
                    }
                } else {
                    assert!(
                        report
                            .skipped
                            .iter()
                            .all(|s| s.location.starts_with("TOC entry ")),
                        "{:#?}",
                        report.skipped
                    );
                }
                assert_eq!(
                    sql(
                        &target,
                        "SELECT count(*) || ' ' || obj_description('public.t'::regclass) FROM t"
                    ),
                    "2 kept",
                    "{format}"
                );
                assert_eq!(sql(&target, "SELECT count(*) FROM v"), "2", "{format}");
                // The policy that names no role (restored in the serial pass when
                // parallel) with its comment; the other one's comment is noise with it.
                assert_eq!(
                sql(
                    &target,
                    "SELECT string_agg(polname || ': ' || obj_description(oid, 'pg_policy'), ', ') \
                     FROM pg_policy"
                ),
                "q: policy kept",
                "{format} {jobs:?}"
            );
            }
        }
    }

    fn two_jobs() -> RestoreJobs {
        RestoreJobs::Exactly(std::num::NonZeroUsize::new(2).expect("non-zero"))
    }

    #[test]
    fn real_errors_fail_the_restore_with_their_location() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut names = Names::new("real");
        let dumps = dumps_naming_a_dropped_role(&mut names, dir.path());
        let programs = programs();
        for (i, (path, format)) in dumps.iter().enumerate() {
            let info = inspect_dump(path, &programs).expect("inspect");
            for (j, jobs) in [RestoreJobs::Auto, two_jobs()].into_iter().enumerate() {
                let target = names.database(&format!("dst{i}_{j}"));
                // An object in the way: its CREATE and its data fail for real.
                sql(&target, "CREATE TABLE t (other int NOT NULL)");
                let error = restore(&info, &target, &programs, jobs)
                    .expect_err("a restore over an existing table must fail");
                let RestoreError::Errors {
                    total,
                    shown,
                    skipped,
                    ..
                } = &error
                else {
                    panic!("{format}: expected Errors, got: {error}");
                };
                assert!(*total >= 2, "{format}: {error}");
                assert!(*skipped >= 1, "{format}: {error}");
                let create = shown
                    .iter()
                    .find(|f| f.message == "relation \"t\" already exists")
                    .unwrap_or_else(|| panic!("{format}: no 'already exists' in {error}"));
                assert_eq!(create.statement, "CREATE TABLE public.t (", "{format}");
                if *format == DumpFormat::Plain {
                    assert!(
                        create.location.starts_with(&format!("{}:", path.display())),
                        "{}",
                        create.location
                    );
                } else {
                    assert!(
                        create.location.starts_with("TOC entry ")
                            && create.location.contains("TABLE t"),
                        "{}",
                        create.location
                    );
                }
                assert_eq!(error.exit_code(), 3);
                let text = error.to_string();
                assert!(text.contains("partially restored"), "{text}");
                assert!(text.contains(&create.location), "{text}");
            }
        }
    }

    #[test]
    fn an_unreachable_server_is_a_failed_restore() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tiny.sql");
        std::fs::write(&path, "SELECT 1;\n").expect("write the dump");
        let info = inspect_dump(&path, &programs()).expect("inspect");
        // Port 1 on the loopback: nothing listens there.
        let conn = ConnInfo::from_env(Some(
            "postgres://nobody@127.0.0.1:1/retort_scratch_x?connect_timeout=2",
        ))
        .expect("a valid URL");
        let error = restore(&info, &conn, &programs(), RestoreJobs::Auto).expect_err("no server");
        assert!(matches!(error, RestoreError::Failed { .. }), "{error}");
        assert_eq!(error.exit_code(), 3);
        assert!(
            error.to_string().contains("connection to server"),
            "{error}"
        );
    }
}
