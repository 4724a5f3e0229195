//! `retort fleet upgrade|status|stamp`: picks the targets, runs the library's fleet,
//! and shows it happening: a progress bar with a line per running target on a terminal,
//! plain lines otherwise; the `--events` log and `--metrics` file as it goes; a summary
//! table (or `--json` report) at the end. Exit 1 when any target failed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Subcommand;

use super::fleet_display::Display;
use super::online::{self, DbArgs};
use super::{Output, EXIT_CHECK_FAILED, EXIT_OK};
use crate::config::{parse_duration, Config};
use crate::fleet::queue::WorkerId;
use crate::fleet::worker::QueueOptions;
use crate::fleet::{
    self, events, targets, Backoff, Event, EventKind, EventLog, FleetError, FleetOptions,
    FleetReport, FleetTarget, Metrics, Operation, Shard, TargetState,
};
use crate::Migrator;

#[derive(Debug, Subcommand)]
pub(super) enum FleetCommand {
    /// Upgrade every target to TARGET [default: head], --concurrency at a time. Each
    /// target has its own version table and lock: rerun after a failure or crash and
    /// each target resumes where it stopped. Exit 1 when any target failed
    Upgrade {
        /// Revision to reach: head, an id, ...
        target: Option<String>,
        #[command(flatten)]
        select: Select,
        #[command(flatten)]
        run: RunFlags,
        /// List per target the revisions that would run; change nothing
        #[arg(long)]
        dry_run: bool,
        /// Start no new target after the first failure
        #[arg(long)]
        fail_fast: bool,
        /// Keep a Prometheus text-format file of the run's state (rewritten atomically)
        #[arg(long, value_name = "FILE")]
        metrics: Option<PathBuf>,
        #[command(flatten)]
        queue: QueueFlags,
    },
    /// Show each target's current revision, how many revisions it is behind, and (with
    /// --events FILE) its last failure
    Status {
        #[command(flatten)]
        select: Select,
        /// An events file written by `fleet upgrade --events`: its last failure per target
        #[arg(long, value_name = "FILE")]
        events: Option<PathBuf>,
        #[command(flatten)]
        queue: super::fleet_queue::QueueStatusFlags,
    },
    /// Record REV (e.g. head) in the version tables of the selected targets without
    /// running any SQL: new tenants created at the current schema
    Stamp {
        /// Revision to record
        rev: String,
        #[command(flatten)]
        select: Select,
        #[command(flatten)]
        run: RunFlags,
        /// Stamp every target (otherwise --only or --label must narrow the selection)
        #[arg(long)]
        all: bool,
    },
}

/// Which targets: where they come from, then filters.
#[derive(Debug, clap::Args)]
pub(super) struct Select {
    /// Targets file with [[targets]] tables (name, url or url_env, schema, labels)
    /// [default: targets.toml]
    #[arg(long, value_name = "FILE", conflicts_with_all = ["targets_query", "schemas"])]
    targets: Option<PathBuf>,
    /// Query on the database of --database-url returning name, url (and optionally
    /// schema, labels text[])
    #[arg(long, value_name = "SQL", conflicts_with = "schemas")]
    targets_query: Option<String>,
    /// Every schema of the --database-url database matching this LIKE pattern is a
    /// target, with its own version tables inside it
    #[arg(long, value_name = "PATTERN")]
    schemas: Option<String>,
    /// Only the target of this name (repeatable)
    #[arg(long, value_name = "NAME")]
    only: Vec<String>,
    /// Only targets carrying this label (repeatable: all must match)
    #[arg(long, value_name = "LABEL")]
    label: Vec<String>,
    /// Only shard K of N of what --only/--label kept (shards are numbered 0 to N-1, as
    /// JOB_COMPLETION_INDEX): a target's shard is a stable hash of its name mod N.
    /// auto/N takes K from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job)
    #[arg(long, value_name = "K/N")]
    shard: Option<String>,
    /// Targets worked on at the same time, and the most sessions the run opens at once
    /// (the schema targets of a database share them)
    #[arg(long, value_name = "N", default_value_t = 4)]
    concurrency: usize,
}

/// Work taken from a queue shared by workers on any number of machines.
#[derive(Debug, clap::Args)]
pub(super) struct QueueFlags {
    /// Take targets from a work queue in this control database (a URL or conninfo; its
    /// tables go in schema retort_fleet, created on first use). Start as many workers as
    /// you like, anywhere: each claims targets one at a time, and a target whose worker
    /// died is taken over after its lease lapses
    #[arg(
        long,
        value_name = "URL",
        env = "RETORT_QUEUE_URL",
        hide_env_values = true,
        conflicts_with = "dry_run"
    )]
    queue: Option<String>,
    /// How long a worker's claim on a target lasts without renewal (renewed every quarter
    /// of it); a dead worker's targets wait this long before another worker takes them
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "60s",
        requires = "queue"
    )]
    lease: String,
    /// This worker's name in the queue [default: HOST:PID]
    #[arg(long, value_name = "NAME", requires = "queue")]
    worker: Option<String>,
    /// The run's name in the queue: workers with the same name share its targets
    /// [default: "upgrade to" and the revision ids the target resolves to]
    #[arg(long, value_name = "NAME", requires = "queue")]
    run_name: Option<String>,
}

/// How each target is run.
#[derive(Debug, clap::Args)]
pub(super) struct RunFlags {
    /// How long to wait for another run's lock on a target's version table [default: 60s]
    #[arg(long, value_name = "DURATION")]
    lock_timeout: Option<String>,
    /// `SET LOCAL lock_timeout` in each revision, e.g. 5s; 0 waits forever [default: from
    /// retort.toml, else 2s]
    #[arg(long, value_name = "DURATION")]
    sql_lock_timeout: Option<String>,
    /// How long to keep retrying a revision whose locks were not granted within
    /// --sql-lock-timeout; 0 tries once [default: from retort.toml, else 5min]
    #[arg(long, value_name = "DURATION")]
    lock_retry_timeout: Option<String>,
    /// `SET LOCAL statement_timeout` in each revision, e.g. 10min
    #[arg(long, value_name = "DURATION")]
    statement_timeout: Option<String>,
    /// Further attempts at a target after a transient failure (connection refused or
    /// lost, serialization failure, deadlock, lock timeout)
    #[arg(long, value_name = "N", default_value_t = 3)]
    retries: u32,
    /// Wait before the first retry; doubled for each next one, with jitter
    #[arg(long, value_name = "DURATION", default_value = "500ms")]
    retry_base: String,
    /// Append every event (target and step start/finish, retry, failure) as a JSON line
    #[arg(long, value_name = "FILE")]
    events: Option<PathBuf>,
}

pub(super) fn fleet(
    out: &Output,
    config: &Config,
    versions: &Path,
    db: &DbArgs,
    command: FleetCommand,
) -> anyhow::Result<u8> {
    // A queue's status reads the control database alone: no project, no target.
    if let FleetCommand::Status { queue, .. } = &command {
        if let Some(url) = &queue.queue {
            return super::fleet_queue::status(out, url, queue);
        }
    }
    let migrator = Migrator::open(versions)?;
    match command {
        FleetCommand::Upgrade {
            target,
            select,
            run,
            dry_run,
            fail_fast,
            metrics,
            queue,
        } => {
            let target = target.unwrap_or_else(|| "head".to_owned());
            let queue = queue_options(&migrator, &target, &queue)?;
            // A typo in the revision fails here once, not on every target.
            if !target.starts_with(['+', '-']) && !target.contains('+') {
                migrator.graph().resolve(&target, None)?;
            }
            let operation = if dry_run {
                Operation::DryRun { target }
            } else {
                Operation::Upgrade { target }
            };
            let job = Job {
                select: &select,
                run: &run,
                operation,
                fail_fast,
                metrics_path: metrics.as_deref(),
                queue,
            };
            execute(out, config, &migrator, db, job)
        }
        FleetCommand::Stamp {
            rev,
            select,
            run,
            all,
        } => {
            if !all && select.only.is_empty() && select.label.is_empty() {
                anyhow::bail!(
                    "fleet stamp records {rev} without running its SQL; name the new targets with \
                     --only NAME or --label LABEL, or say --all to stamp every target"
                );
            }
            migrator.graph().resolve(&rev, None)?;
            let job = Job {
                select: &select,
                run: &run,
                operation: Operation::Stamp { revision: rev },
                fail_fast: false,
                metrics_path: None,
                queue: None,
            };
            execute(out, config, &migrator, db, job)
        }
        FleetCommand::Status { select, events, .. } => {
            status(out, config, &migrator, db, &select, events.as_deref())
        }
    }
}

/// The targets a fleet command works on.
struct Selected {
    /// After --only, --label and --shard.
    targets: Vec<FleetTarget>,
    /// With --shard: the shard, and how many targets --only/--label kept before it.
    shard: Option<(Shard, usize)>,
}

impl Selected {
    /// `shard K/N: H of T target(s)` on stderr, when there is a shard and `say`.
    fn say_shard(&self, say: bool) {
        if let (Some((shard, total)), true) = (&self.shard, say) {
            eprintln!("shard {shard}: {} of {total} target(s)", self.targets.len());
        }
    }
}

/// Loads the targets named by `select`, filtered, then narrowed to `--shard`.
fn select_targets(
    out: &Output,
    config: &Config,
    db: &DbArgs,
    select: &Select,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<Selected> {
    if select.concurrency == 0 {
        anyhow::bail!("--concurrency must be at least 1");
    }
    let getenv = |k: &str| std::env::var(k).ok();
    // Before any connection: a bad --shard is an input error wherever the targets are.
    let shard = select
        .shard
        .as_deref()
        .map(|text| Shard::parse(text, &getenv).map_err(FleetError::from))
        .transpose()?;
    let defaults = online::version_tables(config, db)?;
    let all = if let Some(query) = &select.targets_query {
        let control = online::target(config, db)?;
        if out.verbose {
            eprintln!(
                "reading targets from {} (--targets-query)",
                control.conn.describe()
            );
        }
        let found = runtime.block_on(targets::from_query(
            &control.conn,
            query,
            &defaults,
            &getenv,
        ))?;
        if found.is_empty() {
            // A fleet of none is more likely a wrong query than a finished deploy.
            anyhow::bail!(
                "--targets-query returned no rows on {}; check the query",
                control.conn.describe()
            );
        }
        found
    } else if let Some(pattern) = &select.schemas {
        let control = online::target(config, db)?;
        let found = runtime.block_on(targets::from_schemas(&control.conn, pattern, &defaults))?;
        if found.is_empty() {
            anyhow::bail!(
                "no schema of {} matches `{pattern}` (a LIKE pattern: % any text, _ one character)",
                control.conn.describe()
            );
        }
        found
    } else {
        let path = select.targets.clone().unwrap_or_else(targets::default_file);
        targets::load_file(&path, &defaults, &getenv)?
    };
    let kept = fleet::targets::filter(all, &select.only, &select.label)?;
    Ok(match shard {
        Some(shard) => Selected {
            shard: Some((shard, kept.len())),
            targets: shard.filter(kept),
        },
        None => Selected {
            targets: kept,
            shard: None,
        },
    })
}

fn run_options(
    config: &Config,
    db: &DbArgs,
    run: &RunFlags,
) -> anyhow::Result<(crate::migrator::RunOptions, Backoff)> {
    let mut args = db.clone();
    args.lock_timeout.clone_from(&run.lock_timeout);
    args.sql_lock_timeout.clone_from(&run.sql_lock_timeout);
    args.lock_retry_timeout.clone_from(&run.lock_retry_timeout);
    args.statement_timeout.clone_from(&run.statement_timeout);
    let options = online::target(config, &args)?.options;
    let base = Duration::from_millis(parse_duration("--retry-base", &run.retry_base)?);
    Ok((
        options,
        Backoff {
            base,
            max: Duration::from_secs(60).max(base),
        },
    ))
}

/// One fleet command's work: which targets, how, and where its metrics go.
struct Job<'a> {
    select: &'a Select,
    run: &'a RunFlags,
    operation: Operation,
    fail_fast: bool,
    metrics_path: Option<&'a Path>,
    queue: Option<QueueOptions>,
}

/// The machine's name, for the default worker name: what Kubernetes sets as a pod's.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// `--queue` and its settings, checked; `None` without `--queue`.
fn queue_options(
    migrator: &Migrator,
    target: &str,
    flags: &QueueFlags,
) -> anyhow::Result<Option<QueueOptions>> {
    let Some(url) = &flags.queue else {
        return Ok(None);
    };
    let control = crate::db::ConnInfo::from_env(Some(url))
        .context("--queue: not a usable connection string")?;
    let lease = Duration::from_millis(parse_duration("--lease", &flags.lease)?);
    if lease < Duration::from_millis(200) {
        anyhow::bail!("--lease {}: a lease shorter than 200ms cannot be renewed in time; give e.g. --lease 30s", flags.lease);
    }
    let run = match &flags.run_name {
        Some(name) => name.clone(),
        None => {
            // Every worker of a deploy resolves the same target to the same ids, so they
            // meet in one run without being told its name.
            let graph = migrator.graph();
            let ids: Vec<&str> = graph
                .resolve(target, None)
                .map_err(|e| {
                    anyhow::anyhow!(
                        "{e}; with --queue, give an absolute target (head, an id) or --run-name"
                    )
                })?
                .0
                .iter()
                .map(|&i| graph.revisions()[i].id.as_str())
                .collect();
            format!("upgrade to {}", ids.join(", "))
        }
    };
    let host = host_name();
    let pid = std::process::id();
    Ok(Some(QueueOptions {
        control,
        run,
        worker: WorkerId {
            id: flags
                .worker
                .clone()
                .unwrap_or_else(|| format!("{host}:{pid}")),
            host,
            pid,
        },
        lease,
    }))
}

fn execute(
    out: &Output,
    config: &Config,
    migrator: &Migrator,
    db: &DbArgs,
    job: Job<'_>,
) -> anyhow::Result<u8> {
    let Job {
        select,
        run,
        operation,
        fail_fast,
        metrics_path,
        queue,
    } = job;
    let runtime = online::runtime()?;
    let selected = select_targets(out, config, db, select, &runtime)?;
    selected.say_shard(out.verbose || matches!(operation, Operation::DryRun { .. }));
    match selected.shard {
        // A Job with more shards than targets: this one has nothing to do, and that is
        // a success (the run still logs its start and finish).
        Some((shard, total)) if selected.targets.is_empty() && !out.quiet => {
            eprintln!("shard {shard} holds none of the {total} target(s); nothing to do");
        }
        Some(_) => {}
        None if selected.targets.is_empty() => {
            anyhow::bail!("no target matches the filters (--only / --label)");
        }
        None => {}
    }
    let targets = selected.targets;
    let (run_options, backoff) = run_options(config, db, run)?;
    let options = FleetOptions {
        operation: operation.clone(),
        concurrency: select.concurrency,
        retries: run.retries,
        backoff,
        fail_fast,
        run: run_options,
    };
    let mut log = run.events.as_deref().map(EventLog::open).transpose()?;
    // A queue worker's share is known only as it claims targets.
    let known = if queue.is_some() { 0 } else { targets.len() };
    let mut metrics = Metrics::new(known);
    let mut metrics_written = Instant::now();
    let mut sink_error: Option<anyhow::Error> = None;
    let mut display = Display::new(out, known, &operation);
    if let Some(path) = metrics_path {
        metrics.write_atomically(path)?;
    }
    let mut on_event = |event: &Event| {
        if let Some(log) = &mut log {
            if let Err(e) = log.write(event) {
                sink_error.get_or_insert(e.into());
            }
        }
        metrics.observe(&event.kind);
        if let Some(path) = metrics_path {
            // Target-level changes are written at once; step timings at most twice a
            // second, so a fast fleet does not spend its time renaming files.
            let step = matches!(event.kind, EventKind::StepFinish { .. });
            if !step || metrics_written.elapsed() >= Duration::from_millis(500) {
                if let Err(e) = metrics.write_atomically(path) {
                    sink_error.get_or_insert(e.into());
                }
                metrics_written = Instant::now();
            }
        }
        display.show(event);
    };
    let report = match &queue {
        Some(queue) => {
            let worked = runtime.block_on(fleet::worker::work(
                migrator,
                &targets,
                &options,
                queue,
                &mut on_event,
            ));
            match worked {
                Ok(report) => report,
                Err(error) => {
                    display.finish();
                    return Err(error.into());
                }
            }
        }
        None => runtime.block_on(fleet::run(migrator, &targets, &options, &mut on_event)),
    };
    display.finish();
    if let Some(path) = metrics_path {
        metrics.write_atomically(path)?;
    }
    if let Some(e) = sink_error {
        eprintln!("warning: {}", super::describe_error(&e));
    }
    print_report(out, &report, &operation)?;
    if let Some(queue) = &queue {
        if !out.quiet && !out.json {
            eprintln!(
                "worker {} ran {} target(s) of the queue's run `{}`; `retort fleet status --queue \
                 URL` shows the whole run",
                queue.worker.id,
                report.targets.len(),
                queue.run
            );
        }
    }
    Ok(if report.count(TargetState::Failed) > 0 {
        EXIT_CHECK_FAILED
    } else {
        EXIT_OK
    })
}

/// The first line of an error, for one-line displays (the report has all of it).
pub(super) fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

fn print_report(out: &Output, report: &FleetReport, operation: &Operation) -> anyhow::Result<()> {
    if out.json {
        outln!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    let dry_run = matches!(operation, Operation::DryRun { .. });
    if dry_run {
        for t in &report.targets {
            match t.state {
                TargetState::Done if t.revisions.is_empty() => {
                    outln!("{}: nothing to run", t.name);
                }
                TargetState::Done => outln!(
                    "{}: {} revision(s) would run: {}",
                    t.name,
                    t.revisions.len(),
                    t.revisions.join(", ")
                ),
                _ => outln!(
                    "{}: cannot plan: {}",
                    t.name,
                    t.error.as_deref().map(first_line).unwrap_or("")
                ),
            }
        }
        return Ok(());
    }
    if !out.quiet {
        let width = report
            .targets
            .iter()
            .map(|t| t.name.len())
            .max()
            .unwrap_or(6)
            .max(6);
        outln!(
            "{:<width$}  {:<7}  {:>5}  {:>8}  AT / ERROR",
            "TARGET",
            "STATE",
            "STEPS",
            "MS"
        );
        for t in &report.targets {
            let state = match t.state {
                TargetState::Done => "done",
                TargetState::Failed => "FAILED",
                TargetState::Skipped => "skipped",
                TargetState::Released => "released",
            };
            let detail = match (&t.error, t.state) {
                (Some(error), _) => first_line(error).to_owned(),
                (None, _) if t.heads.is_empty() => "base".to_owned(),
                (None, _) => t.heads.join(", "),
            };
            outln!(
                "{:<width$}  {:<7}  {:>5}  {:>8}  {detail}",
                t.name,
                state,
                t.revisions.len(),
                t.duration_ms
            );
        }
    }
    let failed = report.count(TargetState::Failed);
    let summary = format!(
        "{} target(s): {} done, {failed} failed, {} skipped in {} ms",
        report.targets.len(),
        report.count(TargetState::Done),
        report.count(TargetState::Skipped),
        report.duration_ms
    );
    outln!("{summary}");
    if failed > 0 {
        for t in report
            .targets
            .iter()
            .filter(|t| t.state == TargetState::Failed)
        {
            eprintln!(
                "\n{} ({}) failed:\n{}",
                t.name,
                t.database,
                t.error.as_deref().unwrap_or("")
            );
        }
        eprintln!(
            "\n{failed} target(s) failed; fix them and run again: the other targets are at their \
             revision already, so only the failed ones do work"
        );
    }
    Ok(())
}

fn status(
    out: &Output,
    config: &Config,
    migrator: &Migrator,
    db: &DbArgs,
    select: &Select,
    events_path: Option<&Path>,
) -> anyhow::Result<u8> {
    let runtime = online::runtime()?;
    let selected = select_targets(out, config, db, select, &runtime)?;
    selected.say_shard(out.verbose);
    let targets = selected.targets;
    let last_errors = match events_path {
        Some(path) => events::last_errors(
            &events::read_log(path).with_context(|| format!("cannot read {}", path.display()))?,
        ),
        None => Default::default(),
    };
    let statuses = runtime.block_on(fleet::status(migrator, &targets, select.concurrency));
    let graph_heads: Vec<String> = migrator
        .graph()
        .heads()
        .iter()
        .map(|&i| migrator.graph().revisions()[i].id.to_string())
        .collect();
    if out.json {
        let rows: Vec<serde_json::Value> = statuses
            .iter()
            .map(|s| {
                let mut value = serde_json::to_value(s).unwrap_or_default();
                if let Some((at, error)) = last_errors.get(&s.name) {
                    value["last_error"] = serde_json::json!({ "at": at, "error": error });
                }
                value
            })
            .collect();
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "head": graph_heads,
                "targets": rows,
            }))?
        );
    } else {
        let width = statuses
            .iter()
            .map(|s| s.name.len())
            .max()
            .unwrap_or(6)
            .max(6);
        outln!(
            "{:<width$}  {:<24}  {:>6}  LAST ERROR",
            "TARGET",
            "REVISION",
            "BEHIND"
        );
        for s in &statuses {
            let revision = match (&s.error, s.heads.is_empty()) {
                (Some(_), _) => "?".to_owned(),
                (None, true) => "base".to_owned(),
                (None, false) => s.heads.join(","),
            };
            let behind = if s.error.is_some() {
                "?".to_owned()
            } else {
                s.behind.to_string()
            };
            let error = match (&s.error, &s.dirty, last_errors.get(&s.name)) {
                (Some(e), _, _) => format!("unreachable now: {}", first_line(e)),
                (None, Some(d), _) => format!("DIRTY: {d}"),
                (None, None, Some((at, e))) => format!("{at}: {}", first_line(e)),
                _ => String::new(),
            };
            outln!("{:<width$}  {revision:<24}  {behind:>6}  {error}", s.name);
        }
    }
    let unreadable = statuses.iter().filter(|s| s.error.is_some()).count();
    if unreadable > 0 {
        eprintln!("{unreadable} target(s) could not be read");
        return Ok(3);
    }
    Ok(EXIT_OK)
}
