//! The command line: clap definitions, one function per command, and printing.
//!
//! Commands only wire library calls together and format their results; exit codes
//! follow ARCHITECTURE.md (0 ok, 1 check failed, 2 usage or input error, 3 database, 4 lock).

/// `println!` that does not panic when stdout is closed (`retort current | head -0`):
/// output is best effort, the command's work and exit code are not.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod baseline;
mod batch;
mod compare;
mod draw;
mod fleet;
mod fleet_display;
mod fleet_queue;
mod import;
mod lint;
mod observe;
mod offline;
mod online;
mod schema;
mod scratch;
mod test_migration;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::Config;
use crate::migrator::Resolution;
use crate::Direction;
use crate::NewRevision;

/// Exit code: everything went well.
pub const EXIT_OK: u8 = 0;
/// Exit code: a check ran and failed (drift, round trip differs, lint denied, sum mismatch).
pub const EXIT_CHECK_FAILED: u8 = 1;
/// Exit code: bad usage or bad input files.
pub const EXIT_INPUT: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "retort",
    version,
    about = "Schema migrations for PostgreSQL: revision chains with upgrade and downgrade SQL",
    long_about = "Schema migrations for PostgreSQL.\n\nRevision files in versions/ (NNNN_hex12_slug.sql) each hold upgrade SQL and the downgrade SQL that undoes it; their down_revision headers chain them into a graph, as in Alembic. retort generates, inspects and checks that graph.\n\nExit codes: 0 ok, 1 a check failed, 2 usage or input error, 3 database error, 4 lock not acquired.",
    after_help = "Targets (wherever a revision is expected): head, heads, base, a full id, a unique prefix of the id or of its hex part, +N / -N, <id>+N."
)]
/// The command line's arguments (see `retort --help`).
pub struct Cli {
    /// Directory of revision files [default: from retort.toml, else ./versions]
    #[arg(long, global = true, value_name = "DIR", env = "RETORT_VERSIONS")]
    versions: Option<PathBuf>,
    /// Print machine-readable JSON instead of text
    #[arg(long, global = true)]
    json: bool,
    /// Print only essential output
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Print more detail
    #[arg(short, long, global = true)]
    verbose: bool,
    /// Database URL or libpq conninfo [default: the --env's URL, then DATABASE_URL (a .env
    /// file is read), then retort.toml, then PGHOST/PGPORT/PGUSER/PGDATABASE...]
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// Named environment from retort.toml ([env.NAME]): its URL and settings
    #[arg(long = "env", global = true, value_name = "NAME", env = "RETORT_ENV")]
    env_name: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// A tool name as `import` and `stamp --from-tool` take it.
fn tool_name(text: &str) -> Result<crate::import::Tool, String> {
    crate::import::Tool::from_name(text).ok_or_else(|| {
        let names: Vec<&str> = crate::import::Tool::ALL.iter().map(|t| t.name()).collect();
        format!("unknown tool `{text}`; one of: {}", names.join(", "))
    })
}

/// Flags of the commands that run SQL.
#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Print the SQL script instead of running it (no connection; TARGET may be FROM:TO)
    #[arg(long)]
    sql: bool,
    /// Run the whole plan in one transaction (no transaction:false sections allowed)
    #[arg(long)]
    single_transaction: bool,
    #[command(flatten)]
    lock: LockArgs,
    /// `SET LOCAL lock_timeout` in each revision, e.g. 5s; 0 waits forever [default: from
    /// retort.toml, else 2s]
    #[arg(long, value_name = "DURATION")]
    sql_lock_timeout: Option<String>,
    /// How long to keep retrying (rolled back, jittered backoff) a revision whose locks
    /// were not granted within --sql-lock-timeout, then exit 4 naming the blocking
    /// session; 0 tries once [default: from retort.toml, else 5min]
    #[arg(long, value_name = "DURATION")]
    lock_retry_timeout: Option<String>,
    /// `SET LOCAL statement_timeout` in each revision, e.g. 10min
    #[arg(long, value_name = "DURATION")]
    statement_timeout: Option<String>,
    /// With `deny`, lint the revisions to run first and run nothing when an
    /// error-severity finding remains (exit 1)
    #[arg(long, value_enum, default_value = "off")]
    lint: LintMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LintMode {
    Off,
    Deny,
}

#[derive(Debug, clap::Args)]
struct LockArgs {
    /// How long to wait for another run's lock on the version table (exit 4 after) [default: 60s]
    #[arg(long, value_name = "DURATION")]
    lock_timeout: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print a shell completion script: `retort completions bash > /etc/bash_completion.d/retort`,
    /// or `source <(retort completions zsh)`
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Create retort.toml, versions/ and models/ (with a commented example) in DIR
    Init {
        /// Project directory (created if missing)
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Adopt this existing database: its schema becomes models/schema.sql and a
        /// baseline revision, proven in a scratch database to give exactly that schema
        #[arg(long, value_name = "URL")]
        from_database: Option<String>,
        #[command(flatten)]
        scratch: scratch::ScratchFlags,
    },
    /// Write a new, empty revision on top of the current head and print its path
    #[command(visible_alias = "revision")]
    NewMigration {
        /// What the revision does; becomes the message header and the file-name slug
        #[arg(short, long)]
        message: String,
        /// Parent revision when there are several heads (`base` starts a new root)
        #[arg(long, value_name = "REV")]
        head: Option<String>,
        /// With --head: allow a parent that is not a head, starting a new branch from it
        /// (the chain then has two heads, to join later with `retort merge`)
        #[arg(long, requires = "head")]
        splice: bool,
        /// Revisions that must be applied first without being parents (repeatable)
        #[arg(long, value_name = "REV")]
        depends_on: Vec<String>,
        /// Branch label for the new revision (repeatable)
        #[arg(long, value_name = "LABEL")]
        branch_label: Vec<String>,
        #[command(flatten)]
        autogenerate: compare::AutogenerateArgs,
    },
    /// Join several heads with a merge revision (all heads when none are named)
    Merge {
        #[arg(short, long)]
        message: String,
        /// Revisions to merge [default: all heads]
        revisions: Vec<String>,
    },
    /// List revisions, newest first
    History {
        /// Range `FROM:TO` of targets, either side optional (e.g. `0003:head`, `:0005`)
        #[arg(short = 'r', long, value_name = "RANGE")]
        rev_range: Option<String>,
    },
    /// List the heads: revisions nothing builds on yet
    Heads,
    /// Show one revision: header, file, checksum and SQL
    Show {
        /// Revision (id, unique prefix, `head`, ...)
        rev: String,
    },
    /// Draw the revision graph (text in the terminal, or Graphviz dot)
    Graph {
        #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
        format: GraphFormat,
    },
    /// Upgrade the database to TARGET [default: head], one transaction per revision
    Upgrade {
        /// Revision to reach: head, heads, an id, +N, ... (with --sql: [FROM:]TO)
        #[arg(allow_hyphen_values = true)]
        target: Option<String>,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Downgrade the database to TARGET: -1, base, or an id (required, no default)
    Downgrade {
        /// Revision to go down to (with --sql: FROM:TO, e.g. head:base)
        #[arg(allow_hyphen_values = true)]
        target: String,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Show the database's current revision(s); -v adds when and by whom
    Current,
    /// Set the database's revision without running any SQL (adopt a database, new tenants)
    Stamp {
        /// Revision to record (head, an id, base, ...)
        #[arg(required_unless_present = "from_tool", conflicts_with = "from_tool")]
        rev: Option<String>,
        /// Record the revision imported from the version another tool's table says the
        /// database is at (alembic_version, flyway_schema_history, ...); that table is
        /// only read
        #[arg(long, value_name = "TOOL", value_parser = tool_name)]
        from_tool: Option<crate::import::Tool>,
        /// With --from-tool: the tool's version table, when not its default name on the
        /// search_path
        #[arg(long, value_name = "[SCHEMA.]TABLE", requires = "from_tool")]
        tool_table: Option<String>,
        /// Erase the version table first, whatever it holds
        #[arg(long)]
        purge: bool,
        /// Record the revision even when the database's schema is not the chain's at it
        /// (otherwise the chain is replayed to it in a scratch database and compared)
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        lock: LockArgs,
        #[command(flatten)]
        scratch: scratch::ScratchFlags,
    },
    /// Convert another tool's history (Alembic, Flyway, dbmate, golang-migrate, goose,
    /// sqlx) into revision files, up and down SQL and parents kept
    Import {
        /// alembic, flyway, dbmate, golang-migrate, goose or sqlx
        #[arg(value_parser = tool_name)]
        tool: crate::import::Tool,
        /// The migrations directory; for alembic, its alembic.ini, the directory holding it,
        /// or the script directory (the one with env.py)
        source: PathBuf,
        /// alembic: the Python of the environment where `alembic` works [default:
        /// $VIRTUAL_ENV/bin/python, else python3]
        #[arg(long, value_name = "PATH")]
        python: Option<PathBuf>,
    },
    /// Check applied revisions against their files (exit 1 if one changed);
    /// --files checks the files against versions/retort.sum instead, offline
    Verify {
        /// Check the files against retort.sum, without a database
        #[arg(long)]
        files: bool,
    },
    /// Settle a dirty marker left by a transaction:false revision that failed half-way
    Resolve {
        /// Its effects are all in place now (finished by hand)
        #[arg(
            long,
            required_unless_present = "reverted",
            conflicts_with = "reverted"
        )]
        completed: bool,
        /// None of its effects remain (undone by hand); the next upgrade runs it again
        #[arg(long)]
        reverted: bool,
        #[command(flatten)]
        lock: LockArgs,
    },
    /// Accept a deliberate edit of an applied revision, recording who and why
    RehashApplied {
        rev: String,
        /// Why the file was edited (kept in the history table)
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        lock: LockArgs,
    },
    /// Rewrite versions/retort.sum from the revision files, after a deliberate edit
    Rehash,
    /// Print the database schema as canonical text: sorted, one object per block, so
    /// equal schemas dump byte-identically and `git diff` of a committed dump is meaningful
    DumpSchema {
        /// Write to FILE instead of stdout (atomically)
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = DumpFormat::Text)]
        format: DumpFormat,
        /// Only this schema (repeatable) [default: every non-system schema]
        #[arg(long = "schema", value_name = "SCHEMA")]
        schemas: Vec<String>,
        /// Leave this schema out (repeatable)
        #[arg(long = "exclude-schema", value_name = "SCHEMA")]
        exclude_schemas: Vec<String>,
        /// Include privileges (GRANTs)
        #[arg(long)]
        grants: bool,
        /// Include object owners
        #[arg(long)]
        owners: bool,
        /// Connections reading the catalog at once, sharing one snapshot (as `pg_dump
        /// --jobs`); more backends finish a large schema sooner
        #[arg(short, long, value_name = "N", default_value_t = 2,
              value_parser = clap::value_parser!(u8).range(1..=16))]
        jobs: u8,
    },
    /// Show the unified diff of two schema dumps (exit 1 when they differ)
    DiffDumps { a: PathBuf, b: PathBuf },
    /// Prove the pending revisions reversible: dump the schema, upgrade, downgrade, dump
    /// again, compare (exit 1 when a revision fails or does not undo itself)
    #[command(
        long_about = "Prove the pending revisions reversible: dump the schema, upgrade, downgrade, dump again and compare; with --each, revision by revision (upgrade, downgrade, compare, upgrade again), so the revision that does not undo itself is named.\n\nIt runs on a scratch database where the chain is replayed from base (the default), on a scratch database restored from --from-dump FILE (a dump of production), or in place on a local database named by --database-url.\n\nScratch databases come from --scratch-url (an existing server; temporary databases are dropped afterwards), else from a private cluster built with the local PostgreSQL binaries, else from Docker (builds with the `docker` feature). Everything scratch is removed at the end, also on failure and on Ctrl-C."
    )]
    TestMigration(test_migration::TestArgs),
    /// Restore a dump (of production, say) into a local database: owners and privileges
    /// left out, statements naming missing roles skipped, any other error fatal
    RestoreDump(test_migration::RestoreArgs),
    /// Find migrations that lock, rewrite or break production: each statement is parsed
    /// by PostgreSQL's own parser and checked against rules with stable ids (exit 1 when
    /// an error-severity finding remains)
    Lint(lint::LintArgs),
    /// Show how two schemas differ; each side is the models, a database URL, a revision
    /// of the chain or a dump file [default: from head to models]
    Diff(compare::DiffArgs),
    /// Exit 1 when the models and the chain's head (or --from-database) differ: a CI guard
    Check(compare::CheckArgs),
    /// Batch sections under way: their progress, and pausing or resuming one
    Batch {
        #[command(subcommand)]
        command: batch::BatchCommand,
    },
    /// Migrate many databases or tenant schemas: concurrent, resumable, observable
    Fleet {
        // Boxed: fleet upgrade's flags make it the largest command by far.
        #[command(subcommand)]
        command: Box<fleet::FleetCommand>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DumpFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum GraphFormat {
    Text,
    Dot,
}

/// Output settings shared by every command.
pub(crate) struct Output {
    pub json: bool,
    pub quiet: bool,
    pub verbose: bool,
}

/// Parses the arguments, runs the command and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        // `retort history | head` closing the pipe early is not an error.
        Err(error) if is_broken_pipe(&error) => ExitCode::from(EXIT_OK),
        Err(error) => {
            eprintln!("error: {}", describe_error(&error));
            ExitCode::from(exit_code(&error))
        }
    }
}

/// The error and its causes, each cause once: the library's messages often already
/// include their source (`cannot read F: No such file or directory`), and `{:#}`
/// would print it a second time.
pub(crate) fn describe_error(error: &anyhow::Error) -> String {
    let mut out = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// ARCHITECTURE.md's exit codes, from the error's type: database errors 3, lock timeouts 4,
/// a refused run over edited revisions 1, everything about input and usage 2.
fn exit_code(error: &anyhow::Error) -> u8 {
    if error.downcast_ref::<scratch::Interrupted>().is_some() {
        return scratch::EXIT_INTERRUPTED;
    }
    if let Some(e) = error.downcast_ref::<crate::migrator::ObserveError>() {
        return e.exit_code();
    }
    if let Some(e) = error.downcast_ref::<crate::compare::CompareError>() {
        return e.exit_code();
    }
    if let Some(e) = error.downcast_ref::<crate::models::ModelsError>() {
        return e.exit_code();
    }
    if let Some(e) = error.downcast_ref::<crate::roundtrip::RoundTripError>() {
        return e.exit_code();
    }
    if let Some(e) = error.downcast_ref::<crate::dump::RestoreError>() {
        return e.exit_code();
    }
    if error
        .downcast_ref::<crate::scratch::ScratchError>()
        .is_some()
    {
        return 3;
    }
    if let Some(e) = error.downcast_ref::<crate::fleet::FleetError>() {
        return e.exit_code();
    }
    if let Some(e) = error.downcast_ref::<crate::migrator::RunError>() {
        return e.exit_code();
    }
    if let Some(e) = error.downcast_ref::<crate::import::applied::AppliedError>() {
        return e.exit_code();
    }
    if let Some(e) = error.downcast_ref::<crate::db::DbError>() {
        return e.exit_code();
    }
    if error
        .downcast_ref::<crate::catalog::CatalogError>()
        .is_some()
    {
        return 3;
    }
    if let Some(e) = error.downcast_ref::<crate::db::ConnectError>() {
        return if e.is_settings_error() { EXIT_INPUT } else { 3 };
    }
    EXIT_INPUT
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    let out = Output {
        json: cli.json,
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    if let Command::Init {
        dir,
        from_database,
        scratch,
    } = &cli.command
    {
        return match from_database {
            Some(url) => baseline::init_from_database(&out, dir, url, scratch),
            None => offline::init(&out, dir),
        };
    }
    if let Command::Completions { shell } = cli.command {
        // Works anywhere: no retort.toml needed to print a completion script.
        let mut command = <Cli as clap::CommandFactory>::command();
        clap_complete::generate(shell, &mut command, "retort", &mut std::io::stdout());
        return Ok(EXIT_OK);
    }
    let config = Config::discover_from_current_dir()?;
    let versions = cli.versions.unwrap_or_else(|| config.versions_dir.clone());
    let db = |lock: Option<&LockArgs>, run: Option<&RunArgs>| online::DbArgs {
        database_url: cli.database_url.clone(),
        env: cli.env_name.clone(),
        lock_timeout: lock
            .or(run.map(|r| &r.lock))
            .and_then(|l| l.lock_timeout.clone()),
        sql_lock_timeout: run.and_then(|r| r.sql_lock_timeout.clone()),
        lock_retry_timeout: run.and_then(|r| r.lock_retry_timeout.clone()),
        statement_timeout: run.and_then(|r| r.statement_timeout.clone()),
        single_transaction: run.is_some_and(|r| r.single_transaction),
        lint_deny: None,
    };
    match cli.command {
        // Handled above, before any configuration is read.
        Command::Init { .. } | Command::Completions { .. } => Ok(EXIT_OK),
        Command::NewMigration {
            message,
            head,
            splice,
            depends_on,
            branch_label,
            autogenerate,
        } => {
            let revision = NewRevision {
                message,
                head,
                splice,
                depends_on,
                branch_labels: branch_label,
                ..NewRevision::default()
            };
            if autogenerate.autogenerate {
                compare::autogenerate(
                    &out,
                    &config,
                    &versions,
                    &db(None, None),
                    &autogenerate,
                    revision,
                )
            } else {
                offline::write_revision(&out, &versions, &revision)
            }
        }
        Command::Merge { message, revisions } => {
            offline::merge(&out, &versions, &message, &revisions)
        }
        Command::History { rev_range } => offline::history(&out, &versions, rev_range.as_deref()),
        Command::Heads => offline::heads(&out, &versions),
        Command::Show { rev } => offline::show(&out, &versions, &rev),
        Command::Graph { format } => {
            offline::graph(&out, &versions, matches!(format, GraphFormat::Dot))
        }
        Command::Verify { files: true } => offline::verify_files(&out, &versions),
        Command::Verify { files: false } => {
            online::verify(&out, &config, &versions, &db(None, None))
        }
        Command::Upgrade { target, run } => {
            let target = target.unwrap_or_else(|| "head".to_owned());
            let mut args = db(None, Some(&run));
            if run.lint == LintMode::Deny {
                args.lint_deny = Some(crate::lint::LintConfig::from_config(&config)?);
            }
            online::migrate(
                &out,
                &config,
                &versions,
                &args,
                Direction::Upgrade,
                &target,
                run.sql,
            )
        }
        Command::Downgrade { target, run } => online::migrate(
            &out,
            &config,
            &versions,
            &db(None, Some(&run)),
            Direction::Downgrade,
            &target,
            run.sql,
        ),
        Command::Current => online::current(&out, &config, &versions, &db(None, None)),
        Command::Stamp {
            rev,
            from_tool,
            tool_table,
            purge,
            force,
            lock,
            scratch,
        } => {
            let args = db(Some(&lock), None);
            let (rev, also_exclude) = match (rev, from_tool) {
                (_, Some(tool)) => {
                    let found = import::revisions_from_tool(
                        &out,
                        &config,
                        &versions,
                        &args,
                        tool,
                        tool_table.as_deref(),
                    )?;
                    (found.revisions, vec![found.table])
                }
                (Some(rev), None) => (rev, Vec::new()),
                (None, None) => anyhow::bail!("give the revision to stamp, or --from-tool TOOL"),
            };
            online::stamp(
                &out,
                &config,
                &versions,
                &args,
                &rev,
                purge,
                online::StampGuard {
                    force,
                    scratch: &scratch,
                    also_exclude: &also_exclude,
                },
            )
        }
        Command::Import {
            tool,
            source,
            python,
        } => import::import(&out, &versions, tool, &source, python),
        Command::Resolve {
            completed, lock, ..
        } => {
            let resolution = if completed {
                Resolution::Completed
            } else {
                Resolution::Reverted
            };
            online::resolve(&out, &config, &versions, &db(Some(&lock), None), resolution)
        }
        Command::RehashApplied { rev, reason, lock } => online::rehash_applied(
            &out,
            &config,
            &versions,
            &db(Some(&lock), None),
            &rev,
            &reason,
        ),
        Command::Rehash => offline::rehash(&out, &versions),
        Command::DumpSchema {
            output,
            format,
            schemas,
            exclude_schemas,
            grants,
            owners,
            jobs,
        } => schema::dump_schema(
            &out,
            &config,
            &db(None, None),
            &schema::DumpArgs {
                output,
                json: format == DumpFormat::Json,
                schemas,
                exclude_schemas,
                grants,
                owners,
                jobs: usize::from(jobs),
            },
        ),
        Command::DiffDumps { a, b } => schema::diff_dumps(&out, &a, &b),
        Command::Lint(args) => lint::lint(&out, &config, &versions, &db(None, None), &args),
        Command::Diff(args) => compare::diff(&out, &config, &versions, &db(None, None), &args),
        Command::Check(args) => compare::check(&out, &config, &versions, &db(None, None), &args),
        Command::RestoreDump(args) => test_migration::restore_dump(&out, &db(None, None), &args),
        Command::TestMigration(args) => {
            test_migration::test_migration(&out, &config, &versions, &db(None, None), &args)
        }
        Command::Fleet { command } => {
            fleet::fleet(&out, &config, &versions, &db(None, None), *command)
        }
        Command::Batch { command } => batch::batch(&out, &config, &db(None, None), command),
    }
}

/// `1h02m`, `3m05s`, `12s`.
pub(super) fn short_duration(seconds: f64) -> String {
    let total = seconds.max(0.0).round() as u64;
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::describe_error;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read f.sql: {source}")]
    struct Quoting {
        source: std::io::Error,
    }

    #[test]
    fn a_cause_the_message_already_quotes_is_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let error = anyhow::Error::new(Quoting { source: io });
        assert_eq!(describe_error(&error), "cannot read f.sql: no such file");
    }

    #[test]
    fn context_keeps_every_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let error = anyhow::Error::new(io).context("loading the chain");
        assert_eq!(describe_error(&error), "loading the chain: no such file");
    }
}
