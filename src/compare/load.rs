//! Reading one side: loading it into a scratch database, inspecting it, and settling
//! the definitions the two sides spell differently.

use std::path::Path;
use std::time::Instant;

use super::{expressions, CompareError, Context, Event, SchemaRead, Source};
use crate::catalog::{self, InspectOptions, Schema};
use crate::db::{ConnInfo, Session};
use crate::dump;
use crate::import::applied::ToolTable;
use crate::migrator::RunOptions;
use crate::scratch::{ScratchDb, ScratchServer};
use crate::{diff, models};

/// A side ready to inspect: a live database, or a scratch database it was loaded into.
pub(super) struct Loaded {
    pub conn: ConnInfo,
    pub scratch: Option<ScratchDb>,
    pub load_ms: u128,
}

/// Loads a side into a scratch database of `server` (a live database needs nothing).
/// The scratch database is dropped with the server, also on error.
pub(super) async fn load_source(
    source: &Source,
    server: Option<&ScratchServer>,
    context: Context<'_>,
) -> Result<Loaded, CompareError> {
    if let Source::Database(url) = source {
        return Ok(Loaded {
            conn: ConnInfo::from_env(Some(url))?,
            scratch: None,
            load_ms: 0,
        });
    }
    let server = server.ok_or(CompareError::NoScratchServer)?;
    let db = server.create_database("diff").await?;
    let started = Instant::now();
    match source {
        Source::Models(dir) => {
            let client = db.conn().connect("retort models").await?;
            let loaded = models::load(dir, &client).await?;
            (context.on_event)(Event::ModelsLoaded {
                dir: dir.clone(),
                files: loaded.files,
                statements: loaded.statements,
                skipped: loaded.skipped_summary(),
            });
        }
        Source::Revision(rev) => {
            let migrator = context.chain.ok_or(CompareError::NoChain)?;
            let session = Session::open(db.conn(), context.tables.clone()).await?;
            migrator
                .upgrade(&session, rev, &RunOptions::default(), |_| {}, &mut |_| {})
                .await?;
        }
        Source::Dump(path) => {
            let programs = crate::scratch::client_programs(server.bin_dir())?;
            let info = dump::inspect_dump(path, &programs)?;
            let conn = db.conn().clone();
            tokio::task::spawn_blocking(move || {
                dump::restore(&info, &conn, &programs, dump::RestoreJobs::Auto)
            })
            .await??;
        }
        Source::Database(_) => {}
    }
    Ok(Loaded {
        conn: db.conn().clone(),
        load_ms: started.elapsed().as_millis(),
        scratch: Some(db),
    })
}

/// Inspects a loaded side, the tables `exclude_tables` names and other migration
/// tools' version tables left out. Also returns how long inspecting took and the
/// server's `server_version_num`.
pub(super) async fn inspect_loaded(
    loaded: &Loaded,
    exclude_tables: &[(String, String)],
) -> Result<(Schema, u128, i32), CompareError> {
    // Two connections sharing one snapshot: the catalog queries of a large schema run on
    // two server backends (as `pg_dump --jobs 2`). The connections count as inspecting.
    let started = Instant::now();
    let (client, helper) = tokio::try_join!(
        loaded.conn.connect("retort inspect"),
        loaded.conn.connect("retort inspect")
    )?;
    let (options, _) = options_leaving_out_tool_tables(&client, exclude_tables).await?;
    let (schema, version) = catalog::inspect_shared(&client, &[&helper], &options).await?;
    Ok((schema, started.elapsed().as_millis(), version))
}

/// Inspection options that leave out `exclude_tables` and every other migration
/// tool's version table found in the database, with the tool tables found.
pub(super) async fn options_leaving_out_tool_tables(
    client: &tokio_postgres::Client,
    exclude_tables: &[(String, String)],
) -> Result<(InspectOptions, Vec<ToolTable>), CompareError> {
    // Other migration tools' version tables are bookkeeping wherever they are found (a
    // database still run by Alembic, models dumped from it): never schema to compare,
    // and never something for autogenerate to drop.
    let tool_tables = crate::import::applied::find_tool_tables(client).await?;
    let options = InspectOptions {
        exclude_tables: exclude_tables
            .iter()
            .cloned()
            .chain(
                tool_tables
                    .iter()
                    .map(|t| (t.schema.clone(), t.name.clone())),
            )
            .collect(),
        ..InspectOptions::default()
    };
    Ok((options, tool_tables))
}

/// Makes the expressions both sides have comparable: when some are spelled
/// differently, a side is created from nothing in a fresh scratch database (with the
/// statements autogenerate would write) and read again, and its settled spellings
/// replace those that differed (see [`expressions`]). The side written by hand (a
/// chain or a live database rather than models or a dump, which have usually been
/// through a dump already) goes first; the other only when differences remain. Nothing
/// is loaded when no expression differs. A side that cannot be created again (an
/// extension this server lacks, a newer server's syntax) is compared as read, and
/// [`Event::SettleFailed`] says so.
pub(super) async fn settle_expressions(
    server: &ScratchServer,
    context: Context<'_>,
    sides: [(&Source, &mut SchemaRead); 2],
) -> Result<(), CompareError> {
    let [(from, a), (to, b)] = sides;
    if super::without_column_order(&a.schema) == super::without_column_order(&b.schema) {
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
        let settled = match recreate(server, context, &side.schema).await {
            Ok(settled) => settled,
            Err(e) => {
                (context.on_event)(Event::SettleFailed {
                    differing: keys.len(),
                    error: e.to_string(),
                });
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
    (context.on_event)(Event::ExpressionsSettled {
        differing,
        loads,
        ms: started.elapsed().as_millis(),
    });
    Ok(())
}

/// `schema` created from nothing in a fresh scratch database and read back.
async fn recreate(
    server: &ScratchServer,
    context: Context<'_>,
    schema: &Schema,
) -> Result<Schema, CompareError> {
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
        Ok::<_, CompareError>(
            inspect_loaded(&loaded, &context.tables.as_exclusions())
                .await?
                .0,
        )
    }
    .await;
    server.drop_database(&db).await?;
    result
}
