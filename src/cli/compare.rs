//! `diff` and `check` at the command line, and the schema reading of
//! `new-migration --autogenerate`, `stamp` and `init --from-database`: flags in,
//! [`crate::compare`]'s pipelines called, their results and events printed.
//!
//! `check` is the CI guard: models against the chain's head (or, with
//! `--from-database`, against a live database: drift), exit 1 when they differ.

use std::path::Path;

use super::online::{runtime, version_tables, DbArgs};
use super::scratch::{with_scratch, ScratchFlags};
use super::{Output, EXIT_CHECK_FAILED, EXIT_OK};
use crate::catalog::Schema;
use crate::compare::{self, Context, Event, SchemaRead, Source};
use crate::config::Config;
use crate::diff::Rename;
use crate::{Migrator, NewRevision};

#[derive(Debug, clap::Args)]
pub(super) struct DiffArgs {
    /// The schema to start from: `models`, `models:DIR`, a database URL, `dump:FILE`
    /// (or an existing file), `rev:TARGET` (or a bare target such as head or 0003)
    #[arg(long, value_name = "SOURCE", default_value = "head")]
    from: String,
    /// The schema to reach (same forms as --from)
    #[arg(long, value_name = "SOURCE", default_value = "models")]
    to: String,
    /// Exit 1 when the schemas differ (as `git diff --exit-code`)
    #[arg(long)]
    exit_code: bool,
    /// Show the diff of the two canonical schema dumps instead of SQL
    #[arg(long)]
    dump_diff: bool,
    /// Declare a rename instead of a drop and an add (repeatable): table:OLD=NEW,
    /// column:TABLE.OLD=NEW, index:OLD=NEW, constraint:TABLE.OLD=NEW, type:OLD=NEW
    #[arg(long, value_name = "KIND:OLD=NEW")]
    rename: Vec<Rename>,
    #[command(flatten)]
    scratch: ScratchFlags,
}

#[derive(Debug, clap::Args)]
pub(super) struct CheckArgs {
    /// Compare the models with this live database instead of the chain's head (drift
    /// detection)
    #[arg(long, value_name = "URL")]
    from_database: Option<String>,
    /// Show the diff of the two canonical schema dumps instead of SQL
    #[arg(long)]
    dump_diff: bool,
    #[command(flatten)]
    scratch: ScratchFlags,
}

/// `new-migration --autogenerate`'s own flags.
#[derive(Debug, clap::Args)]
pub(super) struct AutogenerateArgs {
    /// Write the upgrade (chain head → models) and downgrade (models → head) by diffing
    /// the schemas
    #[arg(long)]
    pub autogenerate: bool,
    /// With --autogenerate: diff the models against this live database instead of the
    /// chain replayed to head
    #[arg(long, value_name = "URL", requires = "autogenerate")]
    pub from_database: Option<String>,
    /// With --autogenerate: declare a rename instead of a drop and an add (repeatable):
    /// table:OLD=NEW, column:TABLE.OLD=NEW, index:OLD=NEW, constraint:TABLE.OLD=NEW,
    /// type:OLD=NEW
    #[arg(long, value_name = "KIND:OLD=NEW", requires = "autogenerate")]
    pub rename: Vec<Rename>,
    /// With --autogenerate: write the forms that keep existing tables available:
    /// CREATE/DROP INDEX CONCURRENTLY, constraints added NOT VALID then validated, unique
    /// keys built from a concurrent index, SET NOT NULL proven by a validated check (the
    /// section then runs with transaction:false)
    #[arg(long, requires = "autogenerate")]
    pub online: bool,
    #[command(flatten)]
    pub scratch: ScratchFlags,
}

/// Prints what a comparison pipeline reports on the way, as `out` asks.
fn print_event(out: &Output, event: Event) {
    match event {
        Event::ModelsLoaded {
            dir,
            files,
            statements,
            skipped,
        } => {
            if let Some(summary) = skipped.filter(|_| !out.quiet) {
                eprintln!("{summary}");
            }
            if out.verbose {
                eprintln!(
                    "loaded {statements} statement(s) from {files} model file(s) in {}",
                    dir.display()
                );
            }
        }
        Event::SourceRead {
            source,
            load_ms,
            inspect_ms,
        } => {
            if out.verbose {
                eprintln!("{source}: loaded in {load_ms} ms, inspected in {inspect_ms} ms");
            }
        }
        Event::ExpressionsSettled {
            differing,
            loads,
            ms,
        } => {
            if out.verbose {
                eprintln!(
                    "settled {differing} differently spelled definition(s) by creating \
                     {loads} side(s) again in {ms} ms"
                );
            }
        }
        Event::SettleFailed { differing, error } => {
            if !out.quiet {
                eprintln!(
                    "warning: {differing} definition(s) are spelled differently, and creating \
                     a side's schema again to settle them failed, so they are compared as \
                     read: {error}"
                );
            }
        }
        Event::RenameHint(hint) => {
            if !out.quiet {
                eprintln!("hint: {hint}");
            }
        }
    }
}

/// Both schemas, read concurrently (two scratch databases load and are inspected at
/// the same time), with a scratch server only when a side needs one.
fn schemas(
    out: &Output,
    config: &Config,
    versions: &Path,
    db: &DbArgs,
    flags: &ScratchFlags,
    sides: [&Source; 2],
) -> anyhow::Result<(SchemaRead, SchemaRead)> {
    let [from, to] = sides;
    // The chain is read once, for checking the sides and for replaying one.
    let chain = sides
        .iter()
        .any(|s| matches!(s, Source::Revision(_)))
        .then(|| Migrator::open(versions))
        .transpose()?;
    // Before any scratch server starts: a typo costs nothing.
    for side in sides {
        side.check(chain.as_ref())?;
    }
    let tables = version_tables(config, db)?;
    let on_event = |event| print_event(out, event);
    let context = Context {
        chain: chain.as_ref(),
        tables: &tables,
        on_event: &on_event,
    };
    runtime()?.block_on(async {
        if from.needs_scratch() || to.needs_scratch() {
            with_scratch(out, flags, None, None, async |server| {
                Ok(compare::read_schemas(from, to, Some(server), context).await?)
            })
            .await
        } else {
            Ok(compare::read_schemas(from, to, None, context).await?)
        }
    })
}

/// Prints the difference between two schemas (the SQL from `a` to `b`, or with
/// `dump_diff` the diff of their dumps); returns whether there was one.
fn report(
    out: &Output,
    sides: [&Source; 2],
    schemas: [&Schema; 2],
    dump_diff: bool,
    renames: &[Rename],
) -> anyhow::Result<bool> {
    let (from_name, to_name) = (sides[0].describe(), sides[1].describe());
    let on_event = |event| print_event(out, event);
    let comparison = compare::compare_schemas(
        schemas[0],
        schemas[1],
        (&from_name, &to_name),
        renames,
        &on_event,
    )?;
    if out.json {
        outln!(
            "{}",
            serde_json::json!({
                "from": from_name,
                "to": to_name,
                "differs": comparison.dump_diff.is_some(),
                "sql": comparison.sql,
                "dump_diff": comparison.dump_diff,
            })
        );
    } else if let (Some(dumps), Some(sql)) = (&comparison.dump_diff, &comparison.sql) {
        if dump_diff {
            super::schema::print_diff(dumps)?;
        } else {
            outln!("-- from {from_name}\n-- to   {to_name}\n");
            outln!("{}", sql.trim_end());
        }
    } else if !out.quiet {
        outln!("no differences: {from_name} and {to_name} have the same schema");
    }
    Ok(comparison.dump_diff.is_some())
}

pub(super) fn diff(
    out: &Output,
    config: &Config,
    versions: &Path,
    db: &DbArgs,
    args: &DiffArgs,
) -> anyhow::Result<u8> {
    let from = Source::parse(&args.from, &config.models_dir);
    let to = Source::parse(&args.to, &config.models_dir);
    let (a, b) = schemas(out, config, versions, db, &args.scratch, [&from, &to])?;
    let differs = report(
        out,
        [&from, &to],
        [&a.schema, &b.schema],
        args.dump_diff,
        &args.rename,
    )?;
    Ok(if differs && args.exit_code {
        EXIT_CHECK_FAILED
    } else {
        EXIT_OK
    })
}

pub(super) fn check(
    out: &Output,
    config: &Config,
    versions: &Path,
    db: &DbArgs,
    args: &CheckArgs,
) -> anyhow::Result<u8> {
    let from = match &args.from_database {
        Some(url) => Source::Database(url.clone()),
        None => Source::Revision("head".into()),
    };
    let to = Source::Models(config.models_dir.clone());
    let (a, b) = schemas(out, config, versions, db, &args.scratch, [&from, &to])?;
    let differs = report(
        out,
        [&from, &to],
        [&a.schema, &b.schema],
        args.dump_diff,
        &[],
    )?;
    if differs {
        if !out.json {
            eprintln!(
                "check failed: {} and {} differ; write a revision for the change \
                 (`retort new-migration -m ...`) or update the models",
                from.describe(),
                to.describe()
            );
        }
        return Ok(EXIT_CHECK_FAILED);
    }
    Ok(EXIT_OK)
}

/// Whether the live database `live` has the schema of the chain replayed to `rev` (see
/// [`compare::chain_differs_from`]), on a scratch server started for it.
pub(super) fn chain_differs_from(
    out: &Output,
    config: &Config,
    versions: &Path,
    db: &DbArgs,
    flags: &ScratchFlags,
    rev: &str,
    live: compare::LiveDb<'_>,
) -> anyhow::Result<Option<String>> {
    let chain = Migrator::open(versions)?;
    Source::Revision(rev.to_owned()).check(Some(&chain))?;
    let tables = version_tables(config, db)?;
    let on_event = |event| print_event(out, event);
    let context = Context {
        chain: Some(&chain),
        tables: &tables,
        on_event: &on_event,
    };
    runtime()?.block_on(with_scratch(out, flags, None, None, async |server| {
        Ok(compare::chain_differs_from(server, rev, live, context).await?)
    }))
}

/// `new-migration --autogenerate`: a revision whose upgrade turns the current schema
/// (the chain at its head, or a live database) into the models, and whose downgrade
/// turns it back. Nothing is written when they already agree.
pub(super) fn autogenerate(
    out: &Output,
    config: &Config,
    versions: &Path,
    db: &DbArgs,
    args: &AutogenerateArgs,
    mut revision: NewRevision,
) -> anyhow::Result<u8> {
    let from = match &args.from_database {
        Some(url) => Source::Database(url.clone()),
        None => Source::Revision(revision.head.clone().unwrap_or_else(|| "head".into())),
    };
    let to = Source::Models(config.models_dir.clone());
    let (current, wanted) = schemas(out, config, versions, db, &args.scratch, [&from, &to])?;
    if out.verbose {
        eprintln!(
            "read {} ({} ms loading, {} ms inspecting) and {} ({} ms loading, {} ms inspecting) \
             concurrently; {} ms of inspection after the last load",
            from.describe(),
            current.load_ms,
            current.inspect_ms,
            to.describe(),
            wanted.load_ms,
            wanted.inspect_ms,
            current.waited_ms
        );
    }
    let on_event = |event| print_event(out, event);
    let Some(generated) =
        compare::autogenerate(&current, &wanted, &args.rename, args.online, &on_event)?
    else {
        if !out.quiet {
            eprintln!(
                "no differences between {} and {}: no revision written",
                from.describe(),
                to.describe()
            );
        }
        return Ok(EXIT_OK);
    };
    if out.verbose {
        eprintln!(
            "diffed and rendered both directions in {} ms",
            generated.diff_ms
        );
    }
    if !out.quiet {
        let warnings = generated.warnings();
        eprintln!(
            "autogenerated {} upgrade and {} downgrade statement(s) from {} to {}{}",
            generated.upgrade.statements.len(),
            generated.downgrade.statements.len(),
            from.describe(),
            to.describe(),
            if warnings > 0 {
                format!("; review the {warnings} WARNING comment(s) in the file")
            } else {
                String::new()
            }
        );
    }
    for (what, section, outside) in [
        (
            "upgrade",
            &generated.upgrade,
            &mut revision.upgrade_outside_transaction,
        ),
        (
            "downgrade",
            &generated.downgrade,
            &mut revision.downgrade_outside_transaction,
        ),
    ] {
        if let Some(reason) = &section.outside_transaction {
            *outside = true;
            if !out.quiet {
                eprintln!("the {what} section is written with transaction:false: {reason}");
            }
        }
    }
    revision.upgrade_sql = Some(generated.upgrade.sql());
    revision.downgrade_sql = Some(generated.downgrade.sql());
    let (code, path) = super::offline::write_revision_at(out, versions, &revision)?;
    // What was written is linted like any revision: the engine's safe forms are not
    // always the ones production needs (CONCURRENTLY, NOT VALID).
    if !out.quiet {
        let text = std::fs::read(&path)?;
        let written = crate::revision::parse_bytes(&path, &text)?;
        let lint_config = crate::lint::LintConfig::from_config(config)?;
        let findings = crate::lint::lint_revision(&written, &lint_config);
        super::lint::print_to_stderr(&findings);
    }
    Ok(code)
}
