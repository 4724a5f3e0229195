//! `versions/retort.sum`: the checksum of every revision file plus the current heads.
//!
//! The `heads:` line is what makes two branches that each add a revision conflict in
//! git (both rewrite it), so the split is found when the branches are merged rather
//! than when a deployment meets two heads. The file is sorted and line-based to keep
//! such conflicts small and readable.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use retort_sum::SumLine;

use crate::graph::RevisionGraph;
use crate::revision::{Checksum, RevisionId};

/// The sum file's name inside a versions directory: `retort.sum`.
pub const FILE_NAME: &str = retort_sum::SUM_FILE_NAME;

const PREAMBLE: &str = "# retort.sum: checksums of the revision files and the current heads.\n# Written by `retort new-migration`, `merge` and `rehash`; do not edit by hand.\n# A git conflict here means two branches added revisions: resolve it with\n# `retort rehash` and then `retort merge -m MESSAGE`.\n";

/// Why the sum file could not be read, parsed or written.
#[derive(Debug, thiserror::Error)]
pub enum SumError {
    /// The sum file exists but could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The sum file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The sum file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The sum file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file holds a git conflict marker (`<<<<<<<`, `=======`, `>>>>>>>`).
    #[error("{}:{line}: unresolved git conflict marker; two branches added revisions. Run `retort rehash` to rewrite the file from the revisions present, then `retort merge -m MESSAGE` to join the heads", path.display())]
    Conflict {
        /// The sum file.
        path: PathBuf,
        /// 1-based line of the marker.
        line: usize,
    },
    /// A line that is not `<id> sha256:<hex>`, `heads: <ids>`, a `#` comment or blank, or
    /// that names an invalid revision id.
    #[error("{}:{line}: malformed line `{text}`; expected `<id> sha256:<hex>` or `heads: <ids>`; run `retort rehash` to rewrite the file", path.display())]
    Malformed {
        /// The sum file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The line, trimmed.
        text: String,
    },
}

/// The parsed contents of a sum file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SumFile {
    /// Each revision id with the checksum of its file (`<id> sha256:<hex>` lines).
    pub checksums: BTreeMap<RevisionId, Checksum>,
    /// The ids of the `heads:` line, in the order read (or, from
    /// [`of_graph`](Self::of_graph), topological order).
    pub heads: Vec<RevisionId>,
}

/// A disagreement between the sum file and the revision files.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Mismatch {
    /// A revision file the sum does not list.
    Added {
        /// Id of the revision the sum does not list.
        id: String,
        /// Its file.
        path: PathBuf,
    },
    /// A revision file whose checksum changed.
    Edited {
        /// Id of the edited revision.
        id: String,
        /// Its file.
        path: PathBuf,
    },
    /// A revision the sum lists but no file holds.
    Removed {
        /// The revision id recorded in the sum.
        id: String,
    },
    /// The recorded heads differ from the graph's.
    Heads {
        /// The ids on the sum's `heads:` line, sorted by (number, id).
        recorded: Vec<String>,
        /// The heads of the revision files, sorted by (number, id).
        actual: Vec<String>,
    },
    /// No sum file at all.
    Missing {
        /// Where the sum file was expected.
        path: PathBuf,
    },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::Added { id, path } => write!(
                f,
                "added:   {} ({id}) is not in {FILE_NAME}",
                path.display()
            ),
            Mismatch::Edited { id, path } => write!(
                f,
                "edited:  {} ({id}) changed since {FILE_NAME} was written",
                path.display()
            ),
            Mismatch::Removed { id } => {
                write!(f, "removed: {id} is in {FILE_NAME} but its file is gone")
            }
            Mismatch::Heads { recorded, actual } => write!(
                f,
                "heads:   {FILE_NAME} records [{}] but the revisions have [{}]",
                recorded.join(", "),
                actual.join(", ")
            ),
            Mismatch::Missing { path } => write!(f, "missing: {} does not exist", path.display()),
        }
    }
}

/// Where the sum file of `versions_dir` lives: `versions_dir/retort.sum`.
pub fn path_in(versions_dir: &Path) -> PathBuf {
    versions_dir.join(FILE_NAME)
}

impl SumFile {
    /// The sum the graph's current files should have.
    pub fn of_graph(graph: &RevisionGraph) -> SumFile {
        SumFile {
            checksums: graph
                .revisions()
                .iter()
                .map(|r| (r.id.clone(), r.checksum))
                .collect(),
            heads: graph
                .heads()
                .into_iter()
                .map(|i| graph.revision(i).id.clone())
                .collect(),
        }
    }

    /// Reads the sum file; `Ok(None)` when there is none.
    pub fn read(path: &Path) -> Result<Option<SumFile>, SumError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(SumError::Read {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        SumFile::parse(path, &text).map(Some)
    }

    /// Parses the text of a sum file; `path` is only for error messages.
    pub fn parse(path: &Path, text: &str) -> Result<SumFile, SumError> {
        let mut sum = SumFile::default();
        for (index, line) in text.lines().enumerate() {
            let line_no = index + 1;
            let malformed = || SumError::Malformed {
                path: path.to_owned(),
                line: line_no,
                text: line.trim().to_owned(),
            };
            match SumLine::parse(line) {
                SumLine::Blank => {}
                SumLine::ConflictMarker => {
                    return Err(SumError::Conflict {
                        path: path.to_owned(),
                        line: line_no,
                    })
                }
                SumLine::Heads(ids) => {
                    for id in ids {
                        sum.heads.push(RevisionId::parse(id).ok_or_else(malformed)?);
                    }
                }
                SumLine::Entry { id, checksum } => {
                    let id = RevisionId::parse(id).ok_or_else(malformed)?;
                    sum.checksums.insert(id, checksum);
                }
                SumLine::Malformed => return Err(malformed()),
            }
        }
        Ok(sum)
    }

    /// Renders the file: sorted by (number, id), heads last.
    pub fn render(&self) -> String {
        let mut entries: Vec<(&RevisionId, &Checksum)> = self.checksums.iter().collect();
        entries.sort_by_key(|(id, _)| (id.number(), *id));
        let mut out = String::from(PREAMBLE);
        for (id, checksum) in entries {
            let _ = writeln!(out, "{id} {checksum}");
        }
        let heads: Vec<&str> = sorted(&self.heads)
            .into_iter()
            .map(RevisionId::as_str)
            .collect();
        let _ = writeln!(out, "heads: {}", heads.join(" "));
        out
    }

    /// Writes the file atomically (temp file + rename), so an interrupted write never
    /// leaves half a sum behind.
    pub fn write(&self, path: &Path) -> Result<(), SumError> {
        crate::atomic_file::write(path, self.render().as_bytes()).map_err(|source| {
            SumError::Write {
                path: path.to_owned(),
                source,
            }
        })
    }

    /// Lists every way `actual` (the files) differs from `self` (the recorded sum).
    pub fn compare(&self, graph: &RevisionGraph) -> Vec<Mismatch> {
        let actual = SumFile::of_graph(graph);
        let mut mismatches = Vec::new();
        for r in graph.revisions() {
            match self.checksums.get(&r.id) {
                None => mismatches.push(Mismatch::Added {
                    id: r.id.to_string(),
                    path: r.path.clone(),
                }),
                Some(recorded) if *recorded != r.checksum => mismatches.push(Mismatch::Edited {
                    id: r.id.to_string(),
                    path: r.path.clone(),
                }),
                Some(_) => {}
            }
        }
        for id in self.checksums.keys() {
            if !actual.checksums.contains_key(id) {
                mismatches.push(Mismatch::Removed { id: id.to_string() });
            }
        }
        let (recorded, actual) = (sorted(&self.heads), sorted(&actual.heads));
        if recorded != actual {
            let names = |ids: Vec<&RevisionId>| ids.iter().map(ToString::to_string).collect();
            mismatches.push(Mismatch::Heads {
                recorded: names(recorded),
                actual: names(actual),
            });
        }
        mismatches
    }
}

/// Ids in (number, id) order: the order the file lists them in.
fn sorted(ids: &[RevisionId]) -> Vec<&RevisionId> {
    let mut ids: Vec<&RevisionId> = ids.iter().collect();
    ids.sort_by_key(|id| (id.number(), *id));
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_render_round_trip() {
        let text = format!(
            "{PREAMBLE}0001_aaaaaaaaaaaa sha256:{}\n0002_bbbbbbbbbbbb sha256:{}\nheads: 0002_bbbbbbbbbbbb\n",
            "1".repeat(64),
            "2".repeat(64)
        );
        let sum = SumFile::parse(Path::new("retort.sum"), &text).expect("parses");
        assert_eq!(sum.checksums.len(), 2);
        assert_eq!(sum.render(), text);
    }

    #[test]
    fn conflict_markers_are_reported() {
        let text = "<<<<<<< HEAD\nheads: 0002_bbbbbbbbbbbb\n=======\n";
        let err = SumFile::parse(Path::new("retort.sum"), text).expect_err("conflict");
        assert!(matches!(err, SumError::Conflict { line: 1, .. }));
    }

    #[test]
    fn wide_numbers_sort_numerically() {
        let mut sum = SumFile::default();
        for id in ["10000_aaaaaaaaaaaa", "9999_aaaaaaaaaaaa"] {
            sum.checksums
                .insert(RevisionId::parse(id).expect("id"), Checksum::of(id));
        }
        let text = sum.render();
        assert!(text.find("9999_").expect("9999") < text.find("10000_").expect("10000"));
    }
}
