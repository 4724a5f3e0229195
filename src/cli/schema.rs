//! `dump-schema` (the catalog's canonical text, or JSON) and `diff-dumps` (a unified
//! diff of two dump files via `similar`, coloured on a terminal).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::online::{in_session, target, DbArgs};
use super::{Output, EXIT_CHECK_FAILED, EXIT_OK};
use crate::catalog::{self, InspectOptions};
use crate::config::Config;

/// Options of `dump-schema`.
#[derive(Debug, Clone)]
pub(crate) struct DumpArgs {
    pub output: Option<PathBuf>,
    pub json: bool,
    pub schemas: Vec<String>,
    pub exclude_schemas: Vec<String>,
    pub grants: bool,
    pub owners: bool,
    /// Connections reading the catalog (the session's plus `jobs - 1` more).
    pub jobs: usize,
}

pub(crate) fn dump_schema(
    out: &Output,
    config: &Config,
    args: &DbArgs,
    dump: &DumpArgs,
) -> anyhow::Result<u8> {
    let target = target(config, args)?;
    let options = InspectOptions {
        schemas: dump.schemas.clone(),
        exclude_schemas: dump.exclude_schemas.clone(),
        grants: dump.grants,
        owners: dump.owners,
        // retort's own bookkeeping is not part of the application's schema.
        exclude_tables: target.tables.as_exclusions(),
    };
    let schema = in_session(&target, out, async |session| {
        let more = futures_util::future::try_join_all(
            (1..dump.jobs).map(|_| target.conn.connect("retort dump-schema")),
        )
        .await?;
        let more: Vec<&tokio_postgres::Client> = more.iter().collect();
        Ok(catalog::inspect_shared(session.client(), &more, &options)
            .await?
            .0)
    })?;
    let mut text = if dump.json || out.json {
        serde_json::to_string_pretty(&schema)?
    } else {
        schema.to_text()
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    match &dump.output {
        Some(path) => {
            // An interrupted dump never leaves a half-written schema.sql behind.
            crate::atomic_file::write(path, text.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            if !out.quiet {
                let counts: Vec<String> = schema
                    .counts()
                    .into_iter()
                    .filter(|(_, n)| *n > 0)
                    .map(|(kind, n)| format!("{n} {kind}"))
                    .collect();
                eprintln!(
                    "wrote {} ({})",
                    path.display(),
                    if counts.is_empty() {
                        "empty schema".to_owned()
                    } else {
                        counts.join(", ")
                    }
                );
            }
        }
        None => io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(EXIT_OK)
}

pub(crate) fn diff_dumps(out: &Output, a: &Path, b: &Path) -> anyhow::Result<u8> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))
    };
    let (left, right) = (read(a)?, read(b)?);
    let Some(text) = catalog::diff_dumps(
        &left,
        &right,
        &a.display().to_string(),
        &b.display().to_string(),
    ) else {
        if !out.quiet {
            eprintln!("{} and {} are identical", a.display(), b.display());
        }
        return Ok(EXIT_OK);
    };
    print_diff(&text)?;
    Ok(EXIT_CHECK_FAILED)
}

/// Prints a unified diff, coloured when stdout takes colour (a terminal; NO_COLOR,
/// CLICOLOR_FORCE and TERM=dumb honoured, through anstream).
pub(super) fn print_diff(text: &str) -> io::Result<()> {
    print_diff_indented(text, "")
}

/// [`print_diff`] with every line behind `indent`: the marker that decides a line's colour
/// is the first character after it, so an indented diff is coloured like any other.
pub(super) fn print_diff_indented(text: &str, indent: &str) -> io::Result<()> {
    use anstyle::{AnsiColor, Style};
    let mut stdout = anstream::stdout().lock();
    for line in text.lines() {
        let colour = match line.as_bytes().first() {
            Some(b'+') if !line.starts_with("+++") => Some(AnsiColor::Green),
            Some(b'-') if !line.starts_with("---") => Some(AnsiColor::Red),
            Some(b'@') => Some(AnsiColor::Cyan),
            _ => None,
        };
        match colour {
            Some(colour) => {
                let style = Style::new().fg_color(Some(colour.into()));
                writeln!(stdout, "{indent}{style}{line}{style:#}")?
            }
            None => writeln!(stdout, "{indent}{line}")?,
        }
    }
    Ok(())
}
