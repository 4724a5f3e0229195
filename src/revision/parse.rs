//! The revision file's grammar: the header lines, then the sections (`upgrade`,
//! `downgrade`, and a `batch` section with the section after it), each checked as it
//! is read. Pure; the caller owns the text and fills the sections' SQL from the byte
//! ranges returned.

use std::path::Path;

use chrono::DateTime;

use super::batch;
use super::{
    Batch, Checksum, Direction, HeaderLines, ParseErrorKind, Revision, RevisionId, Script, Source,
    HEADER_KEYS,
};

/// A parse error at a line: what `RevisionError::Parse` is made of.
type LineError = (usize, ParseErrorKind);

/// A `-- key: value` header line, or `None` when the line is not shaped like one.
fn header_line(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix("--")?.trim_start();
    let (key, value) = rest.split_once(':')?;
    let is_key = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    (is_key && key != "migrate").then(|| (key, value.trim()))
}

/// A `-- migrate:NAME [options]` line: returns `(NAME, options)`.
fn section_line(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix("--")?.trim_start();
    let rest = rest.strip_prefix("migrate:")?;
    let rest = rest.trim_end();
    Some(match rest.split_once(char::is_whitespace) {
        Some((name, options)) => (name, options.trim()),
        None => (rest, ""),
    })
}

fn suggest(word: &str, candidates: &[&str]) -> String {
    let lower = word.to_ascii_lowercase();
    let best = candidates
        .iter()
        .map(|c| (strsim::levenshtein(&lower, c), *c))
        .min();
    match best {
        Some((distance, candidate)) if distance <= 3 || lower.contains(candidate) => {
            format!("; did you mean `{candidate}`?")
        }
        _ => format!("; known keys: {}", candidates.join(", ")),
    }
}

fn parse_ids(key: &'static str, value: &str, line: usize) -> Result<Vec<RevisionId>, LineError> {
    let mut ids: Vec<RevisionId> = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let id = RevisionId::parse(part).ok_or_else(|| {
            (
                line,
                ParseErrorKind::BadId {
                    value: part.to_owned(),
                },
            )
        })?;
        if ids.contains(&id) {
            return Err((
                line,
                ParseErrorKind::RepeatedId {
                    key,
                    value: part.to_owned(),
                },
            ));
        }
        ids.push(id);
    }
    Ok(ids)
}

#[derive(Default)]
struct Header<'a> {
    values: [Option<(usize, &'a str)>; 7],
}

/// The byte ranges of the upgrade and downgrade sections' text in `text`.
pub(super) type SectionRanges = [Option<std::ops::Range<usize>>; 2];

/// Parses normalized text; the sections' `sql` is left empty and their byte ranges are
/// returned beside, for the caller to fill from whichever buffer it owns.
pub(super) fn parse_normalized(
    path: &Path,
    text: &str,
) -> Result<(Revision, SectionRanges), LineError> {
    if text.trim().is_empty() {
        return Err((1, ParseErrorKind::Empty));
    }
    let lines: Vec<&str> = text.split('\n').collect();
    let line_starts: Vec<usize> = lines
        .iter()
        .scan(0, |offset, line| {
            let start = *offset;
            *offset += line.len() + 1;
            Some(start)
        })
        .collect();
    let mut ranges: SectionRanges = [None, None];
    let mut index = 0;
    while index < lines.len() && lines[index].trim().is_empty() {
        index += 1;
    }

    // Header: the leading run of `-- key: value` lines.
    let mut header = Header::default();
    let header_start = index;
    while index < lines.len() {
        let Some((key, value)) = header_line(lines[index]) else {
            break;
        };
        let line_no = index + 1;
        let slot = HEADER_KEYS.iter().position(|k| *k == key).ok_or_else(|| {
            (
                line_no,
                ParseErrorKind::UnknownKey {
                    key: key.to_owned(),
                    suggestion: suggest(key, &HEADER_KEYS),
                },
            )
        })?;
        if let Some((first, _)) = header.values[slot] {
            return Err((
                line_no,
                ParseErrorKind::DuplicateKey {
                    key: key.to_owned(),
                    first,
                },
            ));
        }
        header.values[slot] = Some((line_no, value));
        index += 1;
    }
    if index == header_start {
        let revision_later = lines[index..]
            .iter()
            .any(|l| matches!(header_line(l), Some(("revision", _))));
        return Err(if revision_later {
            (index + 1, ParseErrorKind::TextBeforeHeader)
        } else {
            (index + 1, ParseErrorKind::NoHeader)
        });
    }
    let header_end_line = index + 1;

    let (revision_line, revision_value) = header.values[0].ok_or((
        header_end_line,
        ParseErrorKind::MissingKey {
            key: "revision",
            hint: "<id>",
        },
    ))?;
    let id = RevisionId::parse(revision_value).ok_or_else(|| {
        (
            revision_line,
            ParseErrorKind::BadId {
                value: revision_value.to_owned(),
            },
        )
    })?;
    let (down_line, down_value) = header.values[1].ok_or((
        header_end_line,
        ParseErrorKind::MissingKey {
            key: "down_revision",
            hint: "<parent id, or nothing for a base revision>",
        },
    ))?;
    let down_revisions = parse_ids("down_revision", down_value, down_line)?;
    let message = header.values[2].map_or("", |(_, v)| v).to_owned();
    let created = match header.values[3] {
        Some((line, value)) => Some(DateTime::parse_from_rfc3339(value).map_err(|e| {
            (
                line,
                ParseErrorKind::BadCreated {
                    value: value.to_owned(),
                    reason: e.to_string(),
                },
            )
        })?),
        None => None,
    };
    let (depends_line, depends_on) = match header.values[4] {
        Some((line, value)) => (line, parse_ids("depends_on", value, line)?),
        None => (0, Vec::new()),
    };
    let mut branch_labels = Vec::new();
    if let Some((line, value)) = header.values[5] {
        for label in value.split(',').map(str::trim).filter(|l| !l.is_empty()) {
            let valid = label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
            if !valid {
                return Err((
                    line,
                    ParseErrorKind::BadBranchLabel {
                        value: label.to_owned(),
                    },
                ));
            }
            branch_labels.push(label.to_owned());
        }
    }
    let source = match header.values[6] {
        Some((line, value)) => {
            let mut words = value.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some(tool), Some(id), None) => Some(Source {
                    tool: tool.to_owned(),
                    id: id.to_owned(),
                }),
                _ => {
                    return Err((
                        line,
                        ParseErrorKind::BadSource {
                            value: value.to_owned(),
                        },
                    ))
                }
            }
        }
        None => None,
    };

    let file_stem = path
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.strip_suffix(".sql").unwrap_or(n))
        .unwrap_or_default();
    let name_matches = file_stem
        .strip_prefix(id.as_str())
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('_'));
    if !name_matches {
        return Err((
            revision_line,
            ParseErrorKind::IdMismatch { id: id.to_string() },
        ));
    }

    // Body: comments and blank lines until the first section, then sections.
    let mut body = Body::default();
    // A marker-looking line inside a string, a dollar-quoted body or a block comment is
    // content: only lines the scanner reaches between tokens can start a section.
    let inside_token = crate::sql::split::lines_inside_tokens(text);
    while index < lines.len() {
        let line = lines[index];
        let line_no = index + 1;
        let marker =
            section_line(line).filter(|_| !inside_token.get(index).copied().unwrap_or(false));
        if let Some((name, options)) = marker {
            let (section, options) = body.open(name, options, line_no)?;
            body.finish(index, &lines, &line_starts, text, &mut ranges);
            body.current = Some(OpenSection {
                section,
                options,
                marker: line_no,
                start: index + 1,
            });
        } else if body.current.is_none() {
            let trimmed = line.trim();
            if !trimmed.is_empty() && !trimmed.starts_with("--") {
                return Err((line_no, ParseErrorKind::SqlOutsideSection));
            }
        }
        index += 1;
    }
    body.finish(lines.len(), &lines, &line_starts, text, &mut ranges);
    let [upgrade_batch, downgrade_batch] = body.batches()?;
    let [upgrade, downgrade] = body.scripts;
    let (_, upgrade) = upgrade.ok_or((header_end_line, ParseErrorKind::MissingUpgrade))?;

    Ok((
        Revision {
            id,
            down_revisions,
            message,
            created,
            depends_on,
            branch_labels,
            source,
            upgrade,
            downgrade: downgrade.map(|(_, script)| script),
            upgrade_batch,
            downgrade_batch,
            path: path.to_owned(),
            checksum: Checksum::of(text),
            header_lines: HeaderLines {
                revision: revision_line,
                down_revision: down_line,
                depends_on: depends_line,
            },
        },
        ranges,
    ))
}

/// Which part of a revision a section marker opens.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    /// `-- migrate:upgrade` or `-- migrate:downgrade`, the first of its direction.
    Main(Direction, bool),
    /// `-- migrate:batch`, after its direction's section.
    Batch(Direction),
    /// A second `-- migrate:upgrade`/`downgrade`, right after its direction's batch.
    After(Direction, bool),
}

struct OpenSection {
    section: Section,
    /// A batch marker's options, as `open` checked them.
    options: Option<Batch>,
    marker: usize,
    /// Index of the line after the marker.
    start: usize,
}

/// A batch marker's options and the parts read so far.
struct BatchParts {
    marker: usize,
    options: Batch,
    statement: Script,
    after: Option<Script>,
}

/// The sections read so far.
#[derive(Default)]
struct Body {
    /// Upgrade and downgrade: the marker line and the script (its `sql` filled later
    /// from the returned ranges).
    scripts: [Option<(usize, Script)>; 2],
    batches: [Option<BatchParts>; 2],
    /// Marker line of each direction's after-batch section.
    after_markers: [usize; 2],
    current: Option<OpenSection>,
}

fn slot(direction: Direction) -> usize {
    usize::from(direction == Direction::Downgrade)
}

impl Body {
    /// The section a marker opens (with a batch marker's options), or why it cannot be
    /// opened here.
    fn open(
        &self,
        name: &str,
        options: &str,
        line_no: usize,
    ) -> Result<(Section, Option<Batch>), LineError> {
        let direction = match name {
            "upgrade" => Some(Direction::Upgrade),
            "downgrade" => Some(Direction::Downgrade),
            "batch" => None,
            other => {
                return Err((
                    line_no,
                    ParseErrorKind::UnknownSection {
                        name: other.to_owned(),
                        suggestion: suggest(other, &["upgrade", "downgrade", "batch"]),
                    },
                ))
            }
        };
        let current = self.current.as_ref().map(|c| (c.section, c.marker));
        let Some(direction) = direction else {
            let direction = match current {
                Some((Section::Main(d, _), _)) => d,
                Some((Section::Batch(d) | Section::After(d, _), _)) => {
                    let first = self.batches[slot(d)].as_ref().map_or(0, |b| b.marker);
                    return Err((
                        line_no,
                        ParseErrorKind::DuplicateSection {
                            section: "batch",
                            first,
                        },
                    ));
                }
                None => {
                    return Err((
                        line_no,
                        ParseErrorKind::BadBatch {
                            reason: "a batch section comes after the upgrade (or downgrade) section it belongs to".to_owned(),
                        },
                    ))
                }
            };
            let options = batch::parse_options(options)
                .map_err(|reason| (line_no, ParseErrorKind::BadBatch { reason }))?;
            return Ok((Section::Batch(direction), Some(options)));
        };
        let transactional = match options {
            "" | "transaction:true" => true,
            "transaction:false" => false,
            other => {
                return Err((
                    line_no,
                    ParseErrorKind::UnknownSectionOption {
                        option: other.to_owned(),
                    },
                ))
            }
        };
        let first = self.scripts[slot(direction)]
            .as_ref()
            .map(|(line, _)| *line)
            .or(match current {
                Some((Section::Main(d, _), line)) if d == direction => Some(line),
                _ => None,
            });
        match (first, current) {
            (None, _) => Ok((Section::Main(direction, transactional), None)),
            (Some(_), Some((Section::Batch(d), _))) if d == direction => {
                Ok((Section::After(direction, transactional), None))
            }
            (Some(first), _) => Err((
                line_no,
                ParseErrorKind::DuplicateSection {
                    section: if direction == Direction::Upgrade {
                        "upgrade"
                    } else {
                        "downgrade"
                    },
                    first,
                },
            )),
        }
    }

    /// Closes the open section at line index `end`.
    fn finish(
        &mut self,
        end: usize,
        lines: &[&str],
        line_starts: &[usize],
        text: &str,
        ranges: &mut SectionRanges,
    ) {
        let Some(OpenSection {
            section,
            options,
            marker,
            start,
        }) = self.current.take()
        else {
            return;
        };
        let body = &lines[start..end];
        let first = body.iter().position(|l| !l.trim().is_empty());
        let last = body.iter().rposition(|l| !l.trim().is_empty());
        let range = match (first, last) {
            // The lines first..=last joined by `\n` are exactly this byte range.
            (Some(first), Some(last)) => {
                let (first, last) = (start + first, start + last);
                Some((
                    first + 1,
                    line_starts[first]..line_starts[last] + lines[last].len(),
                ))
            }
            _ => None,
        };
        let line = range.as_ref().map_or(marker + 1, |(line, _)| *line);
        match section {
            Section::Main(direction, transactional) => {
                if let Some((_, range)) = range {
                    ranges[slot(direction)] = Some(range);
                }
                let script = Script {
                    sql: String::new(),
                    line,
                    transactional,
                };
                self.scripts[slot(direction)] = Some((marker, script));
            }
            Section::Batch(direction) => {
                if let Some(options) = options {
                    let sql = range.map(|(_, r)| text[r].to_owned()).unwrap_or_default();
                    self.batches[slot(direction)] = Some(BatchParts {
                        marker,
                        options,
                        statement: Script {
                            sql,
                            line,
                            transactional: true,
                        },
                        after: None,
                    });
                }
            }
            Section::After(direction, transactional) => {
                let sql = range.map(|(_, r)| text[r].to_owned()).unwrap_or_default();
                self.after_markers[slot(direction)] = marker;
                if let Some(parts) = self.batches[slot(direction)].as_mut() {
                    parts.after = Some(Script {
                        sql,
                        line,
                        transactional,
                    });
                }
            }
        }
    }

    /// The batches, checked: a statement with both placeholders, and every other
    /// section of their direction in a transaction (the runner records progress and
    /// the revision in transactions of its own).
    fn batches(&mut self) -> Result<[Option<Batch>; 2], LineError> {
        let mut out = [None, None];
        for (i, parts) in std::mem::take(&mut self.batches).into_iter().enumerate() {
            let Some(parts) = parts else { continue };
            let statement = parts.statement;
            batch::check_statement(&statement.sql).map_err(|reason| {
                (
                    statement.line.max(parts.marker),
                    ParseErrorKind::BadBatch { reason },
                )
            })?;
            let non_transactional = self.scripts[i]
                .as_ref()
                .filter(|(_, script)| !script.transactional)
                .map(|(marker, _)| *marker)
                .or_else(|| {
                    parts
                        .after
                        .as_ref()
                        .filter(|script| !script.transactional)
                        .map(|_| self.after_markers[i])
                });
            if let Some(marker) = non_transactional {
                return Err((
                    marker,
                    ParseErrorKind::BadBatch {
                        reason: "a revision with a batch section runs its other sections in transactions; move the transaction:false work into a revision of its own".to_owned(),
                    },
                ));
            }
            out[i] = Some(Batch {
                line: parts.marker,
                statement,
                after: parts.after,
                ..parts.options
            });
        }
        Ok(out)
    }
}
