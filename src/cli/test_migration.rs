//! `test-migration`: prove the pending revisions reversible on a throwaway database
//! (the chain replayed from base, or a restored dump of production) or on a local
//! database the user names with `--database-url`.
//!
//! It wires scratch (server, restore), the runner and the round-trip engine together
//! and prints a table of results. Ctrl-C and SIGTERM are caught so the scratch
//! databases and cluster are always removed before the process exits.

use std::io::{self, IsTerminal, Write};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use serde::Serialize;

use super::online::{runtime, version_tables, DbArgs};
use super::scratch::{interrupted, with_scratch, Interrupted, ScratchFlags};
use super::{Output, EXIT_CHECK_FAILED, EXIT_OK};
use crate::config::Config;
use crate::db::{ConnInfo, VersionTables};
use crate::dump::{self, ClientPrograms, DumpInfo, RestoreJobs, RestoreReport};
use crate::roundtrip::{
    self, Outcome, RevisionResult, RoundTripReport, TestEvent, TestOptions, TestPlan,
};
use crate::scratch::{self, ScratchDb, ScratchServer};
use crate::Migrator;

#[derive(Debug, clap::Args)]
pub(super) struct TestArgs {
    /// Restore this dump into a scratch database and test on it: custom, directory or tar
    /// format (pg_dump -Fc/-Fd/-Ft, through pg_restore) or plain SQL (through psql).
    /// Owners and privileges are not restored, so missing roles are no error.
    #[arg(long, value_name = "FILE")]
    from_dump: Option<PathBuf>,
    /// pg_restore jobs for --from-dump [default: 1 for a dump under 32 MiB (mostly
    /// schema), else one per core, at most 8]
    #[arg(long, value_name = "N", requires = "from_dump")]
    restore_jobs: Option<NonZeroUsize>,
    /// Revisions to test, FROM:TO (either side may be empty) [default: from the
    /// database's current revision to head]
    #[arg(short = 'r', long = "rev-range", value_name = "FROM:TO")]
    range: Option<String>,
    /// Round-trip each revision on its own (upgrade, downgrade, compare, upgrade again),
    /// so the failing revision is named
    #[arg(long)]
    each: bool,
    /// After a revision fails, carry on from the schema its upgrade leaves and test every
    /// later revision, listing every failure at the end (implies --each)
    #[arg(long)]
    keep_going: bool,
    /// Count `order-only` (the same columns in another order after the downgrade) as a
    /// failure, for code that relies on `SELECT *` or `COPY` without a column list
    #[arg(long)]
    strict: bool,
    /// Also write the results in this format to FILE: `junit` (JUnit XML, one test case
    /// per revision, which CI systems show natively)
    #[arg(long, num_args = 2, value_names = ["FORMAT", "FILE"])]
    format: Option<Vec<String>>,
    #[command(flatten)]
    scratch: ScratchFlags,
    /// Let --database-url name a server that is not on this machine (the test upgrades
    /// and downgrades that database)
    #[arg(long)]
    allow_remote: bool,
}

/// Where the test ran, for the report.
#[derive(Debug, Serialize)]
struct SourceView {
    /// `chain`, `dump` or `database`.
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    dump: Option<DumpInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    restore: Option<RestoreReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prepared: Option<String>,
}

#[derive(Debug, Serialize)]
struct ScratchView {
    provider: String,
    version: String,
    major: u32,
    description: String,
}

#[derive(Debug, Serialize)]
struct TestView {
    passed: bool,
    scratch: Option<ScratchView>,
    source: SourceView,
    /// Revisions tested, oldest first.
    range: Vec<String>,
    report: RoundTripReport,
    total_ms: u128,
}

fn split_range(text: Option<&str>) -> (Option<&str>, &str) {
    match text.map(|t| t.split_once(':').unwrap_or(("", t))) {
        None => (None, "head"),
        Some((from, to)) => (
            (!from.is_empty()).then_some(from),
            if to.is_empty() { "head" } else { to },
        ),
    }
}

pub(super) fn test_migration(
    out: &Output,
    config: &Config,
    versions: &Path,
    db: &DbArgs,
    args: &TestArgs,
) -> anyhow::Result<u8> {
    let migrator = Migrator::open(versions)?;
    let tables = version_tables(config, db)?;
    report_file(args)?;
    if args.from_dump.is_some() && db.database_url.is_some() {
        anyhow::bail!(
            "--from-dump and --database-url both name what to test on; give one (the dump is \
             restored into a scratch database, --database-url tests a database in place)"
        );
    }
    let started = Instant::now();
    runtime()?.block_on(async {
        // Only an explicit --database-url tests in place: DATABASE_URL or retort.toml
        // usually point at a real environment, never something to experiment on.
        if let Some(url) = &db.database_url {
            let conn = ConnInfo::from_env(Some(url))?;
            if !conn.is_local() && !args.allow_remote {
                anyhow::bail!(
                    "{} is not on this machine; test-migration upgrades and downgrades the \
                     database it tests. Test a local copy (or --from-dump), or pass \
                     --allow-remote if this server is really meant for it",
                    conn.describe()
                );
            }
            let source = SourceView {
                kind: "database",
                dump: None,
                restore: None,
                database: Some(conn.describe()),
                prepared: None,
            };
            let setup = TestSetup {
                migrator: &migrator,
                tables,
                args,
                server: None,
                started,
            };
            let work = test_on(out, setup, &conn, source);
            return tokio::select! {
                result = work => result,
                signal = interrupted() => Err(Interrupted(signal).into()),
            };
        }
        let dump = args.from_dump.as_deref().map(inspect_dump).transpose()?;
        let want_major = dump.as_ref().and_then(|(info, _)| info.server_major());
        let info = dump.as_ref().map(|(info, _)| info.clone());
        with_scratch(
            out,
            &args.scratch,
            want_major,
            info.as_ref(),
            async |server| on_scratch(out, &migrator, server, tables, args, dump, started).await,
        )
        .await
    })
}

/// The `--format FORMAT FILE` report asked for, checked before any work starts.
fn report_file(args: &TestArgs) -> anyhow::Result<Option<&Path>> {
    match args.format.as_deref() {
        None => Ok(None),
        Some([format, file]) if format == "junit" => Ok(Some(Path::new(file))),
        Some([format, _]) => anyhow::bail!(
            "unknown report format {format:?} in --format; the one format is `junit` \
             (--format junit FILE)"
        ),
        Some(_) => anyhow::bail!("--format takes a format and a file: --format junit FILE"),
    }
}

/// Reads the dump's format and versions before any server starts, so a bad file fails
/// fast. The client programs found here are replaced by the scratch server's own later.
fn inspect_dump(path: &Path) -> anyhow::Result<(DumpInfo, ClientPrograms)> {
    let programs = scratch::client_programs(None)?;
    let info = dump::inspect_dump(path, &programs)?;
    Ok((info, programs))
}

async fn on_scratch(
    out: &Output,
    migrator: &Migrator,
    server: &ScratchServer,
    tables: VersionTables,
    args: &TestArgs,
    dump: Option<(DumpInfo, ClientPrograms)>,
    started: Instant,
) -> anyhow::Result<u8> {
    let db: ScratchDb = server.create_database("test").await?;
    let mut source = SourceView {
        kind: "chain",
        dump: None,
        restore: None,
        database: None,
        prepared: None,
    };
    if let Some((info, found)) = dump {
        // The scratch server's own client programs match its version best.
        let programs = scratch::client_programs(server.bin_dir()).unwrap_or(found);
        if !out.quiet && !out.json {
            eprintln!("restoring {} into {}...", info.path.display(), db.name());
        }
        let conn = db.conn().clone();
        let restore_info = info.clone();
        let jobs = restore_jobs(args.restore_jobs);
        let report = tokio::task::spawn_blocking(move || {
            dump::restore(&restore_info, &conn, &programs, jobs)
        })
        .await
        .context("the restore task failed")??;
        if !out.quiet && !out.json {
            eprintln!(
                "restored in {} ms{}{}",
                report.duration_ms,
                jobs_note(&report),
                skipped_note(&report, if out.verbose { ":" } else { " (-v lists them)" })
            );
            if out.verbose {
                for line in skipped_lines(&report) {
                    eprintln!("{line}");
                }
            }
        }
        source.kind = "dump";
        source.dump = Some(info);
        source.restore = Some(report);
    }
    let setup = TestSetup {
        migrator,
        tables,
        args,
        server: Some(server),
        started,
    };
    let result = test_on(out, setup, db.conn(), source).await;
    // Drop it now rather than at shutdown, so a shared server is tidy even if the
    // shutdown that follows is cut short.
    let dropped = server.drop_database(&db).await;
    let code = result?;
    dropped?;
    Ok(code)
}

/// Where and how a test runs, besides its database.
struct TestSetup<'a> {
    migrator: &'a Migrator,
    tables: VersionTables,
    args: &'a TestArgs,
    server: Option<&'a ScratchServer>,
    started: Instant,
}

async fn test_on(
    out: &Output,
    setup: TestSetup<'_>,
    conn: &ConnInfo,
    mut source: SourceView,
) -> anyhow::Result<u8> {
    let args = setup.args;
    let (from, to) = split_range(args.range.as_deref());
    let human = !out.json && !out.quiet;
    let plan = TestPlan {
        migrator: setup.migrator,
        conn,
        tables: setup.tables,
        from,
        to,
        options: TestOptions {
            each: args.each || args.keep_going,
            keep_going: args.keep_going,
            strict: args.strict,
        },
        // retort's own tests (the real-world corpus) check every incremental
        // inspection against a whole one.
        verify_inspections: std::env::var_os("RETORT_VERIFY_INSPECTIONS").is_some_and(|v| v == "1"),
        check_unversioned: source.kind == "dump" && !out.quiet,
        second_connection: std::thread::available_parallelism().is_ok_and(|n| n.get() > 1),
    };
    let mut on_event = |event: TestEvent<'_>| match event {
        TestEvent::OneInspectionConnection(error) => {
            if out.verbose {
                eprintln!("inspecting on one connection only: {error}");
            }
        }
        TestEvent::UnversionedSchema { table } => eprintln!(
            "warning: the restored database has no {table} table, so it counts as base and \
             every revision is pending; if production is already at a revision, test from \
             there with -r REV:head"
        ),
        TestEvent::Edited(edited) => {
            if !out.quiet {
                eprintln!(
                    "warning: applied revisions changed since they ran (the test uses the files):"
                );
                for e in edited {
                    eprintln!("  {e}");
                }
            }
        }
        TestEvent::Testing(range) => {
            if human {
                eprintln!(
                    "testing {} revision(s), {} → {}, {}",
                    range.len(),
                    range.first().map_or("", String::as_str),
                    range.last().map_or("", String::as_str),
                    if args.keep_going {
                        "each on its own (upgrade, downgrade, compare, upgrade again), going on after failures"
                    } else if args.each {
                        "each on its own (upgrade, downgrade, compare, upgrade again)"
                    } else {
                        "as one range (upgrade all, downgrade all, compare)"
                    }
                );
                print_header();
            }
        }
        TestEvent::Revision(result) => {
            if human {
                print_row(result);
            }
        }
    };
    let run = roundtrip::test_database(plan, &mut on_event).await?;
    source.prepared = run.prepared;
    if run.range.is_empty() && !out.json {
        outln!("nothing to test: {} is already at {to}", run.target);
    }
    let report = run.report;
    let passed = report.passed();
    if let Some(file) = report_file(args)? {
        let xml = roundtrip::to_junit(&report, setup.started.elapsed().as_millis());
        crate::atomic_file::write(file, xml.as_bytes())
            .with_context(|| format!("cannot write the JUnit report to {}", file.display()))?;
        if human {
            eprintln!("JUnit report written to {}", file.display());
        }
    }
    if out.json {
        let view = TestView {
            passed,
            scratch: setup.server.map(|s| ScratchView {
                provider: s.provider().to_string(),
                version: s.version().text.clone(),
                major: s.version().major(),
                description: s.describe(),
            }),
            source,
            range: run.range,
            report,
            total_ms: setup.started.elapsed().as_millis(),
        };
        outln!("{}", serde_json::to_string(&view)?);
    } else if !run.range.is_empty() {
        print_summary(out, &report, setup.started);
    }
    Ok(if passed { EXIT_OK } else { EXIT_CHECK_FAILED })
}

fn ms(value: Option<u128>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v} ms"))
}

fn print_header() {
    outln!(
        "{:<20} {:<12} {:>9} {:>9} {:>9}  MESSAGE",
        "REVISION",
        "RESULT",
        "UP",
        "DOWN",
        "CHECK"
    );
}

fn print_row(result: &RevisionResult) {
    outln!(
        "{:<20} {:<12} {:>9} {:>9} {:>9}  {}",
        result.revision,
        result.outcome.as_str(),
        ms(result.upgrade_ms),
        ms(result.downgrade_ms),
        ms(result.check_ms),
        result.message
    );
    if result.outcome != Outcome::Ok {
        if let Some(note) = &result.note {
            outln!("  {}: {note}", result.path);
        }
    }
    if let Some(error) = &result.error {
        for line in error.lines() {
            outln!("    {line}");
        }
    }
    if let Some(diff) = &result.diff {
        let _ = super::schema::print_diff_indented(diff, "    ");
    }
    if io::stdout().is_terminal() {
        let _ = io::stdout().flush();
    }
}

fn print_summary(out: &Output, report: &RoundTripReport, started: Instant) {
    if let Some(diff) = &report.diff {
        outln!("the schema after the downgrade differs from the schema before the upgrade:");
        let _ = super::schema::print_diff(diff);
    }
    let failures: Vec<&str> = report.failures().map(|r| r.revision.as_str()).collect();
    let mut parts = vec![format!("{} ok", report.count(Outcome::Ok))];
    for outcome in Outcome::ALL.into_iter().skip(1) {
        let n = report.count(outcome);
        if n > 0 {
            parts.push(format!("{n} {}", outcome.as_str()));
        }
    }
    let order_only: Vec<&str> = report
        .revisions
        .iter()
        .filter(|r| r.outcome == Outcome::OrderOnly)
        .map(|r| r.revision.as_str())
        .collect();
    if !order_only.is_empty() && !report.strict && !out.quiet {
        eprintln!(
            "warning: {} come(s) back with the same columns in another order ({}); that passes, \
             since a downgrade can only append a column it re-adds, unless code relies on \
             SELECT * or COPY without a column list (--strict fails it)",
            order_only.len(),
            order_only.join(", ")
        );
    }
    let verdict = if failures.is_empty() {
        "passed".to_owned()
    } else {
        format!("FAILED ({})", failures.join(", "))
    };
    if !out.quiet || !failures.is_empty() {
        outln!(
            "test-migration {verdict}: {} in {} ms (upgrade {} ms, downgrade {} ms, upgrade again {} ms, schema checks {} ms)",
            parts.join(", "),
            started.elapsed().as_millis(),
            report.upgrade_ms,
            report.downgrade_ms,
            report.again_ms,
            report.check_ms
        );
    }
    if out.verbose {
        let i = report.inspections;
        eprintln!(
            "schema checks: {} whole inspection(s), {} scoped ({} relation(s) read again), {} with nothing changed",
            i.whole, i.scoped, i.relations_read, i.unchanged
        );
    }
}

#[derive(Debug, clap::Args)]
pub(super) struct RestoreArgs {
    /// The dump: custom, directory or tar format (pg_dump -Fc/-Fd/-Ft) or plain SQL
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Create this database on --database-url's server and restore into it (instead of
    /// into the --database-url database itself, which must then be empty)
    #[arg(long, value_name = "DBNAME")]
    into: Option<String>,
    /// pg_restore jobs (custom and directory archives) [default: 1 for a dump under 32
    /// MiB (mostly schema), else one per core, at most 8]
    #[arg(short = 'j', long, value_name = "N")]
    jobs: Option<NonZeroUsize>,
    /// With --into: drop the database first when it exists
    #[arg(long, requires = "into")]
    replace: bool,
    /// Let --database-url name a server that is not on this machine
    #[arg(long)]
    allow_remote: bool,
}

/// `restore-dump`: what `make db/local/load-schema` runs: a dump of production into a
/// local database, owners and privileges left out, role noise tolerated.
pub(super) fn restore_dump(out: &Output, db: &DbArgs, args: &RestoreArgs) -> anyhow::Result<u8> {
    let Some(url) = &db.database_url else {
        anyhow::bail!(
            "restore-dump needs --database-url of the server to restore into (it never uses \
             DATABASE_URL or retort.toml, which usually name a real environment)"
        );
    };
    let conn = ConnInfo::from_env(Some(url))?;
    if !conn.is_local() && !args.allow_remote {
        anyhow::bail!(
            "{} is not on this machine; restore-dump is for local copies. Pass --allow-remote if \
             this server is really meant for it",
            conn.describe()
        );
    }
    let (info, programs) = inspect_dump(&args.file)?;
    let target = runtime()?.block_on(async {
        let client = conn.connect("retort restore-dump").await?;
        let Some(name) = &args.into else {
            let schema = crate::catalog::inspect(&client, &Default::default()).await?;
            if !schema.is_empty() {
                anyhow::bail!(
                    "{} is not empty; restore into a fresh database with --into NAME (and \
                     --replace to recreate it)",
                    conn.describe()
                );
            }
            return Ok(conn.clone());
        };
        Ok(crate::db::create_database(&client, &conn, name, args.replace).await?)
    })?;
    if !out.quiet {
        eprintln!(
            "restoring {} into {}...",
            args.file.display(),
            target.describe()
        );
    }
    let report = dump::restore(&info, &target, &programs, restore_jobs(args.jobs))?;
    if out.json {
        outln!("{}", serde_json::to_string(&report)?);
    } else if !out.quiet {
        outln!(
            "restored {} into {} in {} ms{}{}",
            args.file.display(),
            target.describe(),
            report.duration_ms,
            jobs_note(&report),
            skipped_note(&report, "")
        );
        if out.verbose {
            for line in skipped_lines(&report) {
                outln!("{line}");
            }
        }
    }
    Ok(EXIT_OK)
}

fn restore_jobs(given: Option<NonZeroUsize>) -> RestoreJobs {
    given.map_or(RestoreJobs::Auto, RestoreJobs::Exactly)
}

/// " (N pg_restore jobs)" when the restore ran in parallel.
fn jobs_note(report: &RestoreReport) -> String {
    if report.jobs > 1 {
        format!(" ({} pg_restore jobs)", report.jobs)
    } else {
        String::new()
    }
}

/// "; N statement(s) skipped: ..." after a restore's summary (empty when none were).
fn skipped_note(report: &RestoreReport, tail: &str) -> String {
    if report.skipped.is_empty() {
        return String::new();
    }
    format!(
        "; {} statement(s) skipped: owners, roles or privileges that do not exist here{tail}",
        report.skipped.len()
    )
}

/// One line per skipped statement, for -v.
fn skipped_lines(report: &RestoreReport) -> impl Iterator<Item = String> + '_ {
    report
        .skipped
        .iter()
        .map(|s| format!("  {}: {}: {}", s.location, s.message, s.statement))
}
