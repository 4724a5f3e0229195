//! `diff` and `check`: compare the schemas of two sources, each one of the models
//! (`models/*.sql`), a live database, a revision of the chain (replayed in a scratch
//! database) or a dump file (restored into one).
//!
//! `check` is the CI guard: models against the chain's head (or, with
//! `--from-database`, against a live database: drift), exit 1 when they differ.

mod expressions;

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::online::{runtime, version_tables, DbArgs};
use super::scratch::{with_scratch, ScratchFlags};
use super::{Output, EXIT_CHECK_FAILED, EXIT_OK};
use crate::catalog::{self, InspectOptions, Schema};
use crate::config::Config;
use crate::db::{ConnInfo, Session, VersionTables};
use crate::diff::Rename;
use crate::dump;
use crate::migrator::RunOptions;
use crate::scratch::{ScratchDb, ScratchServer};
use crate::{diff, models, Migrator, NewRevision};

/// Where a schema comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Source {
    /// A directory of model files.
    Models(PathBuf),
    /// A live database (URL or conninfo).
    Database(String),
    /// A revision of the chain: `head`, an id, `base`...
    Revision(String),
    /// A dump file (pg_dump custom, directory, tar or plain format).
    Dump(PathBuf),
}

impl Source {
    /// `models`, `models:DIR`, `postgres://…` or a conninfo, `dump:FILE`, an existing
    /// file, an existing directory (models), `rev:TARGET` or a bare revision target.
    pub(super) fn parse(text: &str, config: &Config) -> Source {
        if text == "models" {
            return Source::Models(config.models_dir.clone());
        }
        if let Some(dir) = text.strip_prefix("models:") {
            return Source::Models(PathBuf::from(dir));
        }
        if let Some(file) = text.strip_prefix("dump:") {
            return Source::Dump(PathBuf::from(file));
        }
        if let Some(rev) = text.strip_prefix("rev:") {
            return Source::Revision(rev.to_owned());
        }
        if text.starts_with("postgres://")
            || text.starts_with("postgresql://")
            || text.contains('=')
        {
            return Source::Database(text.to_owned());
        }
        let path = Path::new(text);
        if path.is_file() {
            return Source::Dump(path.to_path_buf());
        }
        if path.is_dir() {
            return Source::Models(path.to_path_buf());
        }
        Source::Revision(text.to_owned())
    }

    /// For headers and messages: never the URL itself (it may hold a password).
    fn describe(&self) -> String {
        match self {
            Source::Models(dir) => format!("models in {}", dir.display()),
            Source::Database(url) => ConnInfo::from_env(Some(url))
                .map_or_else(|_| "a database".to_owned(), |c| c.describe()),
            Source::Revision(rev) => format!("the chain at {rev}"),
            Source::Dump(path) => format!("dump {}", path.display()),
        }
    }

    fn needs_scratch(&self) -> bool {
        !matches!(self, Source::Database(_))
    }
}

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

/// A source ready to inspect: a live database, or a scratch database it was loaded into.
struct Loaded {
    conn: ConnInfo,
    scratch: Option<ScratchDb>,
    load_ms: u128,
}

/// Loads a source into a scratch database (a live database needs nothing).
async fn load_source(
    source: &Source,
    server: Option<&ScratchServer>,
    chain: Option<&Migrator>,
    tables: &VersionTables,
    out: &Output,
) -> anyhow::Result<Loaded> {
    if let Source::Database(url) = source {
        return Ok(Loaded {
            conn: ConnInfo::from_env(Some(url))?,
            scratch: None,
            load_ms: 0,
        });
    }
    let server = server.ok_or_else(|| anyhow::anyhow!("no scratch server was started"))?;
    // Dropped with everything else when the scratch server shuts down, also on error.
    let db = server.create_database("diff").await?;
    let started = Instant::now();
    match source {
        Source::Models(dir) => {
            let client = db.conn().connect("retort models").await?;
            let loaded = models::load(dir, &client).await?;
            if let Some(summary) = loaded.skipped_summary().filter(|_| !out.quiet) {
                eprintln!("{summary}");
            }
            if out.verbose {
                eprintln!(
                    "loaded {} statement(s) from {} model file(s) in {}",
                    loaded.statements,
                    loaded.files,
                    dir.display()
                );
            }
        }
        Source::Revision(rev) => {
            let migrator =
                chain.ok_or_else(|| anyhow::anyhow!("the revision chain was not read"))?;
            let session = Session::open(db.conn(), tables.clone()).await?;
            migrator
                .upgrade(&session, rev, &RunOptions::default(), |_| {}, &mut |_| {})
                .await?;
        }
        Source::Dump(path) => {
            let programs = crate::scratch::client_programs(server.bin_dir())?;
            let info = dump::inspect_dump(path, &programs)?;
            let conn = db.conn().clone();
            tokio::task::spawn_blocking(move || dump::restore(&info, &conn, &programs)).await??;
        }
        Source::Database(_) => {}
    }
    Ok(Loaded {
        conn: db.conn().clone(),
        load_ms: started.elapsed().as_millis(),
        scratch: Some(db),
    })
}

/// Inspects a loaded source, retort's own version tables left out.
/// Also returns how long inspecting took and the server's `server_version_num`.
async fn inspect_loaded(
    loaded: &Loaded,
    exclude_tables: &[(String, String)],
) -> anyhow::Result<(Schema, u128, i32)> {
    // Two connections sharing one snapshot: the catalog queries of a large schema run on
    // two server backends (as `pg_dump --jobs 2`). The connections count as inspecting.
    let started = Instant::now();
    let (client, helper) = tokio::try_join!(
        loaded.conn.connect("retort inspect"),
        loaded.conn.connect("retort inspect")
    )?;
    // Other migration tools' version tables are bookkeeping wherever they are found (a
    // database still run by Alembic, models dumped from it): never schema to compare,
    // and never something for autogenerate to drop.
    let tool_tables = crate::import::applied::find_tool_tables(&client).await?;
    let options = InspectOptions {
        exclude_tables: exclude_tables
            .iter()
            .cloned()
            .chain(tool_tables.into_iter().map(|t| (t.schema, t.name)))
            .collect(),
        ..InspectOptions::default()
    };
    let (schema, version) = catalog::inspect_shared(&client, &[&helper], &options).await?;
    Ok((schema, started.elapsed().as_millis(), version))
}

/// Both sources' schemas, each inspected as soon as it is loaded: the source that
/// loads faster is inspected while the other still loads, so only the slower source's
/// inspection is waited for (on a 5,000-table schema, half the inspection time).
async fn read_both(
    sources: [&Source; 2],
    server: Option<&ScratchServer>,
    chain: Option<&Migrator>,
    tables: &VersionTables,
    out: &Output,
) -> anyhow::Result<(Read, Read)> {
    let [from, to] = sources;
    let started = Instant::now();
    let read = async |source: &Source| -> anyhow::Result<(Read, Loaded, u128)> {
        let loaded = load_source(source, server, chain, tables, out).await?;
        let loaded_at = started.elapsed().as_millis();
        let (schema, inspect_ms, server_version) =
            inspect_loaded(&loaded, &tables.as_exclusions()).await?;
        let read = Read {
            schema,
            load_ms: loaded.load_ms,
            inspect_ms,
            waited_ms: 0,
            server_version,
        };
        Ok((read, loaded, loaded_at))
    };
    let ((mut a, a_db, a_loaded), (mut b, b_db, b_loaded)) =
        tokio::try_join!(read(from), read(to))?;
    // What inspecting cost in wall time: from the later load's end to the end.
    let waited = started
        .elapsed()
        .as_millis()
        .saturating_sub(a_loaded.max(b_loaded));
    // Dropped only now: DROP DATABASE forces a checkpoint, which would slow down the
    // other source's load if it were still running.
    if let Some(server) = server {
        for db in [&a_db.scratch, &b_db.scratch].into_iter().flatten() {
            server.drop_database(db).await?;
        }
    }
    a.waited_ms = waited;
    b.waited_ms = waited;
    if out.verbose {
        for (source, read) in [(from, &a), (to, &b)] {
            eprintln!(
                "{}: loaded in {} ms, inspected in {} ms",
                source.describe(),
                read.load_ms,
                read.inspect_ms
            );
        }
    }
    Ok((a, b))
}

/// A source's schema and what reading it cost.
struct Read {
    schema: Schema,
    /// Loading it into a scratch database (models, chain replay, restore); 0 when live.
    load_ms: u128,
    inspect_ms: u128,
    /// Inspection time not overlapped by loading (the same for both sources).
    waited_ms: u128,
    /// `server_version_num` of the server it was read on.
    server_version: i32,
}

/// Both schemas, read concurrently (two scratch databases load and are inspected at
/// the same time), with a scratch server only when a source needs one.
fn schemas(
    out: &Output,
    config: &Config,
    versions: &Path,
    db: &DbArgs,
    flags: &ScratchFlags,
    from: &Source,
    to: &Source,
) -> anyhow::Result<(Read, Read)> {
    // The chain is read once, for checking the sides and for replaying one.
    let chain = [from, to]
        .iter()
        .any(|s| matches!(s, Source::Revision(_)))
        .then(|| Migrator::open(versions))
        .transpose()?;
    for source in [from, to] {
        settle(source, chain.as_ref())?;
    }
    let tables = version_tables(config, db)?;
    runtime()?.block_on(async {
        let both = async |server: Option<&ScratchServer>| {
            let (mut a, mut b) =
                read_both([from, to], server, chain.as_ref(), &tables, out).await?;
            if let Some(server) = server {
                settle_expressions(server, &tables, [(from, &mut a), (to, &mut b)], out).await?;
            }
            Ok((a, b))
        };
        if from.needs_scratch() || to.needs_scratch() {
            with_scratch(out, flags, None, None, async |server| {
                both(Some(server)).await
            })
            .await
        } else {
            both(None).await
        }
    })
}

/// Makes the expressions both sides have comparable: when some are spelled
/// differently, a side is created from nothing in a fresh scratch database (with the
/// statements autogenerate would write) and read again, and its settled spellings
/// replace those that differed (see [`expressions`]). The side written by hand (a
/// chain or a live database rather than models or a dump, which have usually been
/// through a dump already) goes first; the other only when differences remain. Nothing
/// is loaded when no expression differs. A side that cannot be created again (an
/// extension this server lacks, a newer server's syntax) is compared as read, with a
/// warning.
async fn settle_expressions(
    server: &ScratchServer,
    tables: &VersionTables,
    sides: [(&Source, &mut Read); 2],
    out: &Output,
) -> anyhow::Result<()> {
    let [(from, a), (to, b)] = sides;
    if without_column_order(&a.schema) == without_column_order(&b.schema) {
        return Ok(());
    }
    let mut keys = expressions::differing(&a.schema, &b.schema);
    if keys.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    let differing = keys.len();
    let dumped = |s: &Source| matches!(s, Source::Models(_) | Source::Dump(_));
    let (first, second) = if dumped(from) && !dumped(to) {
        (b, a)
    } else {
        (a, b)
    };
    let mut loads = 0;
    for turn in 0..2 {
        let side = if turn == 0 { &mut *first } else { &mut *second };
        loads += 1;
        let settled = match recreate(server, tables, &side.schema).await {
            Ok(settled) => settled,
            Err(e) => {
                if !out.quiet {
                    eprintln!(
                        "warning: {} definition(s) are spelled differently, and creating a \
                         side's schema again to settle them failed, so they are compared as \
                         read: {e:#}",
                        keys.len()
                    );
                }
                return Ok(());
            }
        };
        expressions::graft(&mut side.schema, &settled, &keys);
        keys = expressions::differing(&first.schema, &second.schema)
            .intersection(&keys)
            .cloned()
            .collect();
        if keys.is_empty() {
            break;
        }
    }
    if out.verbose {
        eprintln!(
            "settled {differing} differently spelled definition(s) by creating {loads} \
             side(s) again in {} ms",
            started.elapsed().as_millis()
        );
    }
    Ok(())
}

/// `schema` created from nothing in a fresh scratch database and read back.
async fn recreate(
    server: &ScratchServer,
    tables: &VersionTables,
    schema: &Schema,
) -> anyhow::Result<Schema> {
    // The SQL an autogenerated base revision would hold. The canonical dump is not
    // loadable as it is: it declares foreign keys inside CREATE TABLE, in name order.
    let changes = diff::diff(&Schema::default(), schema);
    let script = diff::to_script(&diff::render(&changes));
    let db = server.create_database("settle").await?;
    let result = async {
        let client = db.conn().connect("retort settle").await?;
        let name = Path::new("(the schema rendered as SQL)");
        models::load_text(name, &script, &client, &mut models::Loaded::default()).await?;
        let loaded = Loaded {
            conn: db.conn().clone(),
            scratch: None,
            load_ms: 0,
        };
        Ok::<_, anyhow::Error>(inspect_loaded(&loaded, &tables.as_exclusions()).await?.0)
    }
    .await;
    server.drop_database(&db).await?;
    result
}

/// Checks what a side names before any scratch database is started, so that a typo
/// costs nothing and the error lists every form a side can take.
fn settle(source: &Source, chain: Option<&Migrator>) -> anyhow::Result<()> {
    const FORMS: &str = "a side is `models`, `models:DIR`, a postgres:// URL, `dump:FILE` \
                         (or an existing file), or `rev:TARGET` (or a bare revision target)";
    match source {
        Source::Models(dir) if !dir.is_dir() => {
            anyhow::bail!("no models directory {}; {FORMS}", dir.display())
        }
        Source::Dump(path) if !path.is_file() => {
            anyhow::bail!("no dump file {}; {FORMS}", path.display())
        }
        Source::Revision(rev) => {
            // A scratch replay starts from base, so relative targets count from there.
            if let Some(Err(e)) = chain.map(|m| m.graph().resolve(rev, Some(&[]))) {
                anyhow::bail!("{e}; {FORMS}");
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The canonical dump with every table's columns in name order.
fn without_column_order(schema: &Schema) -> String {
    let mut schema = schema.clone();
    for table in &mut schema.tables {
        table.columns.sort_by(|x, y| x.name.cmp(&y.name));
    }
    schema.to_text()
}

/// The statements that turn schema `a` into `b` with the declared renames; prints a
/// hint for every drop-and-add pair that may be a rename.
/// The statements from `a` to `b`; with `online`, in their online forms (then the
/// flag says whether one was used, and the script needs `transaction:false`).
fn migration(
    hints: bool,
    a: &Schema,
    b: &Schema,
    renames: &[Rename],
    online: bool,
) -> Result<(Vec<diff::Statement>, bool), diff::RenameError> {
    let changes = diff::diff_with_renames(a, b, renames)?;
    if hints {
        for hint in diff::rename_hints(a, &changes) {
            eprintln!("hint: {hint}");
        }
    }
    Ok(if online {
        diff::render_online(&changes, a)
    } else {
        (diff::render(&changes), false)
    })
}

/// The renames of the way back, undone in reverse order.
fn inverse(renames: &[Rename]) -> Vec<Rename> {
    renames.iter().rev().map(Rename::inverse).collect()
}

/// Prints the difference between two schemas (the SQL from `a` to `b`, or with
/// `dump_diff` the diff of their dumps); returns whether there was one.
fn report(
    out: &Output,
    from: &Source,
    to: &Source,
    a: &Schema,
    b: &Schema,
    dump_diff: bool,
    renames: &[Rename],
) -> anyhow::Result<bool> {
    let (from_name, to_name) = (from.describe(), to.describe());
    // The canonical dumps decide whether there is a difference at all; the engine says
    // what to do about it. Column order is left out: a migration adds columns at the
    // end and cannot move them without rewriting the table, so a model that lists a new
    // column in the middle must still match the chain that added it.
    let dumps = catalog::diff_dumps(
        &without_column_order(a),
        &without_column_order(b),
        &from_name,
        &to_name,
    );
    // Declared renames are checked even when nothing differs: a stale one is an error.
    let statements = if dumps.is_some() || !renames.is_empty() {
        Some(migration(!out.quiet, a, b, renames, false)?.0)
    } else {
        None
    };
    let sql = dumps
        .as_ref()
        .and(statements.as_deref())
        .map(diff::to_script);
    if out.json {
        outln!(
            "{}",
            serde_json::json!({
                "from": from_name,
                "to": to_name,
                "differs": dumps.is_some(),
                "sql": sql,
                "dump_diff": dumps,
            })
        );
    } else if let (Some(dumps), Some(sql)) = (&dumps, &sql) {
        if dump_diff {
            super::schema::print_diff(dumps)?;
        } else {
            outln!("-- from {from_name}\n-- to   {to_name}\n");
            outln!("{}", sql.trim_end());
        }
    } else if !out.quiet {
        outln!("no differences: {from_name} and {to_name} have the same schema");
    }
    Ok(dumps.is_some())
}

pub(super) fn diff(
    out: &Output,
    config: &Config,
    versions: &Path,
    db: &DbArgs,
    args: &DiffArgs,
) -> anyhow::Result<u8> {
    let from = Source::parse(&args.from, config);
    let to = Source::parse(&args.to, config);
    let (a, b) = schemas(out, config, versions, db, &args.scratch, &from, &to)?;
    let differs = report(
        out,
        &from,
        &to,
        &a.schema,
        &b.schema,
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
    let (a, b) = schemas(out, config, versions, db, &args.scratch, &from, &to)?;
    let differs = report(out, &from, &to, &a.schema, &b.schema, args.dump_diff, &[])?;
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

/// A live database to compare, and the tables of it to leave out besides retort's own
/// (another tool's version table named with `stamp --from-tool --tool-table`).
pub(super) struct LiveDb<'a> {
    pub conn: &'a ConnInfo,
    pub also_exclude: &'a [(String, String)],
}

/// Whether the live database `live` has the schema of the chain replayed to `rev` (in a
/// scratch database): None when it has, else the diff of the two canonical dumps (column
/// order left out, as `check` does). What `stamp` and `init --from-database` rely on.
/// Other migration tools' version tables are left out (see `inspect_loaded`): a team
/// moving from Alembic keeps `alembic_version` until it switches.
pub(super) fn chain_differs_from(
    out: &Output,
    config: &Config,
    versions: &Path,
    db: &DbArgs,
    flags: &ScratchFlags,
    rev: &str,
    live: LiveDb<'_>,
) -> anyhow::Result<Option<String>> {
    let chain = Migrator::open(versions)?;
    let source = Source::Revision(rev.to_owned());
    settle(&source, Some(&chain))?;
    let tables = version_tables(config, db)?;
    let exclusions: Vec<(String, String)> = tables
        .as_exclusions()
        .into_iter()
        .chain(live.also_exclude.iter().cloned())
        .collect();
    runtime()?.block_on(with_scratch(out, flags, None, None, async |server| {
        let replayed = load_source(&source, Some(server), Some(&chain), &tables, out).await?;
        let live = Loaded {
            conn: live.conn.clone(),
            scratch: None,
            load_ms: 0,
        };
        let ((chain_schema, _, _), (live_schema, _, _)) = tokio::try_join!(
            inspect_loaded(&replayed, &exclusions),
            inspect_loaded(&live, &exclusions)
        )?;
        Ok(catalog::diff_dumps(
            &without_column_order(&chain_schema),
            &without_column_order(&live_schema),
            &source.describe(),
            &live.conn.describe(),
        ))
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
    let (current, wanted) = schemas(out, config, versions, db, &args.scratch, &from, &to)?;
    // The revision runs on servers like the one the current schema was read on.
    let server_version = current.server_version;
    let (current, wanted, timing) = (
        current.schema,
        wanted.schema,
        format!(
            "read {} ({} ms loading, {} ms inspecting) and {} ({} ms loading, {} ms inspecting) \
             concurrently; {} ms of inspection after the last load",
            from.describe(),
            current.load_ms,
            current.inspect_ms,
            to.describe(),
            wanted.load_ms,
            wanted.inspect_ms,
            current.waited_ms
        ),
    );
    if out.verbose {
        eprintln!("{timing}");
    }
    if without_column_order(&current) == without_column_order(&wanted) {
        if !out.quiet {
            eprintln!(
                "no differences between {} and {}: no revision written",
                from.describe(),
                to.describe()
            );
        }
        return Ok(EXIT_OK);
    }
    let started = Instant::now();
    // Both directions at once: on a large schema each is tens of milliseconds. Hints are
    // given for the upgrade; the downgrade's are the same pairs reversed.
    let back = inverse(&args.rename);
    let (upgrade, downgrade) = std::thread::scope(|scope| {
        let down = scope.spawn(|| migration(false, &wanted, &current, &back, args.online));
        let up = migration(!out.quiet, &current, &wanted, &args.rename, args.online);
        (up, down.join())
    });
    let (upgrade, upgrade_online) = upgrade?;
    let (downgrade, downgrade_online) =
        downgrade.map_err(|_| anyhow::anyhow!("the downgrade diff panicked"))??;
    if out.verbose {
        eprintln!(
            "diffed and rendered both directions in {} ms",
            started.elapsed().as_millis()
        );
    }
    if !out.quiet {
        let warnings = upgrade
            .iter()
            .chain(&downgrade)
            .flat_map(|s| &s.hazards)
            .count();
        eprintln!(
            "autogenerated {} upgrade and {} downgrade statement(s) from {} to {}{}",
            upgrade.len(),
            downgrade.len(),
            from.describe(),
            to.describe(),
            if warnings > 0 {
                format!("; review the {warnings} WARNING comment(s) in the file")
            } else {
                String::new()
            }
        );
    }
    for (what, statements, online, outside) in [
        (
            "upgrade",
            &upgrade,
            upgrade_online,
            &mut revision.upgrade_outside_transaction,
        ),
        (
            "downgrade",
            &downgrade,
            downgrade_online,
            &mut revision.downgrade_outside_transaction,
        ),
    ] {
        let reason = diff::needs_autocommit(statements, server_version).or_else(|| {
            online.then(|| {
                "--online: CONCURRENTLY cannot run in a transaction, and each NOT VALID must \
                 commit before its VALIDATE"
                    .to_string()
            })
        });
        if let Some(reason) = reason {
            *outside = true;
            if !out.quiet {
                eprintln!("the {what} section is written with transaction:false: {reason}");
            }
        }
    }
    revision.upgrade_sql = Some(diff::to_script(&upgrade));
    revision.downgrade_sql = Some(diff::to_script(&downgrade));
    let (code, path) = super::offline::write_revision_at(out, versions, &revision)?;
    // What was written is linted like any revision: the engine's safe forms are not
    // always the ones production needs (CONCURRENTLY, NOT VALID).
    if !out.quiet {
        let text = std::fs::read(&path)?;
        let written = crate::revision::parse_bytes(&path, &text)?;
        let findings = crate::lint::lint_revision(&written, &super::lint::lint_config(config)?);
        super::lint::print_to_stderr(&findings);
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_told_apart() {
        let config = Config {
            file: None,
            versions_dir: PathBuf::from("/proj/versions"),
            models_dir: PathBuf::from("/proj/models"),
            database: Default::default(),
            envs: Default::default(),
            lint: Default::default(),
        };
        assert_eq!(
            Source::parse("models", &config),
            Source::Models(PathBuf::from("/proj/models"))
        );
        assert_eq!(
            Source::parse("models:other", &config),
            Source::Models(PathBuf::from("other"))
        );
        assert_eq!(
            Source::parse("postgres://u@h/db", &config),
            Source::Database("postgres://u@h/db".into())
        );
        assert_eq!(
            Source::parse("host=h dbname=d", &config),
            Source::Database("host=h dbname=d".into())
        );
        assert_eq!(
            Source::parse("dump:x.dump", &config),
            Source::Dump(PathBuf::from("x.dump"))
        );
        assert_eq!(
            Source::parse("head", &config),
            Source::Revision("head".into())
        );
        assert_eq!(
            Source::parse("rev:0003", &config),
            Source::Revision("0003".into())
        );
    }
}
