//! The version table's rows as a run goes: which revisions are applied heads after
//! each step, and so which rows a step deletes and inserts.
//!
//! The version table holds one row per applied head (Alembic's model): upgrading a
//! revision replaces the heads it requires by itself; downgrading it removes its row
//! and brings back each revision it required that nothing applied requires any more.
//! Kept pure and incremental (no recomputation of all heads per step) so that a run of
//! thousands of revisions stays linear, and so that branches and merges are tested
//! here rather than through a database.

use std::collections::BTreeSet;

use super::{RevisionGraph, Step};
use crate::revision::Direction;

/// The applied heads of a database, updated one step at a time.
pub struct AppliedHeads<'g> {
    graph: &'g RevisionGraph,
    applied: Vec<bool>,
    heads: BTreeSet<usize>,
}

/// The version rows one step changes (revision indices).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadChange {
    /// Rows to delete.
    pub removed: Vec<usize>,
    /// Rows to insert.
    pub added: Vec<usize>,
}

impl<'g> AppliedHeads<'g> {
    /// Starts from the heads the version table holds now.
    pub fn new(graph: &'g RevisionGraph, heads: &[usize]) -> AppliedHeads<'g> {
        AppliedHeads {
            graph,
            applied: graph.ancestors(heads),
            heads: heads.iter().copied().collect(),
        }
    }

    /// The current heads, in index order.
    pub fn heads(&self) -> impl Iterator<Item = usize> + '_ {
        self.heads.iter().copied()
    }

    /// Applies `step` (which the caller has checked fits: an upgrade's requirements
    /// applied, a downgrade's dependants not) and says which rows change.
    pub fn apply(&mut self, step: Step) -> HeadChange {
        let r = step.revision;
        match step.direction {
            Direction::Upgrade => {
                let removed = self
                    .graph
                    .requires(r)
                    .iter()
                    .copied()
                    .filter(|p| self.heads.remove(p))
                    .collect();
                self.applied[r] = true;
                self.heads.insert(r);
                HeadChange {
                    removed,
                    added: vec![r],
                }
            }
            Direction::Downgrade => {
                self.applied[r] = false;
                self.heads.remove(&r);
                let mut added = Vec::new();
                for &p in self.graph.requires(r) {
                    let still_required = self.graph.required_by(p).iter().any(|&c| self.applied[c]);
                    if self.applied[p] && !still_required && self.heads.insert(p) {
                        added.push(p);
                    }
                }
                HeadChange {
                    removed: vec![r],
                    added,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::revision::Revision;

    fn rev(id: &str, parents: &[&str], depends_on: &[&str]) -> Revision {
        super::super::tests::revision(id, parents, depends_on)
    }

    const A: &str = "0001_aaaaaaaaaaaa";
    const B: &str = "0002_bbbbbbbbbbbb";
    const C: &str = "0003_cccccccccccc";
    const D: &str = "0003_dddddddddddd";
    const M: &str = "0004_eeeeeeeeeeee";
    const X: &str = "0005_ffffffffffff";

    /// A <- B <- C, B <- D, (C, D) <- M; X on A, depending on D.
    fn graph() -> RevisionGraph {
        RevisionGraph::from_revisions(
            Path::new("versions"),
            vec![
                rev(A, &[], &[]),
                rev(B, &[A], &[]),
                rev(C, &[B], &[]),
                rev(D, &[B], &[]),
                rev(M, &[C, D], &[]),
                rev(X, &[A], &[D]),
            ],
        )
        .expect("valid graph")
    }

    fn index(g: &RevisionGraph, id: &str) -> usize {
        g.resolve_prefix(id).expect("known id")
    }

    /// One step's (removed, added) rows, as ids.
    type Change = (Vec<String>, Vec<String>);

    /// Runs `steps` from `start`, returning each step's change and the final heads, as ids.
    fn run(start: &[&str], steps: &[(&str, Direction)]) -> (Vec<Change>, Vec<String>) {
        let g = graph();
        let names = |list: &[usize]| -> Vec<String> {
            list.iter().map(|&i| g.revision(i).id.to_string()).collect()
        };
        let start: Vec<usize> = start.iter().map(|id| index(&g, id)).collect();
        let mut heads = AppliedHeads::new(&g, &start);
        let changes = steps
            .iter()
            .map(|&(id, direction)| {
                let change = heads.apply(Step {
                    revision: index(&g, id),
                    direction,
                });
                (names(&change.removed), names(&change.added))
            })
            .collect();
        let last: Vec<usize> = heads.heads().collect();
        (changes, names(&last))
    }

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    const UP: Direction = Direction::Upgrade;
    const DOWN: Direction = Direction::Downgrade;

    #[test]
    fn linear_upgrades_replace_the_row() {
        let (changes, heads) = run(&[], &[(A, UP), (B, UP)]);
        assert_eq!(changes[0], (ids(&[]), ids(&[A])));
        assert_eq!(changes[1], (ids(&[A]), ids(&[B])));
        assert_eq!(heads, ids(&[B]));
    }

    #[test]
    fn a_branch_adds_a_second_row() {
        let (changes, heads) = run(&[C], &[(D, UP)]);
        // B is not a head (C builds on it): nothing to delete.
        assert_eq!(changes[0], (ids(&[]), ids(&[D])));
        assert_eq!(heads, ids(&[C, D]));
    }

    #[test]
    fn a_merge_replaces_both_branch_rows() {
        let (changes, heads) = run(&[C, D], &[(M, UP)]);
        assert_eq!(changes[0], (ids(&[C, D]), ids(&[M])));
        assert_eq!(heads, ids(&[M]));
    }

    #[test]
    fn downgrade_below_a_merge_point_restores_both_branches_then_their_base() {
        let (changes, heads) = run(&[M], &[(M, DOWN), (C, DOWN), (D, DOWN)]);
        assert_eq!(changes[0], (ids(&[M]), ids(&[C, D])));
        // B is still required by the applied D.
        assert_eq!(changes[1], (ids(&[C]), ids(&[])));
        assert_eq!(changes[2], (ids(&[D]), ids(&[B])));
        assert_eq!(heads, ids(&[B]));
    }

    #[test]
    fn partial_downgrade_of_one_branch_leaves_the_other() {
        let (changes, heads) = run(&[C, D], &[(D, DOWN)]);
        assert_eq!(changes[0], (ids(&[D]), ids(&[])));
        assert_eq!(heads, ids(&[C]));
    }

    #[test]
    fn depends_on_counts_as_required() {
        // X builds on A and depends on D: upgrading it retires D's row; downgrading it
        // brings D's row back, not A's (B, applied, still requires A).
        let (changes, heads) = run(&[D], &[(X, UP), (X, DOWN)]);
        assert_eq!(changes[0], (ids(&[D]), ids(&[X])));
        assert_eq!(changes[1], (ids(&[X]), ids(&[D])));
        assert_eq!(heads, ids(&[D]));
    }
}
