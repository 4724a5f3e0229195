//! `diff` and `check`: compare the schemas of two sources, each one of the models
//! (`models/*.sql`), a live database, a revision of the chain (replayed in a scratch
//! database) or a dump file (restored into one).
//!
//! `check` is the CI guard: models against the chain's head (or, with
//! `--from-database`, against a live database: drift), exit 1 when they differ.

use std::path::{Path, PathBuf};

use super::online::{runtime, version_tables, DbArgs};
use super::scratch::{with_scratch, ScratchFlags};
use super::{Output, EXIT_CHECK_FAILED, EXIT_OK};
use crate::catalog::{self, InspectOptions, Schema};
use crate::config::Config;
use crate::db::{ConnInfo, Session, VersionTables};
use crate::migrator::RunOptions;
use crate::scratch::{restore, ScratchServer};
use crate::{models, Migrator};

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
    #[command(flatten)]
    scratch: ScratchFlags,
}

#[derive(Debug, clap::Args)]
pub(super) struct CheckArgs {
    /// Compare the models with this live database instead of the chain's head (drift
    /// detection)
    #[arg(long, value_name = "URL")]
    from_database: Option<String>,
    #[command(flatten)]
    scratch: ScratchFlags,
}

/// Reads a source's schema, loading it into a scratch database when it is not live.
async fn schema_of(
    source: &Source,
    server: Option<&ScratchServer>,
    versions: &Path,
    tables: &VersionTables,
    out: &Output,
) -> anyhow::Result<Schema> {
    let inspect = InspectOptions {
        exclude_tables: vec![
            (tables.schema.clone(), tables.version.clone()),
            (tables.schema.clone(), tables.history.clone()),
        ],
        ..InspectOptions::default()
    };
    if let Source::Database(url) = source {
        let conn = ConnInfo::from_env(Some(url))?;
        let client = conn.connect("retort diff").await?;
        return Ok(catalog::inspect(&client, &inspect).await?);
    }
    let server = server.ok_or_else(|| anyhow::anyhow!("no scratch server was started"))?;
    let db = server.create_database("diff").await?;
    let loaded = async {
        match source {
            Source::Models(dir) => {
                let client = db.conn().connect("retort models").await?;
                let loaded = models::load(dir, &client).await?;
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
                let migrator = Migrator::open(versions)?;
                let session = Session::open(db.conn(), tables.clone()).await?;
                migrator
                    .upgrade(&session, rev, &RunOptions::default(), |_| {}, &mut |_| {})
                    .await?;
            }
            Source::Dump(path) => {
                let programs = crate::scratch::client_programs(server.bin_dir())?;
                let info = restore::inspect_dump(path, &programs)?;
                let conn = db.conn().clone();
                tokio::task::spawn_blocking(move || restore::restore(&info, &conn, &programs))
                    .await??;
            }
            Source::Database(_) => {}
        }
        let client = db.conn().connect("retort inspect").await?;
        anyhow::Ok(catalog::inspect(&client, &inspect).await?)
    }
    .await;
    let dropped = server.drop_database(&db).await;
    let schema = loaded?;
    dropped?;
    Ok(schema)
}

/// Both schemas, with a scratch server only when a source needs one.
fn schemas(
    out: &Output,
    config: &Config,
    versions: &Path,
    db: &DbArgs,
    flags: &ScratchFlags,
    from: &Source,
    to: &Source,
) -> anyhow::Result<(Schema, Schema)> {
    let tables = version_tables(config, db)?;
    runtime()?.block_on(async {
        let both = async |server: Option<&ScratchServer>| {
            let a = schema_of(from, server, versions, &tables, out).await?;
            let b = schema_of(to, server, versions, &tables, out).await?;
            anyhow::Ok((a, b))
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

/// Prints the difference between two schemas; returns whether there was one.
fn report(
    out: &Output,
    from: &Source,
    to: &Source,
    a: &Schema,
    b: &Schema,
) -> anyhow::Result<bool> {
    let (from_name, to_name) = (from.describe(), to.describe());
    let diff = catalog::diff_dumps(&a.to_text(), &b.to_text(), &from_name, &to_name);
    if out.json {
        outln!(
            "{}",
            serde_json::json!({
                "from": from_name,
                "to": to_name,
                "differs": diff.is_some(),
                "diff": diff,
            })
        );
    } else if let Some(diff) = &diff {
        super::schema::print_diff(diff)?;
    } else if !out.quiet {
        outln!("no differences: {from_name} and {to_name} have the same schema");
    }
    Ok(diff.is_some())
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
    let differs = report(out, &from, &to, &a, &b)?;
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
    let differs = report(out, &from, &to, &a, &b)?;
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
