//! `retort init --from-database URL`: adopting a database that already exists. Its
//! schema becomes the models (`models/schema.sql`, the canonical dump, which loads) and a
//! baseline revision (the diff engine's script from nothing to the models, and back);
//! the chain at that revision, replayed in a scratch database, must give exactly the
//! database's schema, and then each environment is `stamp`ed there (`stamp` checks the
//! same before it records anything).

use std::path::Path;

use super::compare::{self, AutogenerateArgs};
use super::online::{runtime, DbArgs};
use super::scratch::ScratchFlags;
use super::{Output, EXIT_CHECK_FAILED, EXIT_OK};
use crate::config::{self, Config};
use crate::db::{ConnInfo, VersionTables};
use crate::{migrator, Migrator, NewRevision};

/// The file the live schema is written to, under the models directory.
const MODELS_FILE: &str = "schema.sql";

pub(super) fn init_from_database(
    out: &Output,
    dir: &Path,
    url: &str,
    flags: &ScratchFlags,
) -> anyhow::Result<u8> {
    // Parsed and read before anything is written: a wrong URL leaves no half project.
    let live = ConnInfo::from_env(Some(url))?;
    let db = DbArgs {
        database_url: Some(url.to_owned()),
        ..DbArgs::default()
    };
    // A new project has the default version tables; retort's own stay out of the models
    // (a database adopted again, say), and so do other migration tools' (bookkeeping
    // that stays with the database, not schema for every new environment).
    let tables = VersionTables::default();
    let (schema, tool_tables) =
        runtime()?.block_on(crate::compare::inspect_database(&live, &tables))?;
    if !out.quiet && !out.json {
        for table in &tool_tables {
            eprintln!(
                "left out {table}: another migration tool's version table (bookkeeping, not \
                 schema; `retort import TOOL` converts that tool's history instead)"
            );
        }
    }
    if schema.is_empty() {
        anyhow::bail!(
            "{} holds no schema to adopt (nothing but an empty `public`); start with \
             `retort init` and `retort new-migration` instead",
            live.describe()
        );
    }

    let created = migrator::init(dir)?;
    let config = Config::load(&dir.join(config::FILE_NAME))?;
    // The commented example model would only be noise next to the real schema.
    let example = config.models_dir.join("00_example.sql");
    if created.contains(&example) {
        std::fs::remove_file(&example)?;
    }
    let models = config.models_dir.join(MODELS_FILE);
    std::fs::write(&models, schema.to_text())?;
    if !out.quiet && !out.json {
        for path in created.iter().filter(|p| **p != example) {
            eprintln!("created {}", path.display());
        }
        eprintln!(
            "wrote {} (the schema of {})",
            models.display(),
            live.describe()
        );
    }

    let args = AutogenerateArgs {
        autogenerate: true,
        from_database: None,
        rename: Vec::new(),
        online: false,
        scratch: flags.clone(),
    };
    let revision = NewRevision {
        message: "baseline".into(),
        ..NewRevision::default()
    };
    let code = compare::autogenerate(out, &config, &config.versions_dir, &db, &args, revision)?;
    if code != EXIT_OK {
        return Ok(code);
    }

    // The proof: the chain at its head is the database, as `stamp` will check again.
    let differs = compare::chain_differs_from(
        out,
        &config,
        &config.versions_dir,
        &db,
        flags,
        "head",
        crate::compare::LiveDb {
            conn: &live,
            also_exclude: &[],
        },
    )?;
    if let Some(diff) = differs {
        if !out.quiet {
            super::schema::print_diff(&diff)?;
        }
        eprintln!(
            "error: the baseline revision does not give the schema of {} (the dump diff \
             above: - the chain, + the database); the files are written: complete the \
             revision by hand for what differs, then run `retort check --from-database URL` \
             until it passes",
            live.describe()
        );
        return Ok(EXIT_CHECK_FAILED);
    }
    let migrator = Migrator::open(&config.versions_dir)?;
    let graph = migrator.graph();
    let ids: Vec<String> = graph
        .heads()
        .into_iter()
        .map(|i| graph.revision(i).id.to_string())
        .collect();
    let id = ids.join(" ");
    if !out.quiet && !out.json {
        eprintln!(
            "the baseline {id} gives exactly the schema of {} (checked in a scratch database)",
            live.describe()
        );
        eprintln!(
            "next: record that each environment already has it, without running its SQL:\n  \
             cd {} && retort --database-url URL stamp {id}   (or --env NAME; stamp checks \
             the schema first)",
            dir.display()
        );
    }
    Ok(EXIT_OK)
}
