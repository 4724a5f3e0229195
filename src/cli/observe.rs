//! `retort lint --observe`: runs the selected revisions in a scratch database (the chain
//! replayed, or a restored dump) and prints the locks and rewrites each statement
//! really caused, with the sizes of the relations involved where they are known.

use std::path::PathBuf;

use super::online::{self, DbArgs};
use super::scratch::{with_scratch, ScratchFlags};
use super::Output;
use crate::config::{Config, UrlSource};
use crate::dump;
use crate::migrator::{
    read_relation_sizes, DumpToObserveOn, ObserveEvent, Observed, RelationSizes,
};
use crate::scratch;
use crate::Migrator;

#[derive(Debug, clap::Args)]
pub(super) struct ObserveArgs {
    /// Run the revisions in a scratch database and report, per statement, the locks
    /// PostgreSQL took (pg_locks) and the tables it rewrote (relfilenode changed)
    #[arg(long)]
    observe: bool,
    /// With --observe: restore this dump (of production, say) into the scratch database
    /// instead of replaying the chain; its row counts and sizes are then the real ones
    #[arg(long, value_name = "FILE", requires = "observe")]
    from_dump: Option<PathBuf>,
    #[command(flatten)]
    scratch: ScratchFlags,
}

impl ObserveArgs {
    pub fn enabled(&self) -> bool {
        self.observe
    }
}

pub(super) fn observe(
    out: &Output,
    config: &Config,
    migrator: &Migrator,
    db: &DbArgs,
    args: &ObserveArgs,
    selected: &[usize],
) -> anyhow::Result<Observed> {
    let tables = online::version_tables(config, db)?;
    // The configured database is where the revisions will run: its sizes are the ones
    // that matter. It is only read.
    let target = online::target(config, db)?;
    let source_sizes = if target.source == UrlSource::Libpq {
        None
    } else {
        Some(target.conn.clone())
    };
    let dump = match &args.from_dump {
        Some(path) => {
            let programs = scratch::client_programs(None)?;
            Some(DumpToObserveOn {
                info: dump::inspect_dump(path, &programs)?,
                programs,
            })
        }
        None => None,
    };
    let want_major = dump.as_ref().and_then(|d| d.info.server_major());
    let info = dump.as_ref().map(|d| d.info.clone());
    let human = !out.quiet && !out.json;
    let mut on_event = |event: ObserveEvent<'_>| match event {
        ObserveEvent::Restoring { path, database } => {
            if human {
                eprintln!("restoring {} into {database}...", path.display());
            }
        }
        ObserveEvent::AssumedAt {
            path,
            table,
            ids,
            first,
        } => {
            if human {
                eprintln!(
                    "{} has no {table} table: taken to be at {} (the parent of {first})",
                    path.display(),
                    ids.join(", "),
                );
            }
        }
        ObserveEvent::Observing(id) => {
            if human {
                eprintln!("observing {id}...");
            }
        }
    };
    online::runtime()?.block_on(async {
        let mut sizes = None;
        if let Some(conn) = &source_sizes {
            match read_relation_sizes(conn).await {
                Ok(read) => sizes = Some(read),
                Err(e) if !out.quiet => {
                    eprintln!("warning: no relation sizes from {}: {e}", conn.describe())
                }
                Err(_) => {}
            }
        }
        with_scratch(
            out,
            &args.scratch,
            want_major,
            info.as_ref(),
            async |server| {
                Ok(migrator
                    .observe_in_scratch(server, tables, dump, selected, sizes, &mut on_event)
                    .await?)
            },
        )
        .await
    })
}

/// `1.2 GB, ~3,400,000 rows` for a relation whose size is known.
fn size_note(sizes: Option<&RelationSizes>, name: &str) -> Option<String> {
    let size = sizes?.by_name.get(name)?;
    let rows = if size.rows >= 0.0 {
        format!(", ~{} rows", group(size.rows.round() as u64))
    } else {
        String::new()
    };
    Some(format!("{}{rows}", bytes(size.bytes)))
}

fn bytes(n: i64) -> String {
    const UNITS: [&str; 5] = ["bytes", "kB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn relation_text(sizes: Option<&RelationSizes>, name: &str, kind: &str) -> String {
    match size_note(sizes, name) {
        Some(note) => format!("{name} ({kind}, {note})"),
        None => format!("{name} ({kind})"),
    }
}

/// The human report, on stdout after the findings.
pub(super) fn print_human(observed: &Observed) {
    let sizes = observed.sizes.as_ref();
    outln!();
    match sizes {
        Some(s) => outln!("observed in a scratch database (sizes from {}):", s.from),
        None => outln!("observed in a scratch database:"),
    }
    for id in &observed.skipped {
        outln!("{id}: already applied in the dump, not observed");
    }
    for revision in &observed.revisions {
        outln!(
            "{} {} ({}){}",
            revision.revision,
            revision.message,
            revision.path.display(),
            if revision.transactional {
                ", in a transaction that was rolled back"
            } else {
                ", transaction:false: it ran for real and locks were sampled while it ran"
            }
        );
        for s in &revision.statements {
            outln!(
                "  {}:{}:{}  {}  ({} ms)",
                revision.path.display(),
                s.line,
                s.column,
                s.sql,
                s.duration_ms
            );
            for lock in &s.locks {
                let held = if revision.transactional {
                    " until COMMIT"
                } else {
                    ""
                };
                outln!(
                    "      {} on {}: {}{held}",
                    lock.mode,
                    relation_text(sizes, &lock.relation.name, lock.relation.kind),
                    lock.blocks()
                );
            }
            for relation in &s.rewritten {
                outln!(
                    "      rewrote {}",
                    relation_text(sizes, &relation.name, relation.kind)
                );
            }
            if !s.held.is_empty() {
                let held: Vec<String> = s
                    .held
                    .iter()
                    .map(|h| {
                        format!(
                            "{} on {} (line {})",
                            h.lock.mode, h.lock.relation.name, h.since_line
                        )
                    })
                    .collect();
                outln!("      runs under {}", held.join(", "));
            }
            if s.locks.is_empty() && s.rewritten.is_empty() && s.held.is_empty() {
                outln!("      no locks on relations that existed before, nothing rewritten");
            }
        }
    }
    if observed.revisions.is_empty() && observed.skipped.is_empty() {
        outln!("nothing to observe");
    }
}

/// The JSON form: each revision's statements, with sizes beside the relations.
pub(super) fn to_json(observed: &Observed) -> serde_json::Value {
    serde_json::json!({
        "sizes_from": observed.sizes.as_ref().map(|s| s.from.clone()),
        "sizes": observed.sizes.as_ref().map(|s| {
            let mut names: Vec<&String> = observed
                .revisions
                .iter()
                .flat_map(|r| r.statements.iter())
                .flat_map(|s| {
                    s.locks
                        .iter()
                        .map(|l| &l.relation.name)
                        .chain(s.rewritten.iter().map(|r| &r.name))
                })
                .filter(|n| s.by_name.contains_key(*n))
                .collect();
            names.sort();
            names.dedup();
            names
                .into_iter()
                .map(|n| (n.clone(), serde_json::json!(s.by_name[n])))
                .collect::<serde_json::Map<_, _>>()
        }),
        "skipped": observed.skipped,
        "assumed_at": observed.assumed_at,
        "revisions": observed.revisions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_psql() {
        assert_eq!(bytes(512), "512 bytes");
        assert_eq!(bytes(8192), "8.0 kB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024 / 2), "1.5 GB");
        assert_eq!(group(3_400_000), "3,400,000");
        assert_eq!(group(999), "999");
    }
}
