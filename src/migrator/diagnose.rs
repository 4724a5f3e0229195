//! Version tables edited by hand: the version rows (which revisions are applied) checked
//! against the history (what each run recorded), so that a deleted or rewritten row is
//! named, with what to do, instead of making `upgrade` run applied revisions again.
//!
//! What is checked: every revision the history last recorded as applied (an upgrade, a
//! stamp, a resolve that completed an upgrade or reverted a downgrade) must be applied
//! according to the version rows, and every revision the version rows imply must have
//! been recorded as applied; no recorded head may lie below another recorded head.
//! Nothing is repaired: the findings say which command settles each.

use std::collections::BTreeMap;
use std::fmt;

use super::online::{DbState, RunError};
use super::Migrator;
use crate::db::{DbError, Session};
use crate::graph::RevisionGraph;

/// A disagreement between the version table and the history table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StateFinding {
    /// The history says these revisions were applied (and never reverted), the version
    /// rows do not: rows were deleted or rewritten by hand. An upgrade would run them
    /// again.
    HistoryAhead {
        /// The version table, `schema.table`.
        table: String,
        /// The revisions, in chain order.
        revisions: Vec<String>,
    },
    /// The version rows imply these revisions are applied, the history never recorded
    /// them as applied (history rows deleted, or version rows added by hand).
    NotInHistory {
        /// The history table, `schema.table`.
        history: String,
        /// The revisions, in chain order.
        revisions: Vec<String>,
    },
    /// A recorded head lies below another recorded head: one of the two rows was added
    /// by hand.
    HeadBelowHead {
        /// The version table, `schema.table`.
        table: String,
        /// The head that is an ancestor of `above`.
        below: String,
        /// The recorded head built on it.
        above: String,
    },
}

impl StateFinding {
    /// Whether a run must not start on this state: it would apply revisions a second
    /// time, or plan from a head that is not one.
    pub fn blocks_runs(&self) -> bool {
        !matches!(self, StateFinding::NotInHistory { .. })
    }
}

impl fmt::Display for StateFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateFinding::HistoryAhead { table, revisions } => write!(
                f,
                "the history records {} as applied, but {table} does not: its rows were \
                 deleted or edited by hand, and an upgrade would run {} again. Record the \
                 revision the schema is at with `retort stamp --purge REV` (which first checks \
                 that the schema is the chain's at REV)",
                revisions.join(", "),
                if revisions.len() == 1 { "it" } else { "them" }
            ),
            StateFinding::NotInHistory { history, revisions } => write!(
                f,
                "the version rows imply {} as applied, but {history} never recorded {}: \
                 history rows were deleted, or version rows added by hand. `retort stamp \
                 --purge REV` records them again (checking first that the schema is the \
                 chain's at REV)",
                revisions.join(", "),
                if revisions.len() == 1 { "it" } else { "them" }
            ),
            StateFinding::HeadBelowHead {
                table,
                below,
                above,
            } => write!(
                f,
                "{table} records both {below} and {above}, which builds on it: one of the rows \
                 was added by hand. Record the real head with `retort stamp --purge {above}` \
                 (or the revision the schema is at)"
            ),
        }
    }
}

/// What the history last recorded about one revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Recorded {
    /// Applied (upgrade, stamp, or resolved into the applied state).
    Applied,
    /// Not applied (downgrade, unstamp, or resolved into the not-applied state).
    NotApplied,
}

/// The state-changing history row `direction` (with `reason`, which says what a
/// `resolve` settled) as applied or not; `None` for rows that change nothing
/// (`rehash`).
pub(super) fn recorded(direction: &str, reason: Option<&str>) -> Option<Recorded> {
    match direction {
        "upgrade" | "stamp" => Some(Recorded::Applied),
        "downgrade" | "unstamp" => Some(Recorded::NotApplied),
        "resolve" => match reason.unwrap_or("") {
            "upgrade completed by hand" | "downgrade reverted by hand" => Some(Recorded::Applied),
            "upgrade reverted by hand" | "downgrade completed by hand" => {
                Some(Recorded::NotApplied)
            }
            _ => None,
        },
        _ => None,
    }
}

/// Compares the version rows' applied heads with the history's last word on each
/// revision (ids the graph does not know are left to the unknown-revision check).
pub(super) fn compare_records(
    graph: &RevisionGraph,
    heads: &[usize],
    history: &BTreeMap<String, Recorded>,
    tables: &crate::db::VersionTables,
) -> Vec<StateFinding> {
    let mut findings = Vec::new();
    let applied = graph.ancestors(heads);
    for &below in heads {
        for &above in heads {
            if below != above && graph.ancestors(&[above])[below] {
                findings.push(StateFinding::HeadBelowHead {
                    table: tables.describe(),
                    below: graph.revisions()[below].id.to_string(),
                    above: graph.revisions()[above].id.to_string(),
                });
            }
        }
    }
    let mut ahead = Vec::new();
    let mut missing = Vec::new();
    for &i in graph.topological_order() {
        let id = graph.revisions()[i].id.as_str();
        match (applied[i], history.get(id)) {
            (false, Some(Recorded::Applied)) => ahead.push(id.to_owned()),
            (true, None | Some(Recorded::NotApplied)) => missing.push(id.to_owned()),
            _ => {}
        }
    }
    if !ahead.is_empty() {
        findings.push(StateFinding::HistoryAhead {
            table: tables.describe(),
            revisions: ahead,
        });
    }
    if !missing.is_empty() {
        findings.push(StateFinding::NotInHistory {
            history: tables.describe_history(),
            revisions: missing,
        });
    }
    findings
}

impl Migrator {
    /// The history's last word on each revision of the graph, as applied or not.
    async fn recorded_history(
        &self,
        session: &Session<'_>,
    ) -> Result<BTreeMap<String, Recorded>, RunError> {
        let rows = session
            .client()
            .query(&session.tables().select_latest_state_history(), &[])
            .await
            .map_err(|e| DbError::query("read the history table", e))?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                let revision: String = row.get(0);
                let direction: String = row.get(1);
                let reason: Option<String> = row.get(2);
                recorded(&direction, reason.as_deref()).map(|r| (revision, r))
            })
            .collect())
    }

    /// Per revision of the graph (by index), whether the history last recorded it as
    /// applied.
    pub(super) async fn applied_by_history(
        &self,
        session: &Session<'_>,
    ) -> Result<Vec<bool>, RunError> {
        let history = self.recorded_history(session).await?;
        Ok(self
            .graph()
            .revisions()
            .iter()
            .map(|r| history.get(r.id.as_str()) == Some(&Recorded::Applied))
            .collect())
    }

    /// The disagreements between the version table and the history (see
    /// [`StateFinding`]); empty for a database without version table or with a dirty
    /// marker (a half-run step is its own finding).
    pub async fn diagnose_state(
        &self,
        session: &Session<'_>,
        state: &DbState,
    ) -> Result<Vec<StateFinding>, RunError> {
        if !state.initialized || state.dirty.is_some() {
            return Ok(Vec::new());
        }
        let history = self.recorded_history(session).await?;
        Ok(compare_records(
            self.graph(),
            &state.heads,
            &history,
            session.tables(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::tests::revision;

    /// 1 ← 2 ← 3 and 1 ← 4 (a branch).
    fn graph() -> RevisionGraph {
        RevisionGraph::from_revisions(
            std::path::Path::new("versions"),
            vec![
                revision("0001_aaaaaaaaaaaa", &[], &[]),
                revision("0002_bbbbbbbbbbbb", &["0001_aaaaaaaaaaaa"], &[]),
                revision("0003_cccccccccccc", &["0002_bbbbbbbbbbbb"], &[]),
                revision("0004_dddddddddddd", &["0001_aaaaaaaaaaaa"], &[]),
            ],
        )
        .expect("graph")
    }

    fn history(entries: &[(&str, &str, Option<&str>)]) -> BTreeMap<String, Recorded> {
        entries
            .iter()
            .filter_map(|(id, direction, reason)| {
                recorded(direction, *reason).map(|r| ((*id).to_owned(), r))
            })
            .collect()
    }

    #[test]
    fn agreeing_records_have_no_finding() {
        let g = graph();
        let tables = crate::db::VersionTables::default();
        let h = history(&[
            ("0001_aaaaaaaaaaaa", "stamp", None),
            ("0002_bbbbbbbbbbbb", "upgrade", None),
            ("0003_cccccccccccc", "downgrade", None),
            (
                "0004_dddddddddddd",
                "resolve",
                Some("upgrade completed by hand"),
            ),
        ]);
        assert_eq!(compare_records(&g, &[1, 3], &h, &tables), vec![]);
        // Rehash rows change nothing; a base database with downgraded history agrees.
        let h = history(&[
            ("0001_aaaaaaaaaaaa", "downgrade", None),
            ("0002_bbbbbbbbbbbb", "rehash", None),
        ]);
        assert_eq!(compare_records(&g, &[], &h, &tables), vec![]);
    }

    #[test]
    fn a_deleted_version_row_leaves_the_history_ahead() {
        let g = graph();
        let tables = crate::db::VersionTables::default();
        let h = history(&[
            ("0001_aaaaaaaaaaaa", "upgrade", None),
            ("0002_bbbbbbbbbbbb", "upgrade", None),
            ("0003_cccccccccccc", "upgrade", None),
        ]);
        // The row said 0003; someone set it back to 0001.
        let findings = compare_records(&g, &[0], &h, &tables);
        assert_eq!(
            findings,
            vec![StateFinding::HistoryAhead {
                table: "public.retort_version".into(),
                revisions: vec!["0002_bbbbbbbbbbbb".into(), "0003_cccccccccccc".into()],
            }]
        );
        assert!(findings[0].blocks_runs());
        assert!(findings[0].to_string().contains("retort stamp --purge REV"));
        // All rows deleted.
        assert!(matches!(
            compare_records(&g, &[], &h, &tables)[..],
            [StateFinding::HistoryAhead { .. }]
        ));
    }

    #[test]
    fn rows_the_history_never_recorded_and_heads_below_heads() {
        let g = graph();
        let tables = crate::db::VersionTables::default();
        let h = history(&[("0001_aaaaaaaaaaaa", "upgrade", None)]);
        // A row for 0002 added by hand, and 0001 kept beside it.
        let findings = compare_records(&g, &[0, 1], &h, &tables);
        assert_eq!(
            findings,
            vec![
                StateFinding::HeadBelowHead {
                    table: "public.retort_version".into(),
                    below: "0001_aaaaaaaaaaaa".into(),
                    above: "0002_bbbbbbbbbbbb".into(),
                },
                StateFinding::NotInHistory {
                    history: "public.retort_history".into(),
                    revisions: vec!["0002_bbbbbbbbbbbb".into()],
                },
            ]
        );
        assert!(findings[0].blocks_runs());
        assert!(!findings[1].blocks_runs());
        // A revision recorded as reverted but implied by the rows.
        let h = history(&[
            ("0001_aaaaaaaaaaaa", "upgrade", None),
            (
                "0004_dddddddddddd",
                "resolve",
                Some("upgrade reverted by hand"),
            ),
        ]);
        assert!(matches!(
            &compare_records(&g, &[3], &h, &tables)[..],
            [StateFinding::NotInHistory { revisions, .. }] if revisions == &["0004_dddddddddddd"]
        ));
    }
}
