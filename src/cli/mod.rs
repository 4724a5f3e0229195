//! The command line: clap definitions, one function per command, and printing.
//!
//! Commands only wire library calls together and format their results; exit codes
//! follow DESIGN.md (0 ok, 1 check failed, 2 usage or input error, 3 database, 4 lock).

mod draw;
mod offline;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::Config;

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
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create retort.toml, versions/ and models/ (with a commented example) in DIR
    Init {
        /// Project directory (created if missing)
        #[arg(default_value = ".")]
        dir: PathBuf,
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
        /// Revisions that must be applied first without being parents (repeatable)
        #[arg(long, value_name = "REV")]
        depends_on: Vec<String>,
        /// Branch label for the new revision (repeatable)
        #[arg(long, value_name = "LABEL")]
        branch_label: Vec<String>,
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
    /// Check that the revision files agree with versions/retort.sum (exit 1 if not)
    Verify {
        /// Check the files against retort.sum, without a database
        #[arg(long, required = true)]
        files: bool,
    },
    /// Rewrite versions/retort.sum from the revision files, after a deliberate edit
    Rehash,
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
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(exit_code(&error))
        }
    }
}

/// Every error so far is about usage or input files; database errors (3) and lock
/// timeouts (4) get their own codes once commands talk to PostgreSQL.
fn exit_code(_error: &anyhow::Error) -> u8 {
    EXIT_INPUT
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    let out = Output {
        json: cli.json,
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    if let Command::Init { dir } = &cli.command {
        return offline::init(&out, dir);
    }
    let versions = match cli.versions {
        Some(dir) => dir,
        None => Config::discover_from_current_dir()?.versions_dir,
    };
    match cli.command {
        Command::Init { .. } => Ok(EXIT_OK),
        Command::NewMigration {
            message,
            head,
            depends_on,
            branch_label,
        } => offline::new_migration(&out, &versions, message, head, depends_on, branch_label),
        Command::Merge { message, revisions } => {
            offline::merge(&out, &versions, &message, &revisions)
        }
        Command::History { rev_range } => offline::history(&out, &versions, rev_range.as_deref()),
        Command::Heads => offline::heads(&out, &versions),
        Command::Show { rev } => offline::show(&out, &versions, &rev),
        Command::Graph { format } => {
            offline::graph(&out, &versions, matches!(format, GraphFormat::Dot))
        }
        Command::Verify { .. } => offline::verify_files(&out, &versions),
        Command::Rehash => offline::rehash(&out, &versions),
    }
}
