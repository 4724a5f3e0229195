//! `retort batch status|pause|resume`: the batch sections under way in a database, read
//! and steered from any machine (only the database is needed, not the revision files).

use std::io::{self, IsTerminal, Write as _};
use std::time::Duration;

use clap::Subcommand;

use super::online::{in_session, target, DbArgs};
use super::short_duration;
use super::Output;
use crate::config::Config;
use crate::db::batch_state::{read_batches, set_paused};
use crate::db::BatchProgress;

#[derive(Debug, Subcommand)]
pub(super) enum BatchCommand {
    /// Show every batch section under way: rows and keys done, rows per second, ETA,
    /// the last batch and the last error, and whether a run is at it
    Status {
        /// Show it again every 2 seconds until no section is under way (Ctrl-C stops)
        #[arg(long)]
        watch: bool,
    },
    /// Pause the batch section of REV (an id or a unique prefix): the run finishes the
    /// batch under way and waits
    Pause {
        /// Revision id or unique prefix
        rev: String,
    },
    /// Let a paused batch section of REV go on
    Resume {
        /// Revision id or unique prefix
        rev: String,
    },
}

/// How often `status --watch` looks again.
const WATCH_EVERY: Duration = Duration::from_secs(2);

pub(super) fn batch(
    out: &Output,
    config: &Config,
    db: &DbArgs,
    command: BatchCommand,
) -> anyhow::Result<u8> {
    let target = target(config, db)?;
    match command {
        BatchCommand::Status { watch } => in_session(&target, out, async |session| loop {
            let rows = read_batches(session.client(), session.tables()).await?;
            let runner = session.run_holder_pid().await?;
            print_status(out, &rows, runner)?;
            if !watch || rows.is_empty() {
                return Ok(0);
            }
            tokio::time::sleep(WATCH_EVERY).await;
        }),
        BatchCommand::Pause { rev } => steer(out, &target, &rev, true),
        BatchCommand::Resume { rev } => steer(out, &target, &rev, false),
    }
}

fn steer(
    out: &Output,
    target: &super::online::Target,
    rev: &str,
    paused: bool,
) -> anyhow::Result<u8> {
    let ids = in_session(target, out, async |session| {
        Ok(set_paused(session.client(), session.tables(), rev, paused).await?)
    })?;
    match ids.as_slice() {
        [] => {
            eprintln!(
                "error: no batch section under way matches `{rev}` (`retort batch status` lists them)"
            );
            Ok(super::EXIT_INPUT)
        }
        [id] => {
            if !out.quiet {
                if paused {
                    println!("paused {id}: its run waits after the batch under way");
                } else {
                    println!("resumed {id}");
                }
            }
            Ok(0)
        }
        many => {
            eprintln!(
                "error: `{rev}` matches the batch sections of {}; give more of the id",
                many.join(", ")
            );
            Ok(super::EXIT_INPUT)
        }
    }
}

fn print_status(out: &Output, rows: &[BatchProgress], runner: Option<i32>) -> anyhow::Result<()> {
    let mut stdout = io::stdout().lock();
    if out.json {
        let view = serde_json::json!({ "running_pid": runner, "batches": rows });
        writeln!(stdout, "{view}")?;
        return Ok(());
    }
    if rows.is_empty() {
        writeln!(stdout, "no batch section under way")?;
        return Ok(());
    }
    for row in rows {
        let state = match (row.paused, runner) {
            (true, _) => "paused".to_owned(),
            (false, Some(pid)) => format!("running (pid {pid})"),
            (false, None) => "stopped: `retort upgrade` goes on from here".to_owned(),
        };
        writeln!(
            stdout,
            "{} {}  {}.{}  {state}",
            row.revision, row.direction, row.table, row.key
        )?;
        writeln!(
            stdout,
            "  {:.1}% of the rows, keys {}..{} (next {}), {} batches, {} rows changed{}{}",
            row.fraction() * 100.0,
            BatchProgress::key_text(&row.first),
            BatchProgress::key_text(&row.last),
            BatchProgress::key_text(&row.next),
            row.batches,
            row.rows,
            row.rows_per_second()
                .map_or(String::new(), |r| format!(", {r:.0} rows/s")),
            row.eta_seconds()
                .map_or(String::new(), |s| format!(", ETA {}", short_duration(s))),
        )?;
        writeln!(
            stdout,
            "  batch size {}, last batch {}, last commit {} ago",
            row.size.map_or("-".to_owned(), |s| s.to_string()),
            row.last_batch_ms
                .map_or("-".to_owned(), |ms| format!("{ms} ms")),
            short_duration(row.idle_seconds),
        )?;
        if let Some(error) = &row.last_error {
            writeln!(stdout, "  last error: {error}")?;
        }
    }
    if io::stdout().is_terminal() {
        stdout.flush()?;
    }
    Ok(())
}
