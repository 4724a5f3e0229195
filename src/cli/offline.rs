//! Commands that need no database: scaffolding, writing revisions, and inspecting the graph.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

use super::{draw, Output, EXIT_CHECK_FAILED, EXIT_OK};
use crate::graph::{RevisionGraph, Target};
use crate::migrator::{self, Migrator, NewRevision};
use crate::revision::Revision;
use crate::sum::Mismatch;

/// One revision as `--json` shows it.
#[derive(Serialize)]
struct RevisionView<'a> {
    id: &'a str,
    message: &'a str,
    down_revisions: Vec<&'a str>,
    depends_on: Vec<&'a str>,
    branch_labels: &'a [String],
    created: Option<String>,
    path: &'a Path,
    checksum: String,
    is_head: bool,
    is_base: bool,
    is_merge: bool,
    is_branch_point: bool,
    reversible: bool,
    upgrade_transactional: bool,
}

fn view<'a>(graph: &'a RevisionGraph, index: usize) -> RevisionView<'a> {
    let r = graph.revision(index);
    RevisionView {
        id: r.id.as_str(),
        message: &r.message,
        down_revisions: r.down_revisions.iter().map(|i| i.as_str()).collect(),
        depends_on: r.depends_on.iter().map(|i| i.as_str()).collect(),
        branch_labels: &r.branch_labels,
        created: r.created.map(|c| c.to_rfc3339()),
        path: &r.path,
        checksum: r.checksum.to_string(),
        is_head: graph.children(index).is_empty(),
        is_base: r.is_base(),
        is_merge: r.is_merge(),
        is_branch_point: graph.children(index).len() > 1,
        reversible: r.is_reversible(),
        upgrade_transactional: r.upgrade.transactional,
    }
}

fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

pub(super) fn open(versions: &Path) -> anyhow::Result<Migrator> {
    Ok(Migrator::open(versions)?)
}

/// `(head)`, `(branchpoint)`, `(mergepoint)` markers, as Alembic prints them.
fn markers(graph: &RevisionGraph, index: usize) -> String {
    let mut text = String::new();
    if graph.children(index).is_empty() {
        text.push_str(" (head)");
    }
    if graph.children(index).len() > 1 {
        text.push_str(" (branchpoint)");
    }
    if graph.revision(index).is_merge() {
        text.push_str(" (mergepoint)");
    }
    if !graph.revision(index).is_reversible() {
        text.push_str(" (irreversible)");
    }
    text
}

fn parents_text(r: &Revision) -> String {
    if r.is_base() {
        "<base>".to_owned()
    } else {
        r.down_revisions
            .iter()
            .map(|i| i.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn write_verbose(out: &mut impl Write, graph: &RevisionGraph, index: usize) -> io::Result<()> {
    let r = graph.revision(index);
    writeln!(out, "Rev: {}{}", r.id, markers(graph, index))?;
    writeln!(out, "Parent: {}", parents_text(r))?;
    if !r.depends_on.is_empty() {
        let deps: Vec<&str> = r.depends_on.iter().map(|i| i.as_str()).collect();
        writeln!(out, "Also depends on: {}", deps.join(", "))?;
    }
    let children: Vec<&str> = graph
        .children(index)
        .iter()
        .map(|&c| graph.revision(c).id.as_str())
        .collect();
    if children.len() > 1 {
        writeln!(out, "Branches into: {}", children.join(", "))?;
    }
    if !r.branch_labels.is_empty() {
        writeln!(out, "Branch names: {}", r.branch_labels.join(", "))?;
    }
    writeln!(out, "Path: {}", r.path.display())?;
    if let Some(created) = r.created {
        writeln!(out, "Created: {}", created.to_rfc3339())?;
    }
    writeln!(out, "Checksum: {}", r.checksum)?;
    let downgrade = match &r.downgrade {
        None => "none (irreversible)",
        Some(s) if s.is_empty() => "empty (nothing to undo)",
        Some(_) => "yes",
    };
    writeln!(out, "Downgrade: {downgrade}")?;
    writeln!(out)?;
    writeln!(out, "    {}", r.message)?;
    writeln!(out)
}

pub(super) fn init(out: &Output, dir: &Path) -> anyhow::Result<u8> {
    let created = migrator::init(dir)?;
    if out.json {
        print_json(&created)?;
    } else if !out.quiet {
        for path in &created {
            outln!("created {}", path.display());
        }
        outln!("next: retort new-migration -m \"create users\"");
    }
    Ok(EXIT_OK)
}

/// Writes a new revision (empty, or with the SQL in `revision`) and prints its path.
pub(super) fn write_revision(
    out: &Output,
    versions: &Path,
    revision: &NewRevision,
) -> anyhow::Result<u8> {
    write_revision_at(out, versions, revision).map(|(code, _)| code)
}

/// Writes the revision and prints its path; also returns the path.
pub(super) fn write_revision_at(
    out: &Output,
    versions: &Path,
    revision: &NewRevision,
) -> anyhow::Result<(u8, PathBuf)> {
    let migrator = open(versions)?;
    let written = migrator.new_revision(revision)?;
    let code = print_written(out, &written.id.to_string(), &written.path)?;
    Ok((code, written.path))
}

fn print_written(out: &Output, id: &str, path: &Path) -> anyhow::Result<u8> {
    #[derive(Serialize)]
    struct Created<'a> {
        id: &'a str,
        path: &'a Path,
    }
    if out.json {
        print_json(&Created { id, path })?;
    } else {
        outln!("{}", path.display());
    }
    Ok(EXIT_OK)
}

pub(super) fn merge(
    out: &Output,
    versions: &Path,
    message: &str,
    revisions: &[String],
) -> anyhow::Result<u8> {
    let migrator = open(versions)?;
    let written = migrator.merge(message, revisions)?;
    print_written(out, &written.id.to_string(), &written.path)
}

pub(super) fn parse_range(
    graph: &RevisionGraph,
    range: &str,
) -> anyhow::Result<(Option<Target>, Option<Target>)> {
    let (from, to) = range.split_once(':').with_context(|| {
        format!(
            "history range `{range}` needs a colon: FROM:TO, e.g. `base:head`, `0003:`, `:0005`"
        )
    })?;
    let side = |text: &str| -> anyhow::Result<Option<Target>> {
        let text = text.trim();
        if text.is_empty() {
            Ok(None)
        } else {
            Ok(Some(graph.resolve(text, None)?))
        }
    };
    Ok((side(from)?, side(to)?))
}

pub(super) fn history(out: &Output, versions: &Path, range: Option<&str>) -> anyhow::Result<u8> {
    let migrator = open(versions)?;
    let graph = migrator.graph();
    let (from, to) = match range {
        Some(range) => parse_range(graph, range)?,
        None => (None, None),
    };
    let mut selected = graph.range(from.as_ref(), to.as_ref());
    selected.reverse();
    if out.json {
        let views: Vec<RevisionView> = selected.iter().map(|&i| view(graph, i)).collect();
        print_json(&views)?;
        return Ok(EXIT_OK);
    }
    let stdout = io::stdout();
    let mut w = BufWriter::with_capacity(1 << 16, stdout.lock());
    for &i in &selected {
        if out.verbose {
            write_verbose(&mut w, graph, i)?;
        } else {
            let r = graph.revision(i);
            writeln!(
                w,
                "{} -> {}{}, {}",
                parents_text(r),
                r.id,
                markers(graph, i),
                r.message
            )?;
        }
    }
    w.flush()?;
    Ok(EXIT_OK)
}

pub(super) fn heads(out: &Output, versions: &Path) -> anyhow::Result<u8> {
    let migrator = open(versions)?;
    let graph = migrator.graph();
    let heads = graph.heads();
    if out.json {
        let views: Vec<RevisionView> = heads.iter().map(|&i| view(graph, i)).collect();
        print_json(&views)?;
        return Ok(EXIT_OK);
    }
    for &i in &heads {
        if out.verbose {
            write_verbose(&mut io::stdout().lock(), graph, i)?;
        } else {
            let r = graph.revision(i);
            outln!("{}{}, {}", r.id, markers(graph, i), r.message);
        }
    }
    if heads.len() > 1 && !out.quiet {
        eprintln!(
            "note: {} heads; join them with `retort merge -m MESSAGE`",
            heads.len()
        );
    }
    Ok(EXIT_OK)
}

pub(super) fn show(out: &Output, versions: &Path, rev: &str) -> anyhow::Result<u8> {
    let migrator = open(versions)?;
    let graph = migrator.graph();
    let target = graph.resolve(rev, None)?;
    if out.json {
        #[derive(Serialize)]
        struct Shown<'a> {
            #[serde(flatten)]
            revision: RevisionView<'a>,
            upgrade: &'a str,
            downgrade: Option<&'a str>,
        }
        let shown: Vec<Shown> = target
            .0
            .iter()
            .map(|&i| Shown {
                revision: view(graph, i),
                upgrade: &graph.revision(i).upgrade.sql,
                downgrade: graph.revision(i).downgrade.as_ref().map(|s| s.sql.as_str()),
            })
            .collect();
        print_json(&shown)?;
        return Ok(EXIT_OK);
    }
    if target.0.is_empty() {
        outln!("<base>: the empty schema before any revision");
    }
    let stdout = io::stdout();
    let mut w = stdout.lock();
    for &i in &target.0 {
        let r = graph.revision(i);
        write_verbose(&mut w, graph, i)?;
        let section = |name: &str, transactional: bool| {
            if transactional {
                format!("-- migrate:{name}")
            } else {
                format!("-- migrate:{name} transaction:false")
            }
        };
        writeln!(w, "{}", section("upgrade", r.upgrade.transactional))?;
        if !r.upgrade.sql.is_empty() {
            writeln!(w, "{}", r.upgrade.sql)?;
        }
        if let Some(down) = &r.downgrade {
            writeln!(w, "\n{}", section("downgrade", down.transactional))?;
            if !down.sql.is_empty() {
                writeln!(w, "{}", down.sql)?;
            }
        }
    }
    Ok(EXIT_OK)
}

pub(super) fn graph(out: &Output, versions: &Path, dot: bool) -> anyhow::Result<u8> {
    let migrator = open(versions)?;
    let graph = migrator.graph();
    let newest_first: Vec<usize> = graph.topological_order().iter().rev().copied().collect();
    let stdout = io::stdout();
    let mut w = BufWriter::new(stdout.lock());
    if out.json {
        #[derive(Serialize)]
        struct Edge<'a> {
            from: &'a str,
            to: &'a str,
            kind: &'static str,
        }
        #[derive(Serialize)]
        struct GraphView<'a> {
            nodes: Vec<RevisionView<'a>>,
            edges: Vec<Edge<'a>>,
        }
        let mut edges = Vec::new();
        for r in graph.revisions() {
            for p in &r.down_revisions {
                edges.push(Edge {
                    from: p.as_str(),
                    to: r.id.as_str(),
                    kind: "parent",
                });
            }
            for d in &r.depends_on {
                edges.push(Edge {
                    from: d.as_str(),
                    to: r.id.as_str(),
                    kind: "depends_on",
                });
            }
        }
        let nodes = graph
            .topological_order()
            .iter()
            .map(|&i| view(graph, i))
            .collect();
        drop(w);
        print_json(&GraphView { nodes, edges })?;
        return Ok(EXIT_OK);
    }
    if dot {
        writeln!(w, "digraph retort {{")?;
        writeln!(w, "  rankdir=BT;")?;
        writeln!(w, "  node [shape=box, fontname=\"monospace\"];")?;
        for &i in graph.topological_order() {
            let r = graph.revision(i);
            let shape = if graph.children(i).is_empty() {
                ", style=bold"
            } else {
                ""
            };
            writeln!(
                w,
                "  \"{}\" [label=\"{}\\n{}\"{shape}];",
                r.id,
                r.id,
                dot_escape(&r.message)
            )?;
        }
        for &i in graph.topological_order() {
            let r = graph.revision(i);
            for p in &r.down_revisions {
                writeln!(w, "  \"{}\" -> \"{}\";", r.id, p)?;
            }
            for d in &r.depends_on {
                writeln!(
                    w,
                    "  \"{}\" -> \"{}\" [style=dashed, label=\"depends_on\"];",
                    r.id, d
                )?;
            }
        }
        writeln!(w, "}}")?;
    } else {
        let rows = draw::draw(&newest_first, |i| graph.parents(i));
        let width = rows
            .iter()
            .map(|r| r.art.chars().count())
            .max()
            .unwrap_or(0);
        for row in rows {
            match row.node {
                Some(i) => {
                    let r = graph.revision(i);
                    writeln!(
                        w,
                        "{:width$}  {}{} {}",
                        row.art,
                        r.id,
                        markers(graph, i),
                        r.message
                    )?;
                }
                None => writeln!(w, "{}", row.art)?,
            }
        }
    }
    w.flush()?;
    Ok(EXIT_OK)
}

fn dot_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

pub(super) fn verify_files(out: &Output, versions: &Path) -> anyhow::Result<u8> {
    let migrator = open(versions)?;
    let mismatches = migrator.verify_files()?;
    report_mismatches(out, &migrator.sum_path(), &mismatches, "verify")?;
    Ok(if mismatches.is_empty() {
        EXIT_OK
    } else {
        EXIT_CHECK_FAILED
    })
}

pub(super) fn rehash(out: &Output, versions: &Path) -> anyhow::Result<u8> {
    let migrator = open(versions)?;
    let changed = migrator.rehash()?;
    report_mismatches(out, &migrator.sum_path(), &changed, "rehash")?;
    Ok(EXIT_OK)
}

fn report_mismatches(
    out: &Output,
    sum: &PathBuf,
    mismatches: &[Mismatch],
    verb: &str,
) -> anyhow::Result<()> {
    if out.json {
        #[derive(Serialize)]
        struct Report<'a> {
            sum: &'a Path,
            ok: bool,
            mismatches: &'a [Mismatch],
        }
        return print_json(&Report {
            sum,
            ok: mismatches.is_empty() || verb == "rehash",
            mismatches,
        });
    }
    match (verb, mismatches.is_empty()) {
        ("verify", true) => {
            if !out.quiet {
                outln!("ok: the revision files match {}", sum.display());
            }
        }
        ("verify", false) => {
            for m in mismatches {
                outln!("{m}");
            }
            eprintln!(
                "error: {} disagrees with the revision files; if the edits are deliberate, run `retort rehash`",
                sum.display()
            );
        }
        (_, true) => {
            if !out.quiet {
                outln!("{} was already up to date", sum.display());
            }
        }
        (_, false) => {
            if !out.quiet {
                for m in mismatches {
                    outln!("{m}");
                }
                outln!("rewrote {}", sum.display());
            }
        }
    }
    Ok(())
}
