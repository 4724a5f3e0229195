//! The revision DAG of a `versions/` directory: validation, heads and bases, a
//! deterministic topological order, target resolution and upgrade/downgrade plans.
//!
//! Everything is index-based (`usize` into `revisions`) and built with hash maps and a
//! heap, so loading and validating 10,000 revisions stays O(n log n). Nothing here
//! touches a database: "current" revisions are passed in by the caller.

mod heads;

pub use heads::{AppliedHeads, HeadChange};

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::path::{Path, PathBuf};

use crate::revision::{self, Direction, Revision, RevisionError, RevisionId};

/// Why a versions directory does not form a valid revision DAG, or a target or plan cannot
/// be resolved in it.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// A revision file could not be read or parsed.
    #[error(transparent)]
    Revision(#[from] RevisionError),
    /// The versions directory could not be listed.
    #[error("cannot read the versions directory {}: {source}; create it with `retort init` or point --versions at it", path.display())]
    ReadDir {
        /// The versions directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Two revision files declare the same `revision:` id.
    #[error("{}:{line}: duplicate revision id `{id}`, also defined in {}; give one of them a new id (`retort new-migration` makes unique ids)", path.display(), other.display())]
    DuplicateId {
        /// The id both files declare.
        id: String,
        /// The second file declaring the id (the later one in load order).
        path: PathBuf,
        /// Line of its `revision:` header.
        line: usize,
        /// The file that declared the id first.
        other: PathBuf,
    },
    /// A `down_revision` or `depends_on` entry names a revision that has no file.
    #[error("{}:{line}: {key} `{id}` does not exist in {}; fix the id or restore the missing revision file", path.display(), dir.display())]
    MissingRevision {
        /// `down_revision` or `depends_on`.
        key: &'static str,
        /// The id that was not found.
        id: String,
        /// The revision file naming it.
        path: PathBuf,
        /// Line of that header key in the file.
        line: usize,
        /// The versions directory that was searched.
        dir: PathBuf,
    },
    /// `down_revision`/`depends_on` lines form a loop.
    #[error("revision cycle: {}; a revision cannot be its own ancestor, fix the down_revision/depends_on lines of these files", cycle.join(" -> "))]
    Cycle {
        /// The ids around the loop, the first repeated at the end.
        cycle: Vec<String>,
    },
    /// A target matches no revision.
    #[error("{}", unknown_target(target, hint))]
    UnknownTarget {
        /// The target as given.
        target: String,
        /// Appended to the message: the accepted target forms, or that the directory is
        /// empty.
        hint: String,
    },
    /// A target prefix matches more than one revision.
    #[error("`{target}` is ambiguous; it matches: {}. Give more characters", candidates.join(", "))]
    AmbiguousTarget {
        /// The prefix as given.
        target: String,
        /// The matching revisions, in topological order, each `id (message)` when it has a
        /// message.
        candidates: Vec<String>,
    },
    /// `head` (or an operation needing one head) was asked for, but the graph has several
    /// heads.
    #[error("there are {} heads ({}); {hint}", heads.len(), heads.join(", "))]
    MultipleHeads {
        /// Ids of the heads, in topological order.
        heads: Vec<String>,
        /// What to do instead, appended to the message.
        hint: String,
    },
    /// A relative target (`+N`, `-N`, `<id>+N`) cannot be resolved.
    #[error("`{target}`: {reason}")]
    BadRelative {
        /// The target as given.
        target: String,
        /// Why it cannot be resolved.
        reason: String,
    },
    /// A downgrade plan passes through a revision without a `-- migrate:downgrade` section.
    #[error("cannot downgrade through {id} ({}): it has no `-- migrate:downgrade` section, so it is irreversible; add a downgrade section if it can be undone", path.display())]
    Irreversible {
        /// The irreversible revision.
        id: String,
        /// Its file.
        path: PathBuf,
    },
}

fn unknown_target(target: &str, hint: &str) -> String {
    format!("no revision matches `{target}`{hint}")
}

/// A set of revisions a target names: `base` is the empty set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target(pub Vec<usize>);

/// One revision to run, in one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Index of the revision in the [`RevisionGraph`].
    pub revision: usize,
    /// Whether to run its upgrade or its downgrade section.
    pub direction: Direction,
}

/// The revision DAG of one versions directory.
#[derive(Debug)]
pub struct RevisionGraph {
    dir: PathBuf,
    revisions: Vec<Revision>,
    by_id: HashMap<RevisionId, usize>,
    parents: Vec<Vec<usize>>,
    children: Vec<Vec<usize>>,
    /// Parents plus depends_on: everything that must be applied before a revision.
    requires: Vec<Vec<usize>>,
    required_by: Vec<Vec<usize>>,
    order: Vec<usize>,
    /// Position of each revision in `order`.
    rank: Vec<usize>,
    /// Ids sorted, for prefix lookups.
    sorted_ids: Vec<(String, usize)>,
    sorted_hex: Vec<(String, usize)>,
}

/// Whether a path in a versions directory is a revision file.
pub fn is_revision_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    retort_sum::is_revision_file_name(name)
}

impl RevisionGraph {
    /// Reads and validates every `*.sql` file of `dir`.
    pub fn load(dir: &Path) -> Result<RevisionGraph, GraphError> {
        let read_dir = |source| GraphError::ReadDir {
            path: dir.to_owned(),
            source,
        };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(read_dir)? {
            let path = entry.map_err(read_dir)?.path();
            if is_revision_file(&path) && path.is_file() {
                paths.push(path);
            }
        }
        paths.sort();
        let revisions = paths
            .iter()
            .map(|p| revision::read(p))
            .collect::<Result<Vec<_>, _>>()?;
        RevisionGraph::from_revisions(dir, revisions)
    }

    /// Builds and validates the graph of already parsed revisions.
    pub fn from_revisions(
        dir: &Path,
        revisions: Vec<Revision>,
    ) -> Result<RevisionGraph, GraphError> {
        let n = revisions.len();
        let mut by_id = HashMap::with_capacity(n);
        for (i, r) in revisions.iter().enumerate() {
            if let Some(first) = by_id.insert(r.id.clone(), i) {
                return Err(GraphError::DuplicateId {
                    id: r.id.to_string(),
                    path: r.path.clone(),
                    line: r.header_lines.revision,
                    other: revisions[first].path.clone(),
                });
            }
        }
        let lookup = |r: &Revision, id: &RevisionId, key: &'static str, line: usize| {
            by_id
                .get(id)
                .copied()
                .ok_or_else(|| GraphError::MissingRevision {
                    key,
                    id: id.to_string(),
                    path: r.path.clone(),
                    line,
                    dir: dir.to_owned(),
                })
        };
        let mut parents = Vec::with_capacity(n);
        let mut requires = Vec::with_capacity(n);
        let mut children = vec![Vec::new(); n];
        let mut required_by = vec![Vec::new(); n];
        for (i, r) in revisions.iter().enumerate() {
            let mut own_parents = Vec::with_capacity(r.down_revisions.len());
            for id in &r.down_revisions {
                let p = lookup(r, id, "down_revision", r.header_lines.down_revision)?;
                own_parents.push(p);
                children[p].push(i);
            }
            let mut own_requires = own_parents.clone();
            for id in &r.depends_on {
                let d = lookup(r, id, "depends_on", r.header_lines.depends_on)?;
                if !own_requires.contains(&d) {
                    own_requires.push(d);
                }
            }
            for &d in &own_requires {
                required_by[d].push(i);
            }
            parents.push(own_parents);
            requires.push(own_requires);
        }

        // Kahn's algorithm, smallest (number, id) first, so the order never depends on
        // directory listing order.
        let mut missing: Vec<usize> = requires.iter().map(Vec::len).collect();
        let mut ready: BinaryHeap<Reverse<(u64, &str, usize)>> = BinaryHeap::new();
        for (i, r) in revisions.iter().enumerate() {
            if missing[i] == 0 {
                ready.push(Reverse((r.id.number(), r.id.as_str(), i)));
            }
        }
        let mut order = Vec::with_capacity(n);
        while let Some(Reverse((_, _, i))) = ready.pop() {
            order.push(i);
            for &c in &required_by[i] {
                missing[c] -= 1;
                if missing[c] == 0 {
                    ready.push(Reverse((
                        revisions[c].id.number(),
                        revisions[c].id.as_str(),
                        c,
                    )));
                }
            }
        }
        if order.len() < n {
            return Err(GraphError::Cycle {
                cycle: find_cycle(&revisions, &requires, &missing),
            });
        }
        let mut rank = vec![0; n];
        for (position, &i) in order.iter().enumerate() {
            rank[i] = position;
        }
        let mut sorted_ids: Vec<(String, usize)> = revisions
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.to_string(), i))
            .collect();
        sorted_ids.sort();
        let mut sorted_hex: Vec<(String, usize)> = revisions
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.hex().to_owned(), i))
            .collect();
        sorted_hex.sort();
        Ok(RevisionGraph {
            dir: dir.to_owned(),
            revisions,
            by_id,
            parents,
            children,
            requires,
            required_by,
            order,
            rank,
            sorted_ids,
            sorted_hex,
        })
    }

    /// The versions directory the graph was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The number of revisions.
    pub fn len(&self) -> usize {
        self.revisions.len()
    }

    /// Whether the directory holds no revisions.
    pub fn is_empty(&self) -> bool {
        self.revisions.is_empty()
    }

    /// The revision at `index` (panics when out of range).
    pub fn revision(&self, index: usize) -> &Revision {
        &self.revisions[index]
    }

    /// All revisions, indexed as everywhere in the graph (sorted by file path when
    /// [`load`](Self::load)ed).
    pub fn revisions(&self) -> &[Revision] {
        &self.revisions
    }

    /// The index of a full revision id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// The revisions named by `down_revision` of the revision at `index` (not
    /// `depends_on`).
    pub fn parents(&self, index: usize) -> &[usize] {
        &self.parents[index]
    }

    /// The revisions whose `down_revision` names the revision at `index`.
    pub fn children(&self, index: usize) -> &[usize] {
        &self.children[index]
    }

    /// Revisions in dependency order, oldest first; ties broken by (number, id).
    pub fn topological_order(&self) -> &[usize] {
        &self.order
    }

    /// Revisions nothing builds on, in topological order.
    pub fn heads(&self) -> Vec<usize> {
        self.order
            .iter()
            .copied()
            .filter(|&i| self.children[i].is_empty())
            .collect()
    }

    /// Revisions without a parent.
    pub fn bases(&self) -> Vec<usize> {
        self.order
            .iter()
            .copied()
            .filter(|&i| self.parents[i].is_empty())
            .collect()
    }

    /// The one head, or an error listing the heads when the graph has split.
    pub fn single_head(&self, hint: &str) -> Result<Option<usize>, GraphError> {
        let heads = self.heads();
        match heads.len() {
            0 => Ok(None),
            1 => Ok(Some(heads[0])),
            _ => Err(GraphError::MultipleHeads {
                heads: heads.iter().map(|&i| self.id(i).to_string()).collect(),
                hint: hint.to_owned(),
            }),
        }
    }

    fn id(&self, index: usize) -> &RevisionId {
        &self.revisions[index].id
    }

    /// What `index` requires directly: its parents and its `depends_on`.
    pub fn requires(&self, index: usize) -> &[usize] {
        &self.requires[index]
    }

    /// What requires `index` directly.
    pub fn required_by(&self, index: usize) -> &[usize] {
        &self.required_by[index]
    }

    /// `index` and everything it requires, transitively.
    pub fn ancestors(&self, from: &[usize]) -> Vec<bool> {
        self.closure(from, &self.requires)
    }

    /// `index` and everything that requires it, transitively.
    pub fn descendants(&self, from: &[usize]) -> Vec<bool> {
        self.closure(from, &self.required_by)
    }

    fn closure(&self, from: &[usize], edges: &[Vec<usize>]) -> Vec<bool> {
        let mut seen = vec![false; self.revisions.len()];
        let mut stack: Vec<usize> = from.to_vec();
        while let Some(i) = stack.pop() {
            if !seen[i] {
                seen[i] = true;
                stack.extend(edges[i].iter().copied().filter(|&j| !seen[j]));
            }
        }
        seen
    }

    /// The heads of a set of applied revisions: members no other member requires.
    pub fn heads_of(&self, applied: &[bool]) -> Vec<usize> {
        self.order
            .iter()
            .copied()
            .filter(|&i| applied[i] && !self.required_by[i].iter().any(|&c| applied[c]))
            .collect()
    }

    /// Resolves a target (`head`, `heads`, `base`, an id or unique prefix, `+N`, `-N`,
    /// `<id>+N`, `<id>-N`). `current` holds the database's applied heads, when known.
    pub fn resolve(&self, target: &str, current: Option<&[usize]>) -> Result<Target, GraphError> {
        let target = target.trim();
        // `a,b`: several revisions at once (the heads another tool records, say).
        if target.contains(',') {
            let mut all: Vec<usize> = Vec::new();
            for part in target.split(',') {
                for i in self.resolve(part, current)?.0 {
                    if !all.contains(&i) {
                        all.push(i);
                    }
                }
            }
            return Ok(Target(all));
        }
        match target {
            "head" => {
                return Ok(Target(
                    self.single_head("name one of them, or use `heads` for all of them")?
                        .into_iter()
                        .collect(),
                ))
            }
            "heads" => return Ok(Target(self.heads())),
            "base" => return Ok(Target(Vec::new())),
            _ => {}
        }
        if let Some((anchor, offset)) = split_relative(target) {
            let bad = |reason: String| GraphError::BadRelative {
                target: target.to_owned(),
                reason,
            };
            let start: Vec<usize> = if anchor.is_empty() {
                match current {
                    Some(current) => current.to_vec(),
                    None => {
                        return Err(bad(
                            "a relative target needs the database's current revision; give an id, e.g. `0003+1`".to_owned(),
                        ))
                    }
                }
            } else {
                self.resolve(anchor, current)?.0
            };
            return self.walk(&start, offset).map(Target).map_err(bad);
        }
        self.resolve_prefix(target).map(|i| Target(vec![i]))
    }

    /// Resolves a full id, a unique id prefix or a unique prefix of the hex part.
    pub fn resolve_prefix(&self, text: &str) -> Result<usize, GraphError> {
        if let Some(i) = RevisionId::parse(text).and_then(|id| self.index_of(id.as_str())) {
            return Ok(i);
        }
        let mut matches: BTreeSet<usize> = BTreeSet::new();
        if !text.is_empty() {
            for list in [&self.sorted_ids, &self.sorted_hex] {
                let start = list.partition_point(|(s, _)| s.as_str() < text);
                matches.extend(
                    list[start..]
                        .iter()
                        .take_while(|(s, _)| s.starts_with(text))
                        .map(|(_, i)| *i),
                );
            }
        }
        match matches.len() {
            1 => Ok(matches.into_iter().next().unwrap_or_default()),
            0 => Err(GraphError::UnknownTarget {
                target: text.to_owned(),
                hint: if self.is_empty() {
                    format!(" ({} holds no revisions)", self.dir.display())
                } else {
                    "; targets are `head`, `heads`, `base`, an id or its unique prefix, `+N`, `-N`, `<id>+N` (see `retort history`)".to_owned()
                },
            }),
            _ => {
                let mut candidates: Vec<usize> = matches.into_iter().collect();
                candidates.sort_by_key(|&i| self.rank[i]);
                Err(GraphError::AmbiguousTarget {
                    target: text.to_owned(),
                    candidates: candidates.iter().map(|&i| self.describe(i)).collect(),
                })
            }
        }
    }

    fn describe(&self, index: usize) -> String {
        let r = &self.revisions[index];
        if r.message.is_empty() {
            r.id.to_string()
        } else {
            format!("{} ({})", r.id, r.message)
        }
    }

    /// Moves `offset` steps up (children) or down (parents) from `start`, refusing to
    /// guess at a branch point or merge.
    fn walk(&self, start: &[usize], offset: i64) -> Result<Vec<usize>, String> {
        let mut position: Option<usize> = match start {
            [] => None,
            [one] => Some(*one),
            many => {
                return Err(format!(
                    "there are several current heads ({}); name one, e.g. `{}+1`",
                    self.ids(many),
                    self.id(many[0])
                ))
            }
        };
        for _ in 0..offset.unsigned_abs() {
            let next: Vec<usize> = match (position, offset > 0) {
                (None, true) => self.bases(),
                (None, false) => return Err("cannot go below base".to_owned()),
                (Some(p), true) => self.children[p].clone(),
                (Some(p), false) => self.parents[p].clone(),
            };
            position = match next.as_slice() {
                [] if offset < 0 => None,
                [] => {
                    return Err(format!(
                        "only {} revisions are above the start",
                        offset.abs() - 1
                    ))
                }
                [one] => Some(*one),
                many => {
                    return Err(format!(
                        "the path branches at {}: {} follow; name the revision you want",
                        position.map_or("base".to_owned(), |p| self.id(p).to_string()),
                        self.ids(many)
                    ))
                }
            };
        }
        Ok(position.into_iter().collect())
    }

    fn ids(&self, indexes: &[usize]) -> String {
        indexes
            .iter()
            .map(|&i| self.id(i).as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The steps that move a database whose applied heads are `current` to `target`:
    /// upgrades of what the target requires and is missing, in topological order, or
    /// downgrades (newest first) of what is applied above the target.
    pub fn plan(&self, current: &[usize], target: &Target) -> Result<Vec<Step>, GraphError> {
        let applied = self.ancestors(current);
        let wanted = self.ancestors(&target.0);
        let missing = wanted.iter().zip(&applied).any(|(w, a)| *w && !*a);
        if missing {
            return Ok(self
                .order
                .iter()
                .copied()
                .filter(|&i| wanted[i] && !applied[i])
                .map(|revision| Step {
                    revision,
                    direction: Direction::Upgrade,
                })
                .collect());
        }
        self.plan_downgrade(current, target)
    }

    /// Downgrade steps to `target`: the applied revisions that build on the target
    /// (everything, for `base`), newest first. Other branches are left alone.
    pub fn plan_downgrade(
        &self,
        current: &[usize],
        target: &Target,
    ) -> Result<Vec<Step>, GraphError> {
        let applied = self.ancestors(current);
        let keep = self.ancestors(&target.0);
        let remove: Vec<bool> = if target.0.is_empty() {
            applied.clone()
        } else {
            let above = self.descendants(&target.0);
            (0..self.len())
                .map(|i| applied[i] && above[i] && !keep[i])
                .collect()
        };
        let steps: Vec<Step> = self
            .order
            .iter()
            .rev()
            .copied()
            .filter(|&i| remove[i])
            .map(|revision| Step {
                revision,
                direction: Direction::Downgrade,
            })
            .collect();
        if let Some(step) = steps
            .iter()
            .find(|s| !self.revisions[s.revision].is_reversible())
        {
            let r = &self.revisions[step.revision];
            return Err(GraphError::Irreversible {
                id: r.id.to_string(),
                path: r.path.clone(),
            });
        }
        Ok(steps)
    }

    /// Revisions between two targets, oldest first: descendants of `from` (inclusive)
    /// that are ancestors of `to` (inclusive). `None` means "everything" on that side.
    pub fn range(&self, from: Option<&Target>, to: Option<&Target>) -> Vec<usize> {
        let below = to.map(|t| self.ancestors(&t.0));
        let above = from
            .filter(|t| !t.0.is_empty())
            .map(|t| self.descendants(&t.0));
        self.order
            .iter()
            .copied()
            .filter(|&i| below.as_ref().is_none_or(|b| b[i]))
            .filter(|&i| above.as_ref().is_none_or(|a| a[i]))
            .collect()
    }

    /// Whether `ancestor` is required (transitively) by `index`.
    pub fn is_ancestor(&self, ancestor: usize, index: usize) -> bool {
        ancestor != index && self.ancestors(&[index])[ancestor]
    }
}

/// Splits `+2`, `-1`, `0003+1`, `head-2` into (anchor, signed offset).
fn split_relative(target: &str) -> Option<(&str, i64)> {
    let position = target.rfind(['+', '-'])?;
    let (anchor, number) = target.split_at(position);
    let sign = if number.starts_with('-') { -1 } else { 1 };
    let steps: i64 = number[1..].parse().ok()?;
    Some((anchor, sign * steps))
}

/// Names one cycle among the revisions Kahn's algorithm could not order.
fn find_cycle(revisions: &[Revision], requires: &[Vec<usize>], missing: &[usize]) -> Vec<String> {
    let stuck = |i: usize| missing[i] > 0;
    let Some(start) = (0..revisions.len())
        .filter(|&i| stuck(i))
        .min_by_key(|&i| &revisions[i].id)
    else {
        return Vec::new();
    };
    // Every stuck revision requires at least one stuck revision, so walking those
    // edges must revisit a node; the loop from its first visit is a cycle.
    let mut path = vec![start];
    let mut seen_at: HashMap<usize, usize> = HashMap::from([(start, 0)]);
    let mut node = start;
    loop {
        let Some(&next) = requires[node].iter().filter(|&&p| stuck(p)).min() else {
            return vec![revisions[node].id.to_string()];
        };
        if let Some(&at) = seen_at.get(&next) {
            let mut cycle: Vec<String> = path[at..]
                .iter()
                .map(|&i| revisions[i].id.to_string())
                .collect();
            cycle.push(revisions[next].id.to_string());
            return cycle;
        }
        seen_at.insert(next, path.len());
        path.push(next);
        node = next;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::revision::{Checksum, HeaderLines, Script};

    fn rev(id: &str, parents: &[&str]) -> Revision {
        revision(id, parents, &[])
    }

    /// A revision with empty sections, for graph tests here and in `heads`.
    pub(crate) fn revision(id: &str, parents: &[&str], depends_on: &[&str]) -> Revision {
        let ids = |list: &[&str]| {
            list.iter()
                .map(|p| RevisionId::parse(p).expect("id"))
                .collect()
        };
        Revision {
            id: RevisionId::parse(id).expect("id"),
            down_revisions: ids(parents),
            message: format!("m{id}"),
            created: None,
            depends_on: ids(depends_on),
            branch_labels: Vec::new(),
            source: None,
            upgrade: Script::empty(),
            downgrade: Some(Script::empty()),
            upgrade_batch: None,
            downgrade_batch: None,
            path: PathBuf::from(format!("{id}.sql")),
            checksum: Checksum::of(id),
            header_lines: HeaderLines::default(),
        }
    }

    const A: &str = "0001_aaaaaaaaaaaa";
    const B: &str = "0002_bbbbbbbbbbbb";
    const C: &str = "0003_cccccccccccc";
    const D: &str = "0003_dddddddddddd";
    const M: &str = "0004_eeeeeeeeeeee";

    /// A <- B <- C, B <- D, (C, D) <- M
    fn diamond() -> RevisionGraph {
        RevisionGraph::from_revisions(
            Path::new("versions"),
            vec![
                rev(M, &[C, D]),
                rev(D, &[B]),
                rev(C, &[B]),
                rev(B, &[A]),
                rev(A, &[]),
            ],
        )
        .expect("valid")
    }

    fn ids(g: &RevisionGraph, list: &[usize]) -> Vec<String> {
        list.iter().map(|&i| g.revision(i).id.to_string()).collect()
    }

    #[test]
    fn order_heads_bases() {
        let g = diamond();
        assert_eq!(ids(&g, g.topological_order()), [A, B, C, D, M]);
        assert_eq!(ids(&g, &g.heads()), [M]);
        assert_eq!(ids(&g, &g.bases()), [A]);
    }

    #[test]
    fn plans_through_merges() {
        let g = diamond();
        let head = g.resolve("head", None).expect("head");
        let up = g.plan(&[], &head).expect("plan");
        assert_eq!(
            ids(&g, &up.iter().map(|s| s.revision).collect::<Vec<_>>()),
            [A, B, C, D, M]
        );
        let c = g.resolve("0003_c", None).expect("c");
        let from_c = g.plan(&c.0, &head).expect("plan");
        assert_eq!(
            ids(&g, &from_c.iter().map(|s| s.revision).collect::<Vec<_>>()),
            [D, M]
        );
        let b = g.resolve("bbb", None).expect("hex prefix");
        let down = g.plan(&head.0, &b).expect("plan");
        assert!(down.iter().all(|s| s.direction == Direction::Downgrade));
        assert_eq!(
            ids(&g, &down.iter().map(|s| s.revision).collect::<Vec<_>>()),
            [M, D, C]
        );
        let all_down = g.plan(&head.0, &Target(vec![])).expect("plan");
        assert_eq!(all_down.len(), 5);
        // Downgrading one branch leaves the other alone.
        let both = Target(vec![
            g.resolve_prefix(C).expect("c"),
            g.resolve_prefix(D).expect("d"),
        ]);
        let to_b = g.plan_downgrade(&both.0, &c).expect("plan");
        assert!(to_b.is_empty());
    }

    #[test]
    fn resolves_targets() {
        let g = diamond();
        let err = g.resolve("0003", None).expect_err("ambiguous");
        let text = err.to_string();
        assert!(text.contains(C) && text.contains(D), "{text}");
        assert_eq!(ids(&g, &g.resolve("0001+1", None).expect("+1").0), [B]);
        assert_eq!(
            ids(
                &g,
                &g.resolve("-1", Some(&[g.resolve_prefix(B).expect("b")]))
                    .expect("-1")
                    .0
            ),
            [A]
        );
        assert!(g.resolve("-1", None).is_err());
        assert!(g
            .resolve("0002+1", None)
            .expect_err("branches")
            .to_string()
            .contains("branches"));
        assert!(g.resolve("+1", Some(&[])).is_ok());
        assert!(g.resolve("0001-1", None).expect("base").0.is_empty());
        assert!(g.resolve("zzz", None).is_err());
        assert_eq!(g.resolve("heads", None).expect("heads").0.len(), 1);
    }

    #[test]
    fn validation_errors() {
        let dup = RevisionGraph::from_revisions(Path::new("v"), vec![rev(A, &[]), rev(A, &[])]);
        assert!(matches!(dup, Err(GraphError::DuplicateId { .. })));
        let missing = RevisionGraph::from_revisions(Path::new("v"), vec![rev(B, &[A])]);
        assert!(matches!(missing, Err(GraphError::MissingRevision { .. })));
        let cycle = RevisionGraph::from_revisions(
            Path::new("v"),
            vec![rev(A, &[]), rev(B, &[A, C]), rev(C, &[B])],
        );
        match cycle {
            Err(GraphError::Cycle { cycle }) => assert_eq!(cycle, [B, C, B]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn irreversible_downgrade_is_refused() {
        let mut b = rev(B, &[A]);
        b.downgrade = None;
        let g = RevisionGraph::from_revisions(Path::new("v"), vec![rev(A, &[]), b]).expect("valid");
        let head = g.resolve("head", None).expect("head");
        assert!(matches!(
            g.plan(&head.0, &Target(vec![])),
            Err(GraphError::Irreversible { .. })
        ));
    }

    #[test]
    fn loads_ten_thousand_quickly() {
        let mut revisions = Vec::new();
        let mut previous: Option<String> = None;
        for i in 1..=10_000u64 {
            let id = format!("{i:04}_{i:012x}");
            let parents: Vec<&str> = previous.iter().map(String::as_str).collect();
            revisions.push(rev(&id, &parents));
            previous = Some(id);
        }
        let g = RevisionGraph::from_revisions(Path::new("v"), revisions).expect("valid");
        assert_eq!(g.heads().len(), 1);
        assert_eq!(g.plan(&[], &Target(g.heads())).expect("plan").len(), 10_000);
    }
}
