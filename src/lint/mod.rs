//! `lint`: rules over a revision's statements, so that a migration that locks, rewrites
//! or breaks production is caught before it ships.
//!
//! Statements come from the same splitter the runner uses (so a finding's file:line:col
//! is where `upgrade` would report an error), and each is parsed by PostgreSQL's own
//! parser through `pg_query` (libpg_query): a regular expression cannot tell
//! `CREATE INDEX CONCURRENTLY` inside a string from the real thing. Pure: no database, no
//! files beyond the revision already read.

mod check;
pub mod rules;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Serialize;

use crate::revision::{Batch, Revision, Script};
use crate::sql::split::{line_column, split};
pub use rules::{rule_by_id, Rule, Severity, RULES};

/// Which rules run and how loud they are (`[lint]` in retort.toml).
#[derive(Debug, Clone, Default)]
pub struct LintConfig {
    /// Rule ids that do not run (`[lint] disable`).
    pub disabled: BTreeSet<String>,
    /// Severities overriding the rules' defaults (`[lint.severity]`).
    pub severities: BTreeMap<String, Severity>,
    /// `server_version_num` of the servers the revisions run on (0: unknown).
    pub server_version: i32,
    /// The runner sets `lock_timeout` in every revision (`sql_lock_timeout` in
    /// retort.toml, 2s unless set to 0) and retries the revision when a lock is not
    /// granted, so `missing-lock-timeout` has nothing to say.
    pub runner_lock_timeout: bool,
}

/// A `[lint]` section of retort.toml that names what does not exist.
#[derive(Debug, thiserror::Error)]
pub enum LintConfigError {
    /// `disable` or `[lint.severity]` names a rule id that does not exist.
    #[error("{file}: [lint] names an unknown rule `{id}`; the rules are: {}", rules::RULES.iter().map(|r| r.id).collect::<Vec<_>>().join(", "))]
    UnknownRule {
        /// The `retort.toml` (`retort.toml` when there is none).
        file: String,
        /// The unknown rule id.
        id: String,
    },
    /// A `[lint.severity]` level other than `error`, `warning` or `info`.
    #[error("{file}: [lint.severity] {id} = {level:?}; use \"error\", \"warning\" or \"info\"")]
    BadSeverity {
        /// The `retort.toml` (`retort.toml` when there is none).
        file: String,
        /// The rule id.
        id: String,
        /// The level as written.
        level: String,
    },
}

impl LintConfig {
    /// The `[lint]` settings of `config` (and its `sql_lock_timeout`); unknown rule ids
    /// and severities are errors naming the file (a typo must not silently disable
    /// nothing).
    pub fn from_config(config: &crate::config::Config) -> Result<LintConfig, LintConfigError> {
        let settings = &config.lint;
        let file = config
            .file
            .as_ref()
            .map_or_else(|| "retort.toml".to_string(), |f| f.display().to_string());
        let known = |id: &str| match rule_by_id(id) {
            Some(_) => Ok(()),
            None => Err(LintConfigError::UnknownRule {
                file: file.clone(),
                id: id.to_owned(),
            }),
        };
        let mut out = LintConfig::default();
        for id in &settings.disable {
            known(id)?;
            out.disabled.insert(id.clone());
        }
        for (id, level) in &settings.severity {
            known(id)?;
            let severity = Severity::parse(level).ok_or_else(|| LintConfigError::BadSeverity {
                file: file.clone(),
                id: id.clone(),
                level: level.clone(),
            })?;
            out.severities.insert(id.clone(), severity);
        }
        out.server_version = settings
            .server_version
            .map_or(0, |major| major.saturating_mul(10_000) as i32);
        out.runner_lock_timeout = config.database.sql_lock_timeout.as_deref().is_none_or(|t| {
            crate::config::parse_duration("sql_lock_timeout", t).is_ok_and(|ms| ms > 0)
        });
        Ok(out)
    }
}

/// One finding, placed in its file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule's id (see [`RULES`]).
    pub rule: &'static str,
    /// The rule's severity after `[lint.severity]` overrides.
    pub severity: Severity,
    /// What was found in this statement.
    pub message: String,
    /// The revision's id.
    pub revision: String,
    /// The revision file.
    pub path: PathBuf,
    /// 1-based line and column of the statement in the file.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// `upgrade` or `downgrade`: the direction, whose batch statement and section after
    /// the batch count as its own.
    pub section: &'static str,
    /// Accepted with `-- retort:ignore RULE reason` (kept, so reports can list them).
    pub ignored: Option<String>,
}

/// Rules about losing data, which a downgrade section is expected to break.
const DESTRUCTIVE: &[&str] = &["drop-table", "drop-column", "drop-type", "drop-schema"];

/// `path:line:col: severity[rule]: message`, the compiler-style line every report uses.
impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}[{}]: {}",
            self.path.display(),
            self.line,
            self.column,
            self.severity.name(),
            self.rule,
            self.message
        )
    }
}

/// Lints one revision: both sections, their batch sections, and whether it can be
/// downgraded at all.
pub fn lint_revision(revision: &Revision, config: &LintConfig) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut add = |rule: &'static str, message: String, section, (line, column), ignored| {
        if config.disabled.contains(rule) {
            return;
        }
        let severity = config
            .severities
            .get(rule)
            .copied()
            .or_else(|| rule_by_id(rule).map(|r| r.severity))
            .unwrap_or(Severity::Warning);
        findings.push(Finding {
            rule,
            severity,
            message,
            revision: revision.id.to_string(),
            path: revision.path.clone(),
            line,
            column,
            section,
            ignored,
        });
    };
    for (section, script, batch) in [
        (
            "upgrade",
            Some(&revision.upgrade),
            revision.upgrade_batch.as_ref(),
        ),
        (
            "downgrade",
            revision.downgrade.as_ref(),
            revision.downgrade_batch.as_ref(),
        ),
    ] {
        let Some(script) = script else {
            continue;
        };
        let mut placed = lint_script(script, ordinary(script, config));
        if let Some(batch) = batch {
            placed.extend(lint_batch(batch, config));
        }
        for (position, hit, ignored) in placed {
            // A downgrade exists to undo: dropping what the upgrade made is its job.
            if section == "downgrade" && DESTRUCTIVE.contains(&hit.rule) {
                continue;
            }
            add(hit.rule, hit.message, section, position, ignored);
        }
    }
    if revision.downgrade.is_none() {
        let line = revision.upgrade.line.saturating_sub(1).max(1);
        add(
            "irreversible",
            "no `-- migrate:downgrade` section: the revision cannot be rolled back".into(),
            "upgrade",
            (line, 1),
            None,
        );
    }
    findings
}

/// (file line, column), the hit, and the reason it was accepted (if it was).
type Placed = ((usize, usize), check::Hit, Option<String>);

/// The context of an ordinary section: nothing known yet but whether it is one
/// transaction.
fn ordinary(script: &Script, config: &LintConfig) -> check::Section {
    check::Section::new(
        script.transactional,
        config.server_version,
        config.runner_lock_timeout,
    )
}

/// A batch statement, then the section after it. The statement is parsed with `:lo` and
/// `:hi` bound as `$1` and `$2` (PostgreSQL's parser knows no `:name`); the binding
/// keeps every byte where it was, so positions stay the file's. The section after runs
/// in a transaction of its own once the batches committed, so it starts afresh: what
/// the section before the batch created is committed and may hold the batches' rows.
fn lint_batch(batch: &Batch, config: &LintConfig) -> Vec<Placed> {
    let statement = Script {
        sql: batch.bound_statement(),
        line: batch.statement.line,
        transactional: true,
    };
    let mut out = lint_script(
        &statement,
        check::Section::batch(
            &batch.table,
            config.server_version,
            config.runner_lock_timeout,
        ),
    );
    if let Some(after) = &batch.after {
        out.extend(lint_script(after, ordinary(after, config)));
    }
    out
}

fn lint_script(script: &Script, mut section: check::Section) -> Vec<Placed> {
    let mut out = Vec::new();
    let mut previous_end = 0;
    for statement in split(&script.sql) {
        let (line, column) = line_column(&script.sql, statement.offset);
        let position = (script.line + line - 1, column);
        // Ignore comments sit between the previous statement and this one, or inside it.
        let leading = script
            .sql
            .get(previous_end..statement.offset)
            .unwrap_or_default();
        let ignores = ignore_comments(leading, statement.sql);
        previous_end = statement.offset + statement.sql.len();
        let mut hits = Vec::new();
        match pg_query::parse(statement.sql, pg_query::ParserOptions::DEFAULT) {
            Ok(parsed) => {
                for raw in &parsed.protobuf.stmts {
                    if let Some(node) = raw.stmt.as_ref().and_then(|s| s.node.as_ref()) {
                        section.check(node, statement.sql, &mut hits);
                    }
                }
            }
            Err(e) => hits.push(check::Hit {
                rule: "syntax-error",
                message: parse_error_message(&e),
            }),
        }
        for hit in hits {
            let ignored = ignores.get(hit.rule).cloned();
            out.push((position, hit, ignored));
        }
    }
    out
}

fn parse_error_message(error: &pg_query::Error) -> String {
    match error {
        pg_query::Error::Parse(message) => message.clone(),
        other => other.to_string(),
    }
}

/// `-- retort:ignore RULE reason` lines: rule id to reason.
fn ignore_comments(leading: &str, statement: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in leading.lines().chain(statement.lines()) {
        let Some(at) = line.find("-- retort:ignore") else {
            continue;
        };
        let rest = line[at + "-- retort:ignore".len()..].trim();
        let (rule, reason) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        if !rule.is_empty() {
            out.insert(rule.to_string(), reason.trim().to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests;
