//! Writing an imported history as retort revision files and their `retort.sum`.
//!
//! Ids are derived from the tool's own ids (a hash, not random), so importing the same
//! history twice gives the same files: a team can re-run the import on a branch and
//! review the diff. A revision with a blocking note is written with a statement that
//! refuses to run, so an unconverted step can never be deployed as if it were empty.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{ForeignHistory, ForeignRevision, ForeignScript};
use crate::graph::{GraphError, RevisionGraph};
use crate::revision::{self, Checksum, HeaderLines, Revision, RevisionId, Script, Source};
use crate::sql::quote_literal;
use crate::sum::{self, SumError, SumFile};

/// One revision file written by [`write`](fn@write).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The other tool's id.
    pub source: String,
    /// The retort id given to it (derived from a hash of the tool's id).
    pub id: RevisionId,
    /// The file written, in the versions directory.
    pub path: PathBuf,
    /// Whether the revision refuses to run until a person completes it.
    pub incomplete: bool,
}

/// Why an imported history could not be written; whatever was written is removed again.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The versions directory already holds `.sql` files or a `retort.sum`.
    #[error("{} already holds {count} revision file(s) or a retort.sum; import into an empty versions directory (a new project, or `--versions NEW_DIR`)", dir.display())]
    NotEmpty {
        /// The versions directory.
        dir: PathBuf,
        /// How many `.sql` files it holds (0 when only `retort.sum` is there).
        count: usize,
    },
    /// A revision names a parent or dependency that is not earlier in the history.
    #[error("{tool} revision {id} ({origin}) names {parent} as its {role}, which is not in the history (or comes after it); the history is incomplete")]
    UnknownParent {
        /// The tool's name.
        tool: String,
        /// The tool's id of the revision.
        id: String,
        /// The file (or files) the revision came from.
        origin: String,
        /// The tool's id of the missing revision.
        parent: String,
        /// `parent` or `dependency (depends_on)`.
        role: &'static str,
    },
    /// Two revisions of the history have the same tool id.
    #[error("{tool} revision {id} is defined twice ({first} and {second})")]
    Duplicate {
        /// The tool's name.
        tool: String,
        /// The tool id.
        id: String,
        /// The file of the first revision.
        first: String,
        /// The file of the second revision.
        second: String,
    },
    /// A tool id that is empty or holds whitespace, so cannot go into a `-- source:`
    /// header.
    #[error("{tool} revision id `{id}` ({origin}) cannot be recorded in a `-- source:` header: it must be one word")]
    BadId {
        /// The tool's name.
        tool: String,
        /// The id as read.
        id: String,
        /// The file (or files) the revision came from.
        origin: String,
    },
    /// A file or the versions directory could not be created or written.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The written revisions do not load (a bug in the import).
    #[error("the imported revisions do not load as a chain (a bug in the import; please report it): {0}")]
    Graph(#[from] GraphError),
    /// The `retort.sum` could not be written.
    #[error(transparent)]
    Sum(#[from] SumError),
}

/// Writes `history` into `versions_dir` (created when missing, refused when it already
/// holds revisions) and its `retort.sum`. On an error, nothing written stays.
pub fn write(versions_dir: &Path, history: &ForeignHistory) -> Result<Vec<Written>, WriteError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| WriteError::Io { path, source }
    };
    std::fs::create_dir_all(versions_dir).map_err(io(versions_dir))?;
    let names: Vec<String> = std::fs::read_dir(versions_dir)
        .map_err(io(versions_dir))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let existing = names.iter().filter(|n| n.ends_with(".sql")).count();
    if existing > 0 || names.iter().any(|n| n == sum::FILE_NAME) {
        return Err(WriteError::NotEmpty {
            dir: versions_dir.to_owned(),
            count: existing,
        });
    }

    let revisions = assign_ids(history, versions_dir)?;
    let mut written: Vec<Written> = Vec::new();
    let result = (|| {
        for (revision, incomplete) in &revisions {
            let text = revision::render(revision);
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&revision.path)
                .map_err(io(&revision.path))?;
            written.push(Written {
                source: revision
                    .source
                    .as_ref()
                    .map(|s| s.id.clone())
                    .unwrap_or_default(),
                id: revision.id.clone(),
                path: revision.path.clone(),
                incomplete: *incomplete,
            });
            file.write_all(text.as_bytes())
                .and_then(|_| file.sync_all())
                .map_err(io(&revision.path))?;
        }
        let graph = RevisionGraph::load(versions_dir)?;
        SumFile::of_graph(&graph).write(&sum::path_in(versions_dir))?;
        Ok(())
    })();
    if let Err(e) = result {
        for w in &written {
            let _ = std::fs::remove_file(&w.path);
        }
        return Err(e);
    }
    Ok(written)
}

/// The retort revisions of `history`, each with whether it is incomplete.
fn assign_ids(
    history: &ForeignHistory,
    versions_dir: &Path,
) -> Result<Vec<(Revision, bool)>, WriteError> {
    let tool = history.tool.name();
    let mut ids: HashMap<&str, (RevisionId, &str)> = HashMap::new();
    let mut hexes = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(history.revisions.len());
    for foreign in &history.revisions {
        if foreign.id.is_empty() || foreign.id.chars().any(char::is_whitespace) {
            return Err(WriteError::BadId {
                tool: tool.to_owned(),
                id: foreign.id.clone(),
                origin: foreign.origin.clone(),
            });
        }
        if let Some((_, first)) = ids.get(foreign.id.as_str()) {
            return Err(WriteError::Duplicate {
                tool: tool.to_owned(),
                id: foreign.id.clone(),
                first: (*first).to_owned(),
                second: foreign.origin.clone(),
            });
        }
        let lookup = |list: &[String], role: &'static str| {
            list.iter()
                .map(|p| {
                    ids.get(p.as_str())
                        .map(|(id, _)| id.clone())
                        .ok_or_else(|| WriteError::UnknownParent {
                            tool: tool.to_owned(),
                            id: foreign.id.clone(),
                            origin: foreign.origin.clone(),
                            parent: p.clone(),
                            role,
                        })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let mut parents = lookup(&foreign.parents, "parent")?;
        parents.sort();
        parents.dedup();
        let depends_on = lookup(&foreign.depends_on, "dependency (depends_on)")?;
        let number = parents
            .iter()
            .map(RevisionId::number)
            .max()
            .map_or(1, |n| n + 1);
        let id = RevisionId::new(number, &unique_hex(tool, &foreign.id, &mut hexes));
        let message = match foreign.message.split_whitespace().collect::<Vec<_>>() {
            words if words.is_empty() => format!("{tool} {}", foreign.id),
            words => words.join(" "),
        };
        let blocking: Vec<&super::Note> = history
            .notes
            .iter()
            .filter(|n| n.blocking && belongs_to(n, foreign))
            .collect();
        let upgrade = script(&foreign.upgrade, &blocking, tool, foreign);
        let path = versions_dir.join(format!("{id}_{}.sql", revision::slugify(&message)));
        let revision = Revision {
            id: id.clone(),
            down_revisions: parents,
            message,
            created: None,
            depends_on,
            branch_labels: foreign.branch_labels.iter().map(|l| label(l)).collect(),
            source: Some(Source {
                tool: tool.to_owned(),
                id: foreign.id.clone(),
            }),
            upgrade,
            downgrade: foreign.downgrade.as_ref().map(|d| Script {
                sql: d.sql.trim().to_owned(),
                line: 0,
                transactional: d.transactional,
            }),
            upgrade_batch: None,
            downgrade_batch: None,
            path,
            checksum: Checksum::of(""),
            header_lines: HeaderLines::default(),
        };
        ids.insert(foreign.id.as_str(), (id, foreign.origin.as_str()));
        out.push((revision, !blocking.is_empty()));
    }
    Ok(out)
}

/// Whether a note is about `revision`: its origin is the revision's id or one of the
/// files it came from.
fn belongs_to(note: &super::Note, revision: &ForeignRevision) -> bool {
    note.origin == revision.id || revision.origin.split(", ").any(|file| file == note.origin)
}

/// The upgrade script; an incomplete one starts with a block that refuses to run, so the
/// chain cannot be deployed past it by accident.
fn script(
    upgrade: &ForeignScript,
    blocking: &[&super::Note],
    tool: &str,
    revision: &ForeignRevision,
) -> Script {
    let mut sql = String::new();
    if !blocking.is_empty() {
        let reasons: Vec<String> = blocking.iter().map(|n| n.message.clone()).collect();
        for reason in &reasons {
            sql.push_str("-- retort import: NOT CONVERTED: ");
            sql.push_str(&reason.replace('\n', " "));
            sql.push('\n');
        }
        let message = format!(
            "retort import: {tool} revision {} was not fully converted ({}); write its SQL in this revision and delete this DO block",
            revision.id,
            reasons.join("; ")
        );
        sql.push_str(&format!(
            "DO $retort_import$ BEGIN RAISE EXCEPTION USING MESSAGE = {}; END $retort_import$;\n",
            quote_literal(&message)
        ));
    }
    sql.push_str(upgrade.sql.trim());
    Script {
        sql: sql.trim().to_owned(),
        line: 0,
        transactional: upgrade.transactional,
    }
}

/// A branch label as retort accepts it (letters, digits, `_`, `-`, `.`).
fn label(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// 12 hex digits from a hash of the tool's id (a counter breaks the rare tie).
fn unique_hex(tool: &str, id: &str, taken: &mut std::collections::HashSet<String>) -> String {
    let mut attempt = 0u64;
    loop {
        let digest = Sha256::digest(format!("{tool}\n{id}\n{attempt}").as_bytes());
        let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        if taken.insert(hex.clone()) {
            return hex;
        }
        attempt = attempt.wrapping_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::{Note, Tool};

    fn rev(id: &str, parents: &[&str], depends_on: &[&str]) -> ForeignRevision {
        ForeignRevision {
            id: id.to_owned(),
            parents: parents.iter().map(|p| (*p).to_owned()).collect(),
            depends_on: depends_on.iter().map(|p| (*p).to_owned()).collect(),
            branch_labels: Vec::new(),
            message: format!("step {id}"),
            upgrade: ForeignScript {
                sql: format!("CREATE TABLE t_{id} ();"),
                transactional: true,
            },
            downgrade: Some(ForeignScript {
                sql: format!("DROP TABLE t_{id};"),
                transactional: true,
            }),
            origin: format!("versions/{id}.py"),
        }
    }

    fn history() -> ForeignHistory {
        ForeignHistory {
            tool: Tool::Alembic,
            revisions: vec![
                rev("aaa", &[], &[]),
                rev("bbb", &["aaa"], &[]),
                rev("ccc", &["aaa"], &[]),
                rev("ddd", &["bbb", "ccc"], &["bbb"]),
            ],
            notes: vec![Note {
                origin: "versions/ccc.py".into(),
                line: Some(7),
                message: "upgrade() reads data".into(),
                blocking: true,
            }],
        }
    }

    #[test]
    fn a_dag_keeps_its_merge_dependencies_and_sources_and_loads_with_its_sum() {
        let dir = tempfile::tempdir().expect("ok");
        let written = write(dir.path(), &history()).expect("ok");
        assert_eq!(written.len(), 4);
        let graph = RevisionGraph::load(dir.path()).expect("ok");
        let by_source = |s: &str| {
            graph
                .revisions()
                .iter()
                .find(|r| r.source.as_ref().is_some_and(|x| x.id == s))
                .expect("ok")
        };
        let (a, b, c, d) = (
            by_source("aaa"),
            by_source("bbb"),
            by_source("ccc"),
            by_source("ddd"),
        );
        assert!(a.is_base());
        assert_eq!(b.down_revisions, vec![a.id.clone()]);
        assert_eq!(d.id.number(), 3);
        let mut parents = vec![b.id.clone(), c.id.clone()];
        parents.sort();
        assert_eq!(d.down_revisions, parents);
        assert_eq!(d.depends_on, vec![b.id.clone()]);
        // The unconverted step refuses to run; the others are as given.
        assert!(c.upgrade.sql.contains("RAISE EXCEPTION") && c.upgrade.sql.contains("reads data"));
        assert!(written.iter().any(|w| w.incomplete && w.source == "ccc"));
        assert_eq!(a.upgrade.sql, "CREATE TABLE t_aaa ();");
        let sum = SumFile::read(&sum::path_in(dir.path()))
            .expect("ok")
            .expect("ok");
        assert!(sum.compare(&graph).is_empty());
    }

    #[test]
    fn the_same_history_gives_the_same_files() {
        let (one, two) = (
            tempfile::tempdir().expect("ok"),
            tempfile::tempdir().expect("ok"),
        );
        let a = write(one.path(), &history()).expect("ok");
        let b = write(two.path(), &history()).expect("ok");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.path.file_name(), y.path.file_name());
            assert_eq!(
                std::fs::read(&x.path).expect("ok"),
                std::fs::read(&y.path).expect("ok")
            );
        }
    }

    #[test]
    fn a_non_empty_directory_or_a_missing_parent_is_refused_and_nothing_is_left() {
        let dir = tempfile::tempdir().expect("ok");
        write(dir.path(), &history()).expect("ok");
        assert!(matches!(
            write(dir.path(), &history()),
            Err(WriteError::NotEmpty { count: 4, .. })
        ));
        let empty = tempfile::tempdir().expect("ok");
        let mut broken = history();
        broken.revisions[1].parents = vec!["zzz".into()];
        let err = write(empty.path(), &broken).expect_err("must fail");
        assert!(err.to_string().contains("zzz"), "{err}");
        assert_eq!(std::fs::read_dir(empty.path()).expect("ok").count(), 0);
    }
}
