//! `retort lint`: runs the lint rules over revisions and prints the findings with the
//! offending line and a caret, as JSON, or as SARIF for code-review tools.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;

use super::observe::{self, ObserveArgs};
use super::offline::{open, parse_range};
use super::online::{self, DbArgs};
use super::{Output, EXIT_CHECK_FAILED, EXIT_INPUT, EXIT_OK};
use crate::config::{Config, UrlSource};
use crate::lint::{self, Finding, LintConfig, Severity, RULES};
use crate::{Direction, Migrator};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum Format {
    Human,
    Json,
    Sarif,
}

#[derive(Debug, clap::Args)]
pub(super) struct LintArgs {
    /// A revision, or a range FROM:TO (`0003:`, `:head`) [default: the revisions not yet
    /// applied to the configured database; every revision when none is configured]
    target: Option<String>,
    /// Lint every revision, whatever the database has applied
    #[arg(long, conflicts_with = "target")]
    all: bool,
    /// Explain a rule: why it matters and the safe alternative
    #[arg(long, value_name = "RULE", conflicts_with = "target")]
    explain: Option<String>,
    /// List every rule with its default severity
    #[arg(long, conflicts_with_all = ["target", "explain"])]
    rules: bool,
    /// Output format (--json is the same as --format json)
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
    #[command(flatten)]
    observe: ObserveArgs,
}

pub(super) fn lint(
    out: &Output,
    config: &Config,
    versions: &Path,
    db: &DbArgs,
    args: &LintArgs,
) -> anyhow::Result<u8> {
    if let Some(id) = &args.explain {
        return explain(out, id);
    }
    if args.rules {
        for rule in RULES {
            outln!(
                "{:<30} {:<8} {}",
                rule.id,
                rule.severity.name(),
                rule.summary
            );
        }
        return Ok(EXIT_OK);
    }
    let migrator = open(versions)?;
    let graph = migrator.graph();
    // The connected server's version, when the pending revisions were read from it.
    let mut connected_version = None;
    let selected: Vec<usize> = match args.target.as_deref() {
        None if args.all => graph.range(None, None),
        None => match pending(out, config, db, &migrator)? {
            Some((pending, version)) => {
                connected_version = Some(version);
                pending
            }
            None => {
                if !out.quiet {
                    eprintln!(
                        "no database configured (--database-url, DATABASE_URL, retort.toml): \
                         linting every revision"
                    );
                }
                graph.range(None, None)
            }
        },
        Some(range) if range.contains(':') => {
            let (from, to) = parse_range(graph, range)?;
            graph.range(from.as_ref(), to.as_ref())
        }
        Some(rev) => vec![graph.resolve_prefix(rev)?],
    };
    let mut lint_config = LintConfig::from_config(config)?;
    // Rules that depend on the server's version follow `[lint] server_version`, else
    // the server the revisions are pending on.
    if lint_config.server_version == 0 {
        lint_config.server_version = connected_version.unwrap_or(0);
    }
    let findings: Vec<Finding> = selected
        .iter()
        .flat_map(|&i| lint::lint_revision(graph.revision(i), &lint_config))
        .collect();
    let format = if out.json { Format::Json } else { args.format };
    let observed = if args.observe.enabled() {
        if format == Format::Sarif {
            anyhow::bail!("--observe reports in human or JSON form; drop --format sarif");
        }
        Some(observe::observe(
            out,
            config,
            &migrator,
            db,
            &args.observe,
            &selected,
        )?)
    } else {
        None
    };
    match (format, &observed) {
        (Format::Json, None) => outln!("{}", serde_json::to_string_pretty(&findings)?),
        (Format::Json, Some(observed)) => outln!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "findings": findings,
                "observed": observe::to_json(observed),
            }))?
        ),
        (Format::Sarif, _) => outln!("{}", serde_json::to_string_pretty(&sarif(&findings))?),
        (Format::Human, _) => {
            print_human(out, &findings, selected.len());
            if let Some(observed) = &observed {
                observe::print_human(observed);
            }
        }
    }
    let failing = findings
        .iter()
        .any(|f| f.severity == Severity::Error && f.ignored.is_none());
    Ok(if failing { EXIT_CHECK_FAILED } else { EXIT_OK })
}

/// The revisions not yet applied to the configured database, oldest first, and its
/// `server_version_num`; `None` when no database is configured (libpq defaults alone
/// do not count: CI has none).
fn pending(
    out: &Output,
    config: &Config,
    db: &DbArgs,
    migrator: &Migrator,
) -> anyhow::Result<Option<(Vec<usize>, i32)>> {
    let target = online::target(config, db)?;
    if target.source == UrlSource::Libpq {
        return Ok(None);
    }
    let (state, version) = online::in_session(&target, out, async |session| {
        let state = migrator.state(session).await?;
        Ok((state, session.server_version().await?))
    })?;
    let graph = migrator.graph();
    let heads = graph.resolve("heads", Some(&state.heads))?;
    let steps = graph.plan(&state.heads, &heads)?;
    if !out.quiet {
        eprintln!(
            "linting the {} revision(s) not yet applied to the database (--all for every one)",
            steps.len()
        );
    }
    Ok(Some((
        steps
            .iter()
            .filter(|s| s.direction == Direction::Upgrade)
            .map(|s| s.revision)
            .collect(),
        version,
    )))
}

fn explain(out: &Output, id: &str) -> anyhow::Result<u8> {
    let Some(rule) = lint::rule_by_id(id) else {
        let known: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        eprintln!(
            "error: no lint rule `{id}`; the rules are: {} (`retort lint --rules` lists them)",
            known.join(", ")
        );
        return Ok(EXIT_INPUT);
    };
    if out.json {
        outln!("{}", serde_json::to_string_pretty(rule)?);
    } else {
        outln!(
            "{} ({}): {}\n\nWhy: {}\n\nInstead: {}\n\nAccept a finding knowingly with a comment on the line above the \
             statement:\n    -- retort:ignore {} <reason>",
            rule.id,
            rule.severity.name(),
            rule.summary,
            rule.why,
            rule.instead,
            rule.id
        );
    }
    Ok(EXIT_OK)
}

/// `path:line:col: severity[rule]: message`, the line with a caret, and a summary.
fn print_human(out: &Output, findings: &[Finding], revisions: usize) {
    let mut files: BTreeMap<&Path, Option<String>> = BTreeMap::new();
    for f in findings {
        let text = files
            .entry(f.path.as_path())
            .or_insert_with(|| std::fs::read_to_string(&f.path).ok());
        let ignored = match &f.ignored {
            Some(reason) if reason.is_empty() => " (ignored)".to_string(),
            Some(reason) => format!(" (ignored: {reason})"),
            None => String::new(),
        };
        outln!("{f}{ignored}");
        if let Some(line) = text
            .as_deref()
            .and_then(|t| t.lines().nth(f.line.saturating_sub(1)))
        {
            let number = f.line.to_string();
            outln!("{number} | {line}");
            outln!(
                "{} | {}^",
                " ".repeat(number.len()),
                " ".repeat(f.column.saturating_sub(1))
            );
        }
    }
    if !out.quiet {
        let count = |s: Severity| {
            findings
                .iter()
                .filter(|f| f.severity == s && f.ignored.is_none())
                .count()
        };
        let ignored = findings.iter().filter(|f| f.ignored.is_some()).count();
        eprintln!(
            "linted {revisions} revision(s): {} error(s), {} warning(s), {} note(s){}{}",
            count(Severity::Error),
            count(Severity::Warning),
            count(Severity::Info),
            if ignored > 0 {
                format!(", {ignored} accepted with retort:ignore")
            } else {
                String::new()
            },
            if findings.is_empty() {
                String::new()
            } else {
                "; `retort lint --explain RULE` says why and what to do instead".to_string()
            }
        );
    }
}

/// Findings as `path:line:col: severity[rule]: message` lines on stderr (where
/// `new-migration` reports, its stdout being the new file's path).
pub(super) fn print_to_stderr(findings: &[Finding]) {
    for f in findings {
        eprintln!("{f}");
    }
    if !findings.is_empty() {
        eprintln!(
            "lint: {} finding(s) in the new revision; `retort lint --explain RULE` says why and what to do instead",
            findings.len()
        );
    }
}

/// SARIF 2.1.0, the format GitHub code scanning and other review tools read.
fn sarif(findings: &[Finding]) -> serde_json::Value {
    let rules: Vec<serde_json::Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "shortDescription": { "text": r.summary },
                "fullDescription": { "text": r.why },
                "help": { "text": r.instead },
                "defaultConfiguration": { "level": level(r.severity) },
            })
        })
        .collect();
    let results: Vec<serde_json::Value> = findings
        .iter()
        .map(|f| {
            let mut result = json!({
                "ruleId": f.rule,
                "level": level(f.severity),
                "message": { "text": f.message },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": f.path.to_string_lossy() },
                        "region": { "startLine": f.line, "startColumn": f.column },
                    }
                }],
            });
            if let Some(reason) = &f.ignored {
                result["suppressions"] = json!([{ "kind": "inSource", "justification": reason }]);
            }
            result
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "retort",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    })
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}
