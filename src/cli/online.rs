//! The commands that talk to a database: upgrade, downgrade, current, stamp, verify,
//! resolve, rehash-applied. They resolve the connection, call the Migrator and print.

use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;

use super::{Output, EXIT_CHECK_FAILED, EXIT_OK};
use crate::config::{Config, DatabaseSettings, UrlSource};
use crate::db::{ConnInfo, Session, VersionTables};
use crate::migrator::{Resolution, RunEvent, RunOptions, RunOverrides, StateFinding};
use crate::{Direction, Migrator};

/// Connection flags shared by the database commands.
#[derive(Debug, Clone, Default)]
pub(crate) struct DbArgs {
    pub database_url: Option<String>,
    pub env: Option<String>,
    pub lock_timeout: Option<String>,
    pub sql_lock_timeout: Option<String>,
    pub lock_retry_timeout: Option<String>,
    pub statement_timeout: Option<String>,
    pub single_transaction: bool,
    /// `upgrade --lint deny`: the lint configuration to refuse errors with.
    pub lint_deny: Option<crate::lint::LintConfig>,
}

/// Everything a database command needs, resolved from flags, environment and config.
pub(super) struct Target {
    pub conn: ConnInfo,
    pub tables: VersionTables,
    pub options: RunOptions,
    pub source: UrlSource,
}

fn settings(
    config: &Config,
    args: &DbArgs,
) -> anyhow::Result<(DatabaseSettings, Option<String>, UrlSource)> {
    // A .env file sets DATABASE_URL the way teams already keep it; real environment
    // variables win over it (dotenvy never overrides).
    match dotenvy::dotenv() {
        Ok(_) => {}
        Err(e) if e.not_found() => {}
        // dotenvy's message quotes the whole line, which may be a URL with a password:
        // name the variable only.
        Err(dotenvy::Error::LineParse(line, at)) => {
            let name = line
                .split_once('=')
                .map(|(key, _)| key.trim().trim_start_matches("export ").trim())
                .filter(|key| {
                    !key.is_empty()
                        && key
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
                });
            return Err(anyhow::anyhow!(
                "cannot read .env: cannot parse {} (at character {}; the line is not shown, as \
                 it may hold a password); fix or remove the file",
                name.map_or_else(|| "a line".to_owned(), |n| format!("the line setting {n}")),
                at + 1
            ));
        }
        Err(e) => {
            return Err(anyhow::anyhow!(
                "cannot read .env: {e}; fix or remove the file"
            ))
        }
    }
    let getenv = |k: &str| std::env::var(k).ok();
    Ok(config.database(args.database_url.as_deref(), args.env.as_deref(), &getenv)?)
}

fn run_options(settings: &DatabaseSettings, args: &DbArgs) -> anyhow::Result<RunOptions> {
    let overrides = RunOverrides {
        lock_wait: args.lock_timeout.clone(),
        sql_lock_timeout: args.sql_lock_timeout.clone(),
        lock_retry_timeout: args.lock_retry_timeout.clone(),
        statement_timeout: args.statement_timeout.clone(),
        single_transaction: args.single_transaction,
    };
    Ok(RunOptions {
        lint_deny: args.lint_deny.clone(),
        ..RunOptions::from_settings(settings, &overrides)?
    })
}

/// The version tables' names from retort.toml (and the chosen environment), without
/// resolving a database URL: test-migration runs on databases of its own.
pub(super) fn version_tables(config: &Config, args: &DbArgs) -> anyhow::Result<VersionTables> {
    let (settings, _, _) = settings(config, args)?;
    Ok(settings.version_tables())
}

pub(super) fn target(config: &Config, args: &DbArgs) -> anyhow::Result<Target> {
    let (settings, url, source) = settings(config, args)?;
    let conn = ConnInfo::from_env(url.as_deref())?;
    Ok(Target {
        conn,
        tables: settings.version_tables(),
        options: run_options(&settings, args)?,
        source,
    })
}

pub(super) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn describe_source(source: &UrlSource) -> String {
    match source {
        UrlSource::Flag => "--database-url".into(),
        UrlSource::Env(name) => format!("[env.{name}] in retort.toml"),
        UrlSource::DatabaseUrlVar => "DATABASE_URL".into(),
        UrlSource::ConfigFile => "retort.toml".into(),
        UrlSource::Libpq => "PG* environment variables and libpq defaults".into(),
    }
}

/// Opens a session on `target` and runs `work` with it, on a fresh runtime.
pub(super) fn in_session<T>(
    target: &Target,
    out: &Output,
    work: impl AsyncFnOnce(&Session<'_>) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    runtime()?.block_on(async {
        let session = open(target, out).await?;
        work(&session).await
    })
}

async fn open(target: &Target, out: &Output) -> anyhow::Result<Session<'static>> {
    if out.verbose {
        eprintln!(
            "connecting to {} (from {})",
            target.conn.describe(),
            describe_source(&target.source)
        );
    }
    match Session::open(&target.conn, target.tables.clone()).await {
        Ok(session) => Ok(session),
        // Nothing named a database: say so, or the user hunts for a wrong URL that
        // they never gave.
        Err(e) if target.source == UrlSource::Libpq => {
            let hint = format!(
                "{e}; no database is configured (--database-url, DATABASE_URL, .env, \
                 database_url in retort.toml), so the PG* environment variables and libpq's \
                 defaults were used"
            );
            Err(anyhow::Error::new(e).context(hint))
        }
        Err(e) => Err(e.into()),
    }
}

fn on_wait(out: &Output) -> impl FnOnce(&str) + '_ {
    move |holder: &str| {
        if !out.quiet {
            eprintln!("waiting for another retort run to finish ({holder})");
        }
    }
}

/// Prints each committed step as it happens: a line, or a JSON object per line.
fn step_printer<'o>(out: &'o Output, live: &'o LiveStep) -> impl FnMut(RunEvent<'_>) + 'o {
    let terminal = io::stdout().is_terminal();
    let terminal_err = io::stderr().is_terminal();
    let mut batch_said = None;
    move |event: RunEvent<'_>| {
        let step = match event {
            RunEvent::Step(step) => step,
            // The live line names the next step itself.
            RunEvent::Start { .. } => return,
            RunEvent::LockWait(wait) => {
                // Said on stderr (a deploy log keeps it), and on the live line until the
                // next attempt's step finishes.
                live.waiting(wait);
                if !out.quiet {
                    live.suspend(|| eprintln!("waiting: {wait}"));
                }
                return;
            }
            RunEvent::Batch(progress) => {
                live.batch(progress);
                // A deploy log gets a line per tenth of the range and per change of
                // what the run waits for; the terminal has the live line.
                let milestone = Some(progress.milestone());
                if milestone != batch_said && !out.quiet && !out.json && !terminal_err {
                    eprintln!("batch: {}", describe_batch(progress));
                }
                batch_said = milestone;
                return;
            }
        };
        // The next step is named first, so the line redrawn after this one is current.
        live.next();
        live.suspend(|| {
            let mut stdout = io::stdout().lock();
            if out.json {
                if let Ok(line) = serde_json::to_string(step) {
                    let _ = writeln!(stdout, "{line}");
                }
            } else if !out.quiet {
                let verb = match step.direction {
                    Direction::Upgrade => "upgraded  ",
                    Direction::Downgrade => "downgraded",
                };
                let _ = writeln!(
                    stdout,
                    "{verb} {}  {}  ({} ms)",
                    step.revision, step.message, step.duration_ms
                );
            }
            if terminal {
                let _ = stdout.flush();
            }
        });
    }
}

/// On a terminal, a line on stderr naming the revision running now and for how long: a
/// revision that rewrites a large table runs for hours, and a silent terminal looks hung.
/// The steps come from a plan read before the run (the runner plans again under its
/// lock; the line only ever names what is expected next).
struct LiveStep {
    bar: Option<indicatif::ProgressBar>,
    pending: std::cell::RefCell<std::collections::VecDeque<String>>,
}

impl LiveStep {
    /// Starts the line, on a terminal only (not with --quiet or --json): only a person
    /// needs it, and the plan it names costs a query.
    async fn start(
        out: &Output,
        migrator: &Migrator,
        session: &Session<'_>,
        direction: Direction,
        target: &str,
    ) -> LiveStep {
        let planned = if !out.quiet && !out.json && io::stderr().is_terminal() {
            planned_steps(migrator, session, direction, target).await
        } else {
            Vec::new()
        };
        let bar = (!planned.is_empty()).then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}")
            {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let live = LiveStep {
            bar,
            pending: std::cell::RefCell::new(planned.into()),
        };
        live.next();
        live
    }

    /// Names the next planned step (after one finished, or at the start).
    fn next(&self) {
        let Some(bar) = &self.bar else { return };
        match self.pending.borrow_mut().pop_front() {
            Some(step) => {
                bar.set_message(step);
                bar.reset_elapsed();
            }
            None => bar.finish_and_clear(),
        }
    }

    /// Says on the live line what the running step waits for, and on whom.
    fn waiting(&self, wait: &crate::migrator::LockWait) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!(
                "{} {}: waiting for locks (attempt {}, {}), next try in {:.1}s",
                wait.direction,
                wait.revision,
                wait.attempt,
                crate::migrator::describe_blockers(&wait.blockers),
                wait.retry_in.as_secs_f64()
            ));
        }
    }

    /// Says on the live line how far the running batch section is.
    fn batch(&self, progress: &crate::db::BatchProgress) {
        if let Some(bar) = &self.bar {
            bar.set_message(describe_batch(progress));
        }
    }

    fn suspend(&self, print: impl FnOnce()) {
        match &self.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// One line on a batch section's progress: `upgrade 0003_…: 45.0% of app.events.id, 12
/// batches, 45000 rows, next batch from 120001, 3210 rows/s, ETA 17s`, and what it waits
/// for.
fn describe_batch(progress: &crate::db::BatchProgress) -> String {
    let mut line = format!(
        "{} {}: {:.1}% of {}.{}, {} batches, {} rows",
        progress.direction,
        progress.revision,
        progress.fraction() * 100.0,
        progress.table,
        progress.key,
        progress.batches,
        progress.rows,
    );
    if !progress.is_done() {
        line.push_str(&format!(
            ", next batch from {}",
            crate::db::BatchProgress::key_text(&progress.next)
        ));
    }
    if let Some(rate) = progress.rows_per_second() {
        line.push_str(&format!(", {rate:.0} rows/s"));
    }
    if let Some(eta) = progress.eta_seconds() {
        line.push_str(&format!(", ETA {eta:.0}s"));
    }
    if let Some(waiting) = &progress.waiting {
        line.push_str(&format!("; {waiting}"));
    }
    line
}

/// What an upgrade or downgrade to `target` is expected to run, as the live line names
/// it (`upgrading 0003_ab12cd34ef56  add users`); empty when it cannot be told yet.
async fn planned_steps(
    migrator: &Migrator,
    session: &Session<'_>,
    direction: Direction,
    target: &str,
) -> Vec<String> {
    let Ok(state) = migrator.state(session).await else {
        return Vec::new();
    };
    let steps = migrator.plan_run(&state.heads, direction, target);
    let graph = migrator.graph();
    let verb = match direction {
        Direction::Upgrade => "upgrading",
        Direction::Downgrade => "downgrading",
    };
    steps
        .unwrap_or_default()
        .iter()
        .map(|step| {
            let revision = &graph.revisions()[step.revision];
            format!("{verb} {}  {}", revision.id, revision.message)
        })
        .collect()
}

/// Splits `FROM:TO` for the offline `--sql` mode.
fn split_range(text: &str) -> (Option<&str>, &str) {
    match text.split_once(':') {
        Some((from, to)) => ((!from.is_empty()).then_some(from), to),
        None => (None, text),
    }
}

/// `upgrade` and `downgrade`.
pub(crate) fn migrate(
    out: &Output,
    config: &Config,
    versions: &Path,
    args: &DbArgs,
    direction: Direction,
    target_text: &str,
    sql: bool,
) -> anyhow::Result<u8> {
    let migrator = Migrator::open(versions)?;
    if sql {
        let (settings, _, _) = settings(config, args)?;
        let (from, to) = split_range(target_text);
        if direction == Direction::Downgrade && from.is_none() {
            anyhow::bail!(
                "downgrade --sql needs FROM:TO (it cannot ask the database where it is), \
                 e.g. `retort downgrade --sql head:base`"
            );
        }
        let script = migrator.offline_script(
            &settings.version_tables(),
            from,
            to,
            direction,
            &run_options(&settings, args)?,
        )?;
        io::stdout().write_all(script.as_bytes())?;
        return Ok(EXIT_OK);
    }
    let target = target(config, args)?;
    let steps = in_session(&target, out, async |session| {
        let live = LiveStep::start(out, &migrator, session, direction, target_text).await;
        let mut printer = step_printer(out, &live);
        let run = match direction {
            Direction::Upgrade => {
                migrator
                    .upgrade(
                        session,
                        target_text,
                        &target.options,
                        |holder: &str| live.suspend(|| on_wait(out)(holder)),
                        &mut printer,
                    )
                    .await
            }
            Direction::Downgrade => {
                migrator
                    .downgrade(
                        session,
                        target_text,
                        &target.options,
                        |holder: &str| live.suspend(|| on_wait(out)(holder)),
                        &mut printer,
                    )
                    .await
            }
        };
        live.finish();
        let steps = run?;
        let state = migrator.state(session).await?;
        anyhow::Ok((steps, state))
    })?;
    let (steps, state) = steps;
    if !out.json && !out.quiet {
        let at = if state.heads.is_empty() {
            "base".to_owned()
        } else {
            state
                .heads
                .iter()
                .map(|&i| migrator.graph().revisions()[i].id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let total: u128 = steps.iter().map(|s| s.duration_ms).sum();
        if steps.is_empty() {
            outln!("nothing to do: {} is at {at}", target.conn.describe());
        } else {
            outln!(
                "{} revision(s) {} in {total} ms; {} is at {at}",
                steps.len(),
                if direction == Direction::Upgrade {
                    "applied"
                } else {
                    "reverted"
                },
                target.conn.describe()
            );
        }
    }
    Ok(EXIT_OK)
}

#[derive(Serialize)]
struct CurrentView<'a> {
    database: String,
    initialized: bool,
    heads: Vec<HeadView<'a>>,
    dirty: Option<DirtyView<'a>>,
    pending: usize,
    /// Where the version table and the history disagree (rows edited by hand).
    findings: Vec<StateFinding>,
    /// Other tools' version tables in the database (`schema.table`).
    other_tools: Vec<String>,
}

/// What `current` and `verify` say about the version tables besides the state: the
/// disagreements with the history, and other tools' version tables.
async fn diagnose(
    migrator: &Migrator,
    session: &Session<'_>,
    state: &crate::migrator::DbState,
) -> anyhow::Result<(Vec<StateFinding>, Vec<String>)> {
    let findings = migrator.diagnose_state(session, state).await?;
    let other_tools = crate::import::applied::find_tool_tables(session.client())
        .await?
        .iter()
        .map(ToString::to_string)
        .collect();
    Ok((findings, other_tools))
}

/// Says on stderr what [`diagnose`] found: `level` is `warning` or `error`.
fn print_diagnosis(level: &str, findings: &[StateFinding], other_tools: &[String]) {
    for finding in findings {
        eprintln!("{level}: {finding}");
    }
    if !other_tools.is_empty() {
        eprintln!(
            "note: this database also has {}, another migration tool's version table: if that \
             tool still migrates this database, two tools now do. Retire it (and see `retort \
             stamp --from-tool`), or leave the table: retort never reads or changes it",
            other_tools.join(", ")
        );
    }
}

#[derive(Serialize)]
struct HeadView<'a> {
    revision: &'a str,
    message: &'a str,
    is_head: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    applied_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    applied_by: Option<String>,
}

#[derive(Serialize)]
struct DirtyView<'a> {
    revision: &'a str,
    direction: Direction,
}

pub(crate) fn current(
    out: &Output,
    config: &Config,
    versions: &Path,
    args: &DbArgs,
) -> anyhow::Result<u8> {
    let migrator = Migrator::open(versions)?;
    let target = target(config, args)?;
    let (state, history, (findings, other_tools)) = in_session(&target, out, async |session| {
        let state = migrator.state(session).await?;
        let history = if state.initialized && (out.verbose || out.json) {
            session.latest_history().await?
        } else {
            Vec::new()
        };
        let diagnosis = diagnose(&migrator, session, &state).await?;
        anyhow::Ok((state, history, diagnosis))
    })?;
    let graph = migrator.graph();
    let graph_heads = graph.heads();
    let applied = graph.ancestors(&state.heads);
    let pending = applied.iter().filter(|a| !**a).count()
        - state.dirty.map_or(0, |(i, _)| usize::from(!applied[i]));
    let heads: Vec<HeadView<'_>> = state
        .heads
        .iter()
        .map(|&i| {
            let r = &graph.revisions()[i];
            let latest = history.iter().find(|h| h.revision == r.id.as_str());
            HeadView {
                revision: r.id.as_str(),
                message: &r.message,
                is_head: graph_heads.contains(&i),
                applied_at: latest.map(|h| h.at.clone()),
                applied_by: latest.map(|h| h.by.clone()),
            }
        })
        .collect();
    let view = CurrentView {
        database: target.conn.describe(),
        initialized: state.initialized,
        heads,
        dirty: state.dirty.map(|(i, direction)| DirtyView {
            revision: graph.revisions()[i].id.as_str(),
            direction,
        }),
        pending,
        findings,
        other_tools,
    };
    if out.json {
        outln!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(EXIT_OK);
    }
    if !view.initialized {
        outln!(
            "{}: no version table ({}), so at base; {} revision(s) pending",
            view.database,
            target.tables.describe(),
            view.pending
        );
        return Ok(EXIT_OK);
    }
    if view.heads.is_empty() {
        outln!("{}: at base", view.database);
    }
    for head in &view.heads {
        let marker = if head.is_head { " (head)" } else { "" };
        outln!("{}{marker}, {}", head.revision, head.message);
        if out.verbose {
            if let (Some(at), Some(by)) = (&head.applied_at, &head.applied_by) {
                outln!("    applied {at} by {by}");
            }
        }
    }
    if let Some(dirty) = &view.dirty {
        outln!(
            "{} DIRTY: its {} stopped half-way; repair by hand, then `retort resolve --completed` or `--reverted`",
            dirty.revision, dirty.direction
        );
    }
    if view.pending > 0 && !out.quiet {
        outln!(
            "{} revision(s) pending; `retort upgrade` applies them",
            view.pending
        );
    }
    print_diagnosis("warning", &view.findings, &view.other_tools);
    Ok(EXIT_OK)
}

/// How `stamp` checks that the database is at the revision it records.
pub(super) struct StampGuard<'a> {
    /// Record without checking.
    pub force: bool,
    pub scratch: &'a super::scratch::ScratchFlags,
    /// Live tables the check leaves out besides retort's own (another tool's version
    /// table, which the chain does not create).
    pub also_exclude: &'a [(String, String)],
}

pub(crate) fn stamp(
    out: &Output,
    config: &Config,
    versions: &Path,
    args: &DbArgs,
    rev: &str,
    purge: bool,
    guard: StampGuard<'_>,
) -> anyhow::Result<u8> {
    let migrator = Migrator::open(versions)?;
    let target = target(config, args)?;
    // Recording a revision the schema does not match makes every later upgrade start
    // from a wrong premise: the chain replayed to it must give the database's schema.
    if !guard.force && rev != "base" {
        if let Some(diff) = super::compare::chain_differs_from(
            out,
            config,
            versions,
            args,
            guard.scratch,
            rev,
            crate::compare::LiveDb {
                conn: &target.conn,
                also_exclude: guard.also_exclude,
            },
        )? {
            if !out.quiet {
                super::schema::print_diff(&diff)?;
            }
            eprintln!(
                "error: not stamped: the schema of {} is not the chain's at {rev} (the dump \
                 diff above: - the chain, + the database); stamp the revision it is at, write \
                 a revision for the difference, or record it anyway with --force",
                target.conn.describe()
            );
            return Ok(super::EXIT_CHECK_FAILED);
        }
    }
    let heads = in_session(&target, out, async |session| {
        anyhow::Ok(
            migrator
                .stamp(session, rev, purge, &target.options, on_wait(out))
                .await?,
        )
    })?;
    if out.json {
        outln!("{}", serde_json::json!({ "stamped": heads }));
    } else if !out.quiet {
        let at = if heads.is_empty() {
            "base".to_owned()
        } else {
            heads.join(", ")
        };
        outln!(
            "stamped {} at {at} (no SQL was run)",
            target.conn.describe()
        );
    }
    Ok(EXIT_OK)
}

pub(crate) fn verify(
    out: &Output,
    config: &Config,
    versions: &Path,
    args: &DbArgs,
) -> anyhow::Result<u8> {
    let migrator = Migrator::open(versions)?;
    let target = target(config, args)?;
    let (edited, applied, (findings, other_tools)) = in_session(&target, out, async |session| {
        let state = migrator.state(session).await?;
        let edited = migrator.edited_applied(session, &state).await?;
        let applied = migrator
            .graph()
            .ancestors(&state.heads)
            .iter()
            .filter(|a| **a)
            .count();
        let diagnosis = diagnose(&migrator, session, &state).await?;
        anyhow::Ok((edited, applied, diagnosis))
    })?;
    let ok = edited.is_empty() && findings.is_empty();
    if out.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "applied": applied,
                "edited": edited,
                "findings": findings,
                "other_tools": other_tools,
            }))?
        );
    } else {
        print_diagnosis("error", &findings, &other_tools);
        for e in &edited {
            outln!("edited:  {e}");
        }
        if ok {
            if !out.quiet {
                outln!("ok: {applied} applied revision(s) match their files");
            }
        } else if !edited.is_empty() {
            eprintln!(
                "error: {} applied revision(s) changed since they ran; revert the edits, or accept them \
                 with `retort rehash-applied REV --reason TEXT`",
                edited.len()
            );
        }
    }
    Ok(if ok { EXIT_OK } else { EXIT_CHECK_FAILED })
}

pub(crate) fn resolve(
    out: &Output,
    config: &Config,
    versions: &Path,
    args: &DbArgs,
    resolution: Resolution,
) -> anyhow::Result<u8> {
    let migrator = Migrator::open(versions)?;
    let target = target(config, args)?;
    let (id, direction) = in_session(&target, out, async |session| {
        anyhow::Ok(
            migrator
                .resolve(session, resolution, &target.options, on_wait(out))
                .await?,
        )
    })?;
    if !out.quiet {
        let what = match resolution {
            Resolution::Completed => "completed",
            Resolution::Reverted => "reverted",
        };
        outln!("resolved: the {direction} of {id} is recorded as {what}");
    }
    Ok(EXIT_OK)
}

pub(crate) fn rehash_applied(
    out: &Output,
    config: &Config,
    versions: &Path,
    args: &DbArgs,
    rev: &str,
    reason: &str,
) -> anyhow::Result<u8> {
    let migrator = Migrator::open(versions)?;
    let target = target(config, args)?;
    let id = in_session(&target, out, async |session| {
        anyhow::Ok(
            migrator
                .rehash_applied(session, rev, reason, &target.options, on_wait(out))
                .await?,
        )
    })?;
    if !out.quiet {
        outln!("recorded the new checksum of {id} (reason: {reason})");
    }
    Ok(EXIT_OK)
}
