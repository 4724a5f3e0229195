//! `retort fleet status --queue URL`: one view of a `fleet upgrade --queue` run across
//! all its workers, read from the control database alone (no target is connected to).
//! The library ([`crate::fleet::queue_view`]) reads the snapshot; this file picks the run,
//! repeats the snapshot with `--watch`, and prints it as tables or JSON.

use std::io::{self, IsTerminal as _, Write as _};
use std::time::Duration;

use anyhow::Context as _;

use super::short_duration;
use super::{Output, EXIT_CHECK_FAILED, EXIT_OK};
use crate::config::parse_duration;
use crate::db::ConnInfo;
use crate::fleet::queue::Control;
use crate::fleet::queue_view::{self, FailureEvent, QueueSnapshot};

/// The flags of `fleet status` that read a queue instead of the targets.
#[derive(Debug, clap::Args)]
pub(super) struct QueueStatusFlags {
    /// Show the run of a `fleet upgrade --queue` work queue in this control database (a
    /// URL or conninfo) across all its workers, instead of reading the targets
    #[arg(
        long,
        value_name = "URL",
        env = "RETORT_QUEUE_URL",
        hide_env_values = true,
        conflicts_with = "events"
    )]
    pub(super) queue: Option<String>,
    /// The run to show [default: the run of the most recently started worker]
    #[arg(long, value_name = "NAME", requires = "queue")]
    run_name: Option<String>,
    /// Redraw every --interval until Ctrl-C; failures are printed as they happen
    #[arg(long, requires = "queue")]
    watch: bool,
    /// How often --watch reads the queue
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "2s",
        requires = "watch"
    )]
    interval: String,
}

/// Shortest `--interval`: each snapshot is a handful of queries on the control database.
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// Runs `fleet status --queue URL`: exit 0, or 1 when the run has failed targets.
pub(super) fn status(out: &Output, url: &str, flags: &QueueStatusFlags) -> anyhow::Result<u8> {
    let conn = ConnInfo::from_env(Some(url)).context("--queue: not a usable connection string")?;
    let interval = Duration::from_millis(parse_duration("--interval", &flags.interval)?);
    if flags.watch && interval < MIN_INTERVAL {
        anyhow::bail!(
            "--interval {}: give at least 100ms, e.g. --interval 2s",
            flags.interval
        );
    }
    let runtime = super::online::runtime()?;
    runtime.block_on(async {
        let control = Control::connect_as(&conn, "retort fleet status").await?;
        let run = match &flags.run_name {
            Some(name) => queue_view::has_run(&control, name)
                .await?
                .then(|| name.clone()),
            None => queue_view::latest_run(&control).await?,
        };
        let Some(run) = run else {
            let named = match &flags.run_name {
                Some(name) => format!(" named `{name}`"),
                None => String::new(),
            };
            anyhow::bail!(
                "no fleet run{named} is recorded in {}; start workers with \
                 `retort fleet upgrade --queue ...`",
                conn.describe()
            );
        };
        if flags.watch {
            watch(out, &control, &run, interval).await
        } else {
            let snapshot = queue_view::snapshot(&control, &run).await?;
            print_snapshot(out, &snapshot)?;
            Ok(exit_code(&snapshot))
        }
    })
}

fn exit_code(snapshot: &QueueSnapshot) -> u8 {
    if snapshot.counts.failed > 0 {
        EXIT_CHECK_FAILED
    } else {
        EXIT_OK
    }
}

/// Failure lines kept under the screen on a terminal.
const RECENT_FAILURES: usize = 10;

/// Reads and prints a snapshot every `interval` until Ctrl-C (or SIGTERM). On a terminal
/// the screen is cleared and redrawn; otherwise each snapshot is a block of its own, and
/// each failure is printed once as a `failure:` line when it is first seen.
async fn watch(
    out: &Output,
    control: &Control,
    run: &str,
    interval: Duration,
) -> anyhow::Result<u8> {
    let terminal = !out.json && io::stdout().is_terminal();
    let interrupted = super::scratch::interrupted();
    tokio::pin!(interrupted);
    let mut after = 0;
    let mut recent: Vec<String> = Vec::new();
    let mut code = EXIT_OK;
    loop {
        let read = async {
            let snapshot = queue_view::snapshot(control, run).await?;
            let failures = queue_view::failures_since(control, run, after).await?;
            Ok::<_, crate::db::DbError>((snapshot, failures))
        };
        let (snapshot, (failures, last)) = tokio::select! {
            read = read => read?,
            _ = &mut interrupted => break,
        };
        after = last;
        code = exit_code(&snapshot);
        let lines: Vec<String> = failures.iter().map(failure_line).collect();
        if out.json {
            outln!("{}", serde_json::to_string(&snapshot)?);
        } else if terminal {
            recent.extend(lines);
            let over = recent.len().saturating_sub(RECENT_FAILURES);
            recent.drain(..over);
            let mut screen = String::from("\x1b[2J\x1b[H");
            screen.push_str(&render(&snapshot));
            if !recent.is_empty() {
                screen.push_str("\nFAILURES SEEN WHILE WATCHING\n");
                for line in &recent {
                    screen.push_str(line);
                    screen.push('\n');
                }
            }
            screen.push_str("\n(Ctrl-C to stop)\n");
            let mut stdout = io::stdout().lock();
            let _ = stdout.write_all(screen.as_bytes());
            let _ = stdout.flush();
        } else {
            for line in &lines {
                outln!("{line}");
            }
            outln!("{}", render(&snapshot));
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = &mut interrupted => break,
        }
    }
    Ok(code)
}

/// One line per failure event, for `--watch`.
fn failure_line(failure: &FailureEvent) -> String {
    format!(
        "failure: {} at revision {} on worker {} ({}): {}",
        failure.target.as_deref().unwrap_or("?"),
        failure.revision.as_deref().unwrap_or("-"),
        failure.worker,
        failure.ts,
        first_line(failure.error.as_deref().unwrap_or(""))
    )
}

fn print_snapshot(out: &Output, snapshot: &QueueSnapshot) -> anyhow::Result<()> {
    if out.json {
        outln!("{}", serde_json::to_string_pretty(snapshot)?);
    } else {
        outln!("{}", render(snapshot));
    }
    Ok(())
}

/// The first line of a text, for one-line cells (the JSON has all of it).
fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// Columns padded to their widest cell; the last one is not padded.
fn table(out: &mut String, title: &str, header: &[&str], rows: &[Vec<String>]) {
    out.push('\n');
    out.push_str(title);
    out.push('\n');
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            if i + 1 == widths.len() {
                text.push_str(cell);
            } else {
                let pad = widths[i].saturating_sub(cell.chars().count());
                text.push_str(cell);
                text.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
}

/// The snapshot as a header line and three tables.
fn render(s: &QueueSnapshot) -> String {
    let c = &s.counts;
    let t = &s.throughput;
    let elapsed = s
        .elapsed_seconds
        .map_or_else(|| "-".to_owned(), short_duration);
    let eta = match t.eta_seconds {
        Some(eta) => short_duration(eta),
        None if c.pending + c.running == 0 => "-".to_owned(),
        None => "unknown".to_owned(),
    };
    let mut text = format!(
        "run {}  elapsed {elapsed}  done {} / running {} / pending {} / failed {} of {}  \
         {:.1} targets/min, {:.1} revisions/s  ETA {eta}\n",
        s.run,
        c.done,
        c.running,
        c.pending,
        c.failed,
        c.total,
        t.targets_per_minute,
        t.revisions_per_second
    );
    let workers: Vec<Vec<String>> = s
        .workers
        .iter()
        .map(|w| {
            let holding = if w.holding.is_empty() {
                "-".to_owned()
            } else {
                format!("{} ({})", w.holding.len(), w.holding.join(", "))
            };
            let ago = short_duration(w.seen_seconds_ago);
            let seen = if w.finished {
                format!("finished {ago} ago")
            } else if w.gone {
                format!("{ago} ago, GONE (leases lapsed)")
            } else {
                format!("{ago} ago")
            };
            vec![
                w.id.clone(),
                w.host.clone(),
                w.pid.to_string(),
                holding,
                seen,
            ]
        })
        .collect();
    table(
        &mut text,
        "WORKERS",
        &["WORKER", "HOST", "PID", "HOLDING", "LAST SEEN"],
        &workers,
    );
    if !s.slowest.is_empty() {
        let rows: Vec<Vec<String>> = s
            .slowest
            .iter()
            .map(|r| {
                let mut elapsed = short_duration(r.elapsed_seconds);
                if r.lease_lapsed {
                    elapsed.push_str(" (lease lapsed)");
                }
                vec![
                    r.name.clone(),
                    r.worker.clone().unwrap_or_else(|| "-".to_owned()),
                    r.revision.clone().unwrap_or_else(|| "-".to_owned()),
                    elapsed,
                ]
            })
            .collect();
        table(
            &mut text,
            "SLOWEST RUNNING",
            &["TARGET", "WORKER", "REVISION", "ELAPSED"],
            &rows,
        );
    }
    if !s.failed.is_empty() {
        let rows: Vec<Vec<String>> = s
            .failed
            .iter()
            .map(|f| {
                vec![
                    f.name.clone(),
                    f.worker.clone().unwrap_or_else(|| "-".to_owned()),
                    f.revision.clone().unwrap_or_else(|| "-".to_owned()),
                    first_line(f.error.as_deref().unwrap_or("")).to_owned(),
                ]
            })
            .collect();
        table(
            &mut text,
            "FAILED",
            &["TARGET", "WORKER", "REVISION", "ERROR"],
            &rows,
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_hours_minutes_seconds() {
        assert_eq!(short_duration(0.4), "0s");
        assert_eq!(short_duration(65.0), "1m05s");
        assert_eq!(short_duration(3720.0), "1h02m");
        assert_eq!(short_duration(-3.0), "0s");
    }

    #[test]
    fn tables_pad_all_but_the_last_column() {
        let mut text = String::new();
        table(
            &mut text,
            "T",
            &["A", "BB"],
            &[vec!["long".into(), "x".into()]],
        );
        assert_eq!(text, "\nT\nA     BB\nlong  x\n");
    }
}
