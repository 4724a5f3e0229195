//! One revision file: its id, header, upgrade/downgrade scripts and checksum.
//!
//! Parsing is strict on purpose: a revision file is deployed to production, so a typo
//! in a header key or a stray statement outside a section must stop the tool with the
//! file, the line and a fix, never be silently ignored. Nothing here touches a database.

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, SecondsFormat};
pub use retort_sum::{normalize_line_endings, Checksum};

pub mod batch;
mod parse;
pub use batch::Batch;
use parse::parse_normalized;

/// Header keys a revision file may carry, in the order `render` writes them.
pub const HEADER_KEYS: [&str; 7] = [
    "revision",
    "down_revision",
    "message",
    "created",
    "depends_on",
    "branch_labels",
    "source",
];

/// A revision id: `NNNN_hex12`, a sequence number then 12 random hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RevisionId(String);

impl std::borrow::Borrow<str> for RevisionId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl RevisionId {
    /// Checks the `NNNN_hex12` shape: at least four digits, an underscore, 12 lowercase hex.
    pub fn parse(text: &str) -> Option<RevisionId> {
        retort_sum::is_revision_id(text).then(|| RevisionId(text.to_owned()))
    }

    /// Builds an id from its parts, padding the number to four digits (wider when needed).
    pub fn new(number: u64, hex: &str) -> RevisionId {
        RevisionId(format!("{number:04}_{hex}"))
    }

    /// The id as written in headers and file names (`0018_a8cd0dc08805`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The sequence number (`0018` → 18).
    pub fn number(&self) -> u64 {
        let digits = self.0.split('_').next().unwrap_or_default();
        digits.parse().unwrap_or(u64::MAX)
    }

    /// The random part (`0018_a8cd0dc08805` → `a8cd0dc08805`).
    pub fn hex(&self) -> &str {
        self.0
            .split_once('_')
            .map(|(_, hex)| hex)
            .unwrap_or_default()
    }
}

impl fmt::Display for RevisionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which of a revision's two sections runs: its upgrade or its downgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Run the `-- migrate:upgrade` section.
    Upgrade,
    /// Run the `-- migrate:downgrade` section, undoing the upgrade.
    Downgrade,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Upgrade => "upgrade",
            Direction::Downgrade => "downgrade",
        })
    }
}

/// The SQL of one section and where it starts in the file, so errors can point at a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// The section's SQL, without its marker line and without leading and trailing
    /// blank lines; empty when the section has no SQL.
    pub sql: String,
    /// Line (1-based) of the first line of `sql` in the file.
    pub line: usize,
    /// `false` when the section marker says `transaction:false`.
    pub transactional: bool,
}

impl Script {
    /// A transactional script with no SQL (line 0), for revisions built in code.
    pub fn empty() -> Script {
        Script {
            sql: String::new(),
            line: 0,
            transactional: true,
        }
    }

    /// Whether the section holds only whitespace: running it is a no-op.
    pub fn is_empty(&self) -> bool {
        self.sql.trim().is_empty()
    }
}

/// A parsed revision file.
#[derive(Debug, Clone, PartialEq)]
pub struct Revision {
    /// From the `-- revision:` header line; the file name must begin with it.
    pub id: RevisionId,
    /// From `-- down_revision:` (comma-separated): the parents. Empty for a base
    /// revision, two or more for a merge.
    pub down_revisions: Vec<RevisionId>,
    /// From `-- message:`; empty when the key is absent.
    pub message: String,
    /// From `-- created:` (RFC 3339 with its offset); `None` when the key is absent.
    pub created: Option<DateTime<FixedOffset>>,
    /// From `-- depends_on:` (comma-separated): revisions that must be applied first
    /// without being parents; empty when absent.
    pub depends_on: Vec<RevisionId>,
    /// From `-- branch_labels:` (comma-separated; letters, digits, `_`, `-`, `.`); empty
    /// when absent.
    pub branch_labels: Vec<String>,
    /// The revision of another tool this one was imported from (`retort import`).
    pub source: Option<Source>,
    /// The `-- migrate:upgrade` section (required, may be empty).
    pub upgrade: Script,
    /// `None`: no downgrade section, the revision is irreversible.
    pub downgrade: Option<Script>,
    /// A `-- migrate:batch` section after the upgrade section: run in key-range batches
    /// once the upgrade section committed.
    pub upgrade_batch: Option<Batch>,
    /// A `-- migrate:batch` section after the downgrade section.
    pub downgrade_batch: Option<Batch>,
    /// The file the revision was read from (for embedded revisions, the embedded
    /// directory joined with the file name).
    pub path: PathBuf,
    /// Hash of the file's text (see [`Checksum::of`]), as recorded in `retort.sum`.
    pub checksum: Checksum,
    /// Line of each header key, for errors found later (missing parent, ...).
    pub header_lines: HeaderLines,
}

/// Another tool's revision a revision was imported from: the header `-- source: goose 3`.
/// `stamp --from-tool` reads the tool's version table and finds the revision by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The tool's name as `retort import` spells it (`alembic`, `flyway`, ...).
    pub tool: String,
    /// The tool's own id of the revision (`451aebb31d03`, `1.2`, `20230101120000`).
    pub id: String,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.tool, self.id)
    }
}

/// Where each header key was found (0 when absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeaderLines {
    /// Line of `-- revision:`.
    pub revision: usize,
    /// Line of `-- down_revision:`.
    pub down_revision: usize,
    /// Line of `-- depends_on:`, 0 when the key is absent.
    pub depends_on: usize,
}

impl Revision {
    /// Whether the revision has no parent (empty `down_revision`): a root of the DAG.
    pub fn is_base(&self) -> bool {
        self.down_revisions.is_empty()
    }

    /// Whether the revision merges two or more parents.
    pub fn is_merge(&self) -> bool {
        self.down_revisions.len() > 1
    }

    /// Whether the revision has a `-- migrate:downgrade` section, so it can be downgraded.
    pub fn is_reversible(&self) -> bool {
        self.downgrade.is_some()
    }

    /// The batch section of one direction, if it has one.
    pub fn batch(&self, direction: Direction) -> Option<&Batch> {
        match direction {
            Direction::Upgrade => self.upgrade_batch.as_ref(),
            Direction::Downgrade => self.downgrade_batch.as_ref(),
        }
    }
}

/// What went wrong in a revision file. Each message says what to do about it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// The file is empty or only whitespace.
    #[error("the file is empty; a revision needs a header (`-- revision: ...`) and a `-- migrate:upgrade` section (create one with `retort new-migration -m MESSAGE`)")]
    Empty,
    /// The bytes are not UTF-8 (reported on the line of the first invalid byte).
    #[error("the file is not valid UTF-8 (invalid byte at column {column}); save it as UTF-8")]
    NotUtf8 {
        /// 1-based byte column of the first invalid byte on its line.
        column: usize,
    },
    /// The file holds a NUL byte, which no SQL text may contain (PostgreSQL refuses it,
    /// and it usually means a binary file or a broken encoding).
    #[error("a NUL byte at column {column}; revision files are text: remove it (or convert the file from UTF-16)")]
    NulByte {
        /// 1-based byte column of the NUL on its line.
        column: usize,
    },
    /// Lines that are neither blank nor header lines come before the header.
    #[error("text before the header; the file must begin with the `-- revision: ...` header lines (move this line into a `-- migrate:` section or delete it)")]
    TextBeforeHeader,
    /// No `-- key: value` header at the top of the file.
    #[error("no header: the file must begin with `-- revision: <id>` and `-- down_revision: <ids>` lines")]
    NoHeader,
    /// A header key not in [`HEADER_KEYS`].
    #[error("unknown header key `{key}`{suggestion}")]
    UnknownKey {
        /// The key as written.
        key: String,
        /// `; did you mean ...` or the list of known keys, appended to the message.
        suggestion: String,
    },
    /// A header key set twice.
    #[error("duplicate header key `{key}` (first set on line {first}); keep one")]
    DuplicateKey {
        /// The repeated key.
        key: String,
        /// Line where the key was first set.
        first: usize,
    },
    /// A required header key (`revision` or `down_revision`) is absent.
    #[error("missing required header key `{key}`; add a line `-- {key}: {hint}`")]
    MissingKey {
        /// The missing key.
        key: &'static str,
        /// What to write after the key, e.g. `<id>`.
        hint: &'static str,
    },
    /// A value that is not shaped like a revision id (`NNNN_hex12`).
    #[error("`{value}` is not a revision id; ids look like `0018_a8cd0dc08805` (4+ digits, `_`, 12 lowercase hex digits)")]
    BadId {
        /// The offending value as written.
        value: String,
    },
    /// The same id listed twice in `down_revision` or `depends_on`.
    #[error("`{value}` is listed twice in `{key}`; list each revision once")]
    RepeatedId {
        /// The header key holding the list.
        key: &'static str,
        /// The repeated id.
        value: String,
    },
    /// The file name does not begin with the id of the `revision:` line.
    #[error("the file name must begin with the revision id `{id}` (e.g. `{id}_slug.sql`); rename the file or fix the `revision:` line")]
    IdMismatch {
        /// The id from the `revision:` line.
        id: String,
    },
    /// `created:` is not an RFC 3339 timestamp.
    #[error("`created: {value}` is not an RFC 3339 timestamp ({reason}); write e.g. `2026-11-22T10:00:00+00:00`")]
    BadCreated {
        /// The value as written.
        value: String,
        /// chrono's parse error.
        reason: String,
    },
    /// A branch label with characters other than letters, digits, `_`, `-` and `.`.
    #[error("`{value}` is not a valid branch label; use letters, digits, `_`, `-` and `.`")]
    BadBranchLabel {
        /// The offending label.
        value: String,
    },
    /// `source:` is not exactly two words, `TOOL ID`.
    #[error("`{value}` is not a source; write `-- source: TOOL ID` (the tool and its own revision id, e.g. `alembic 451aebb31d03`), as `retort import` does")]
    BadSource {
        /// The value as written.
        value: String,
    },
    /// A second `-- migrate:upgrade` or `-- migrate:downgrade` marker.
    #[error(
        "second `-- migrate:{section}` section (the first is on line {first}); merge them into one"
    )]
    DuplicateSection {
        /// `upgrade` or `downgrade`.
        section: &'static str,
        /// Line of the first marker of that section.
        first: usize,
    },
    /// A `-- migrate:NAME` marker other than `upgrade` and `downgrade`.
    #[error("unknown section marker `-- migrate:{name}`{suggestion}")]
    UnknownSection {
        /// The section name as written.
        name: String,
        /// `; did you mean ...` or the list of known sections, appended to the message.
        suggestion: String,
    },
    /// Text after a section marker other than `transaction:false` (or `transaction:true`).
    #[error("unknown section option `{option}`; the only option is `transaction:false`")]
    UnknownSectionOption {
        /// The options text as written.
        option: String,
    },
    /// A `-- migrate:batch` section that is not well formed: its options, its place, or
    /// its statement.
    #[error("batch section: {reason}")]
    BadBatch {
        /// What is wrong, and what to write.
        reason: String,
    },
    /// A non-comment line between the header and the first section marker.
    #[error("SQL outside a section; put it below `-- migrate:upgrade` or `-- migrate:downgrade`")]
    SqlOutsideSection,
    /// The file has no `-- migrate:upgrade` section.
    #[error("no `-- migrate:upgrade` section; add one (it may be empty)")]
    MissingUpgrade,
}

impl ParseErrorKind {
    /// A stable name for the error, used by `--json` output and the fixture tests.
    pub fn code(&self) -> &'static str {
        match self {
            ParseErrorKind::Empty => "empty-file",
            ParseErrorKind::NotUtf8 { .. } => "not-utf8",
            ParseErrorKind::NulByte { .. } => "nul-byte",
            ParseErrorKind::TextBeforeHeader => "text-before-header",
            ParseErrorKind::NoHeader => "no-header",
            ParseErrorKind::UnknownKey { .. } => "unknown-key",
            ParseErrorKind::DuplicateKey { .. } => "duplicate-key",
            ParseErrorKind::MissingKey { .. } => "missing-key",
            ParseErrorKind::BadId { .. } => "bad-id",
            ParseErrorKind::RepeatedId { .. } => "repeated-id",
            ParseErrorKind::IdMismatch { .. } => "id-mismatch",
            ParseErrorKind::BadCreated { .. } => "bad-created",
            ParseErrorKind::BadBranchLabel { .. } => "bad-branch-label",
            ParseErrorKind::BadSource { .. } => "bad-source",
            ParseErrorKind::DuplicateSection { .. } => "duplicate-section",
            ParseErrorKind::UnknownSection { .. } => "unknown-section",
            ParseErrorKind::UnknownSectionOption { .. } => "unknown-section-option",
            ParseErrorKind::BadBatch { .. } => "bad-batch",
            ParseErrorKind::SqlOutsideSection => "sql-outside-section",
            ParseErrorKind::MissingUpgrade => "missing-upgrade",
        }
    }
}

/// Why a revision file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RevisionError {
    /// The file was read but is not a valid revision.
    #[error("{}:{line}: {kind}", path.display())]
    Parse {
        /// The revision file.
        path: PathBuf,
        /// 1-based line the error is about.
        line: usize,
        /// What is wrong, with the fix in its message.
        kind: ParseErrorKind,
    },
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The revision file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Reads and parses one revision file.
pub fn read(path: &Path) -> Result<Revision, RevisionError> {
    let bytes = std::fs::read(path).map_err(|source| RevisionError::Read {
        path: path.to_owned(),
        source,
    })?;
    // The file's buffer becomes the larger section's text: a revision of millions of
    // statements is held once, not once as the file and again as its section.
    match String::from_utf8(bytes) {
        Ok(text) => parse_owned(path, text),
        Err(e) => parse_bytes(path, e.as_bytes()),
    }
}

/// Parses a revision from raw bytes; `path` is used for the file-name check and errors.
pub fn parse_bytes(path: &Path, bytes: &[u8]) -> Result<Revision, RevisionError> {
    let fail = |line: usize, kind: ParseErrorKind| RevisionError::Parse {
        path: path.to_owned(),
        line,
        kind,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let good = &bytes[..e.valid_up_to()];
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        fail(
            line,
            ParseErrorKind::NotUtf8 {
                column: good.len() - line_start + 1,
            },
        )
    })?;
    check_text(path, text)?;
    let normalized = normalize_line_endings(text);
    let (mut revision, sections) =
        parse_normalized(path, &normalized).map_err(|(line, kind)| fail(line, kind))?;
    fill_sections(&mut revision, sections, |range| {
        normalized[range].to_owned()
    });
    Ok(revision)
}

/// Parses a revision whose text is owned: the larger section takes over the buffer.
fn parse_owned(path: &Path, text: String) -> Result<Revision, RevisionError> {
    check_text(path, &text)?;
    let text = match normalize_line_endings(&text) {
        // Borrowed: unchanged, or only a leading byte-order mark dropped.
        std::borrow::Cow::Borrowed(same) => {
            let dropped = text.len() - same.len();
            let mut text = text;
            text.drain(..dropped);
            text
        }
        std::borrow::Cow::Owned(normalized) => normalized,
    };
    let (mut revision, sections) =
        parse_normalized(path, &text).map_err(|(line, kind)| RevisionError::Parse {
            path: path.to_owned(),
            line,
            kind,
        })?;
    let larger = sections
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.as_ref().map(|r| (r.len(), i)))
        .max()
        .map(|(_, i)| i);
    let mut smaller = |range: std::ops::Range<usize>| text[range].to_owned();
    let mut scripts: [Option<String>; 2] = [None, None];
    for (i, range) in sections.iter().enumerate() {
        if Some(i) != larger {
            scripts[i] = range.clone().map(&mut smaller);
        }
    }
    if let Some(i) = larger {
        if let Some(range) = sections[i].clone() {
            let mut buffer = text;
            buffer.truncate(range.end);
            buffer.drain(..range.start);
            scripts[i] = Some(buffer);
        }
    }
    let [upgrade, downgrade] = scripts;
    if let Some(sql) = upgrade {
        revision.upgrade.sql = sql;
    }
    if let (Some(script), Some(sql)) = (revision.downgrade.as_mut(), downgrade) {
        script.sql = sql;
    }
    Ok(revision)
}

/// Sets the sections' text from their byte ranges in the normalized file text.
fn fill_sections(
    revision: &mut Revision,
    sections: [Option<std::ops::Range<usize>>; 2],
    mut text_of: impl FnMut(std::ops::Range<usize>) -> String,
) {
    let [upgrade, downgrade] = sections;
    if let Some(range) = upgrade {
        revision.upgrade.sql = text_of(range);
    }
    if let (Some(script), Some(range)) = (revision.downgrade.as_mut(), downgrade) {
        script.sql = text_of(range);
    }
}

/// Refuses text no revision can hold (a NUL byte), naming its line and column.
fn check_text(path: &Path, text: &str) -> Result<(), RevisionError> {
    let fail = |line: usize, kind: ParseErrorKind| RevisionError::Parse {
        path: path.to_owned(),
        line,
        kind,
    };
    if let Some(at) = text.find('\0') {
        let line = text[..at].matches('\n').count() + 1;
        let line_start = text[..at].rfind('\n').map_or(0, |p| p + 1);
        return Err(fail(
            line,
            ParseErrorKind::NulByte {
                column: at - line_start + 1,
            },
        ));
    }
    Ok(())
}

fn join_ids(ids: &[RevisionId]) -> String {
    ids.iter()
        .map(RevisionId::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes a revision in the canonical file format; `parse_bytes(render(r))` gives `r` back.
pub fn render(revision: &Revision) -> String {
    let mut out = String::new();
    out.push_str(&format!("-- revision: {}\n", revision.id));
    out.push_str(&format!(
        "-- down_revision: {}\n",
        join_ids(&revision.down_revisions)
    ));
    out.push_str(&format!("-- message: {}\n", revision.message));
    if let Some(created) = revision.created {
        out.push_str(&format!(
            "-- created: {}\n",
            created.to_rfc3339_opts(SecondsFormat::AutoSi, false)
        ));
    }
    if !revision.depends_on.is_empty() {
        out.push_str(&format!(
            "-- depends_on: {}\n",
            join_ids(&revision.depends_on)
        ));
    }
    if !revision.branch_labels.is_empty() {
        out.push_str(&format!(
            "-- branch_labels: {}\n",
            revision.branch_labels.join(", ")
        ));
    }
    if let Some(source) = &revision.source {
        out.push_str(&format!("-- source: {source}\n"));
    }
    let section = |out: &mut String, name: &str, script: &Script| {
        out.push_str("\n-- migrate:");
        out.push_str(name);
        if !script.transactional {
            out.push_str(" transaction:false");
        }
        out.push('\n');
        if !script.sql.is_empty() {
            out.push_str(&script.sql);
            out.push('\n');
        }
    };
    let batch = |out: &mut String, name: &str, batch: &Batch| {
        out.push_str("\n-- migrate:batch ");
        out.push_str(&batch.options());
        out.push('\n');
        out.push_str(&batch.statement.sql);
        out.push('\n');
        if let Some(after) = &batch.after {
            out.push_str("\n-- migrate:");
            out.push_str(name);
            out.push('\n');
            if !after.sql.is_empty() {
                out.push_str(&after.sql);
                out.push('\n');
            }
        }
    };
    section(&mut out, "upgrade", &revision.upgrade);
    if let Some(b) = &revision.upgrade_batch {
        batch(&mut out, "upgrade", b);
    }
    if let Some(downgrade) = &revision.downgrade {
        section(&mut out, "downgrade", downgrade);
        if let Some(b) = &revision.downgrade_batch {
            batch(&mut out, "downgrade", b);
        }
    }
    out
}

/// Turns a message into a file-name slug: `Add user e-mail!` → `add_user_e_mail`.
pub fn slugify(message: &str) -> String {
    let mut slug = String::new();
    for c in message.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('_') {
            slug.push('_');
        }
        if slug.len() >= 48 {
            break;
        }
    }
    let slug = slug.trim_end_matches('_');
    if slug.is_empty() {
        "revision".to_owned()
    } else {
        slug.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "-- revision: 0018_a8cd0dc08805\n-- down_revision: 0017_5f1c2b3d4e6a\n-- message: add user email\n-- created: 2026-11-22T10:00:00+00:00\n\n-- migrate:upgrade\nALTER TABLE users ADD COLUMN email text;\n\n-- migrate:downgrade\nALTER TABLE users DROP COLUMN email;\n";

    fn parse(name: &str, text: &str) -> Result<Revision, RevisionError> {
        parse_bytes(Path::new(name), text.as_bytes())
    }

    fn kind(name: &str, text: &str) -> (usize, ParseErrorKind) {
        match parse(name, text) {
            Err(RevisionError::Parse { line, kind, .. }) => (line, kind),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    const NAME: &str = "versions/0018_a8cd0dc08805_add_user_email.sql";

    /// `read` hands the file's buffer to the larger section; parsing borrowed bytes copies
    /// both. Both must give the same revision, whichever section is larger.
    #[test]
    fn reading_a_file_and_parsing_its_bytes_agree() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("0018_a8cd0dc08805_x.sql");
        let big_down = GOOD.replace(
            "ALTER TABLE users DROP COLUMN email;",
            &"SELECT 'a much longer downgrade';\n".repeat(20),
        );
        let only_up = GOOD
            .split("\n-- migrate:downgrade")
            .next()
            .expect("head")
            .to_owned();
        let empty_up = GOOD.replace("ALTER TABLE users ADD COLUMN email text;", "");
        let cases = [
            GOOD.to_owned(),
            GOOD.replace('\n', "\r\n"),
            format!("\u{feff}{GOOD}"),
            big_down,
            only_up,
            empty_up,
            "not a revision".to_owned(),
        ];
        for text in cases {
            std::fs::write(&path, &text).expect("write");
            let owned = read(&path);
            let borrowed = parse_bytes(&path, text.as_bytes());
            assert_eq!(format!("{owned:?}"), format!("{borrowed:?}"), "{text}");
        }
    }

    #[test]
    fn a_byte_order_mark_is_ignored_like_line_endings() {
        let with_bom = format!("\u{feff}{}", GOOD.replace('\n', "\r\n"));
        let plain = parse("0018_a8cd0dc08805_x.sql", GOOD).expect("plain");
        let bom = parse("0018_a8cd0dc08805_x.sql", &with_bom).expect("BOM and CRLF");
        assert_eq!(bom.upgrade.sql, plain.upgrade.sql);
        assert_eq!(bom.checksum, plain.checksum, "an editor's BOM is no edit");
    }

    #[test]
    fn section_markers_inside_literals_and_bodies_are_content() {
        let text = "-- revision: 0001_aaaaaaaaaaaa\n-- down_revision:\n\n-- migrate:upgrade\n\
                    INSERT INTO notes VALUES ('a\n-- migrate:downgrade\nb;');\n\
                    CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $body$\n\
                    -- migrate:downgrade transaction:false\nSELECT 'x' $body$;\n\
                    /* a comment\n-- migrate:upgrade\n*/\n\
                    SELECT \"odd\n-- migrate:downgrade\" FROM t;\n\n\
                    -- migrate:downgrade\nDROP TABLE notes;\n";
        let r = parse("0001_aaaaaaaaaaaa_x.sql", text).expect("parses");
        assert_eq!(
            r.upgrade.sql.matches("-- migrate:").count(),
            4,
            "{}",
            r.upgrade.sql
        );
        assert!(r.upgrade.transactional);
        let down = r.downgrade.expect("a downgrade");
        assert_eq!(down.sql, "DROP TABLE notes;");
        assert_eq!(down.line, 18);
    }

    #[test]
    fn parses_the_design_example() {
        let r = parse(NAME, GOOD).expect("parses");
        assert_eq!(r.id.as_str(), "0018_a8cd0dc08805");
        assert_eq!(r.id.number(), 18);
        assert_eq!(r.id.hex(), "a8cd0dc08805");
        assert_eq!(r.down_revisions[0].as_str(), "0017_5f1c2b3d4e6a");
        assert_eq!(r.message, "add user email");
        assert_eq!(r.upgrade.sql, "ALTER TABLE users ADD COLUMN email text;");
        assert_eq!(r.upgrade.line, 7);
        let down = r.downgrade.as_ref().expect("downgrade");
        assert_eq!(down.sql, "ALTER TABLE users DROP COLUMN email;");
        assert_eq!(down.line, 10);
        assert!(r.upgrade.transactional);
    }

    #[test]
    fn render_round_trips_and_is_byte_identical_for_canonical_files() {
        let r = parse(NAME, GOOD).expect("parses");
        assert_eq!(render(&r), GOOD);
        let again = parse(NAME, &render(&r)).expect("reparses");
        assert_eq!(again, r);
    }

    #[test]
    fn crlf_has_the_same_checksum() {
        let a = parse(NAME, GOOD).expect("lf");
        let b = parse(NAME, &GOOD.replace('\n', "\r\n")).expect("crlf");
        assert_eq!(a.checksum, b.checksum);
        assert_eq!(a.upgrade, b.upgrade);
        let spaced = GOOD.replace("\n", "  \t\n") + "\n\n";
        let c = parse(NAME, &spaced).expect("trailing whitespace");
        assert_eq!(a.checksum, c.checksum, "trailing whitespace is not an edit");
        let edited = parse(NAME, &GOOD.replace("ADD COLUMN", "ADD  COLUMN")).expect("edited");
        assert_ne!(a.checksum, edited.checksum, "inner whitespace is an edit");
        let text = a.checksum.to_string();
        assert!(text.starts_with("sha256:") && text.len() == 71);
        assert_eq!(Checksum::parse(&text), Some(a.checksum));
    }

    #[test]
    fn missing_downgrade_is_irreversible_and_empty_downgrade_is_not() {
        let irreversible = GOOD.split("\n-- migrate:downgrade").next().expect("head");
        let r = parse(NAME, irreversible).expect("parses");
        assert!(!r.is_reversible());
        let empty = GOOD.replace("ALTER TABLE users DROP COLUMN email;\n", "");
        let r = parse(NAME, &empty).expect("parses");
        assert!(r.downgrade.expect("section").is_empty());
    }

    #[test]
    fn transaction_false_is_read() {
        let text = GOOD.replace(
            "-- migrate:upgrade\n",
            "-- migrate:upgrade transaction:false\n",
        );
        let r = parse(NAME, &text).expect("parses");
        assert!(!r.upgrade.transactional);
        assert_eq!(render(&r), text);
    }

    #[test]
    fn a_source_header_is_read_and_written_back() {
        let text = GOOD.replace(
            "-- created: 2026-11-22T10:00:00+00:00\n",
            "-- created: 2026-11-22T10:00:00+00:00\n-- source: alembic 451aebb31d03\n",
        );
        let r = parse(NAME, &text).expect("parses");
        let source = r.source.clone().expect("source");
        assert_eq!(
            (source.tool.as_str(), source.id.as_str()),
            ("alembic", "451aebb31d03")
        );
        assert_eq!(render(&r), text);
        assert!(parse(NAME, GOOD).expect("parses").source.is_none());
    }

    #[test]
    fn a_source_needs_a_tool_and_one_id() {
        for bad in ["alembic", "alembic a b", ""] {
            let text = GOOD.replace(
                "-- created: 2026-11-22T10:00:00+00:00\n",
                &format!("-- created: 2026-11-22T10:00:00+00:00\n-- source: {bad}\n"),
            );
            let (line, kind) = kind(NAME, &text);
            assert_eq!((line, kind.code()), (5, "bad-source"), "{bad:?}");
        }
    }

    #[test]
    fn unknown_key_suggests_the_nearest() {
        let text = GOOD.replace("-- down_revision:", "-- down_revison:");
        let (line, kind) = kind(NAME, &text);
        assert_eq!(line, 2);
        assert_eq!(kind.code(), "unknown-key");
        assert!(kind.to_string().contains("did you mean `down_revision`"));
    }

    #[test]
    fn errors_point_at_the_line() {
        let text = GOOD.replace(
            "-- message: add user email\n",
            "-- message: a\n-- message: b\n",
        );
        assert_eq!(
            kind(NAME, &text),
            (
                4,
                ParseErrorKind::DuplicateKey {
                    key: "message".into(),
                    first: 3
                }
            )
        );
        let (line, k) = kind(NAME, &format!("{GOOD}\n-- migrate:upgrade\nSELECT 1;\n"));
        assert_eq!((line, k.code()), (12, "duplicate-section"));
        let (line, k) = kind("versions/0019_a8cd0dc08805_x.sql", GOOD);
        assert_eq!((line, k.code()), (1, "id-mismatch"));
        let (line, k) = kind(NAME, &format!("SELECT 1;\n{GOOD}"));
        assert_eq!((line, k.code()), (1, "text-before-header"));
    }

    #[test]
    fn non_utf8_names_line_and_column() {
        let mut bytes = GOOD.as_bytes().to_vec();
        bytes.splice(3..3, [0xff]);
        match parse_bytes(Path::new(NAME), &bytes) {
            Err(RevisionError::Parse { line, kind, .. }) => {
                assert_eq!(line, 1);
                assert_eq!(kind, ParseErrorKind::NotUtf8 { column: 4 });
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn ids_are_checked() {
        assert!(RevisionId::parse("0001_a8cd0dc08805").is_some());
        assert!(RevisionId::parse("10000_a8cd0dc08805").is_some());
        assert!(RevisionId::parse("001_a8cd0dc08805").is_none());
        assert!(RevisionId::parse("0001_A8CD0DC08805").is_none());
        assert!(RevisionId::parse("0001_a8cd0dc0880").is_none());
        assert_eq!(
            RevisionId::new(7, "a8cd0dc08805").as_str(),
            "0007_a8cd0dc08805"
        );
        assert_eq!(RevisionId::new(12345, "a8cd0dc08805").number(), 12345);
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("Add user e-mail!"), "add_user_e_mail");
        assert_eq!(slugify("  ***  "), "revision");
        assert_eq!(slugify("Ünïcode näme"), "n_code_n_me");
        assert!(slugify(&"x".repeat(200)).len() <= 48);
    }

    const BATCHED: &str = "-- revision: 0018_a8cd0dc08805\n-- down_revision: 0017_5f1c2b3d4e6a\n-- message: add user email\n-- created: 2026-11-22T10:00:00+00:00\n\n-- migrate:upgrade\nALTER TABLE app.users ADD COLUMN email text;\n\n-- migrate:batch table=app.users key=id size=1000 sleep=50ms\nUPDATE app.users SET email = name || '@x' WHERE id >= :lo AND id < :hi;\n\n-- migrate:upgrade\nALTER TABLE app.users ALTER COLUMN email SET NOT NULL;\n\n-- migrate:downgrade\nALTER TABLE app.users DROP COLUMN email;\n";

    #[test]
    fn a_batch_section_and_the_section_after_it_parse_and_render_back() {
        let r = parse(NAME, BATCHED).expect("parses");
        let batch = r.upgrade_batch.as_ref().expect("a batch");
        assert_eq!(batch.table, ["app", "users"]);
        assert_eq!(
            (batch.key_name().as_str(), batch.size, batch.sleep_ms),
            ("id", 1000, 50)
        );
        assert_eq!(batch.line, 9);
        assert_eq!(batch.statement.line, 10);
        assert!(batch.statement.sql.contains(":lo AND id < :hi"));
        let after = batch.after.as_ref().expect("the section after");
        assert_eq!(after.line, 13);
        assert_eq!(
            after.sql,
            "ALTER TABLE app.users ALTER COLUMN email SET NOT NULL;"
        );
        assert_eq!(
            r.upgrade.sql,
            "ALTER TABLE app.users ADD COLUMN email text;"
        );
        assert!(r.downgrade_batch.is_none());
        assert_eq!(r.downgrade.as_ref().expect("down").line, 16);
        assert_eq!(render(&r), BATCHED);
        assert_eq!(parse(NAME, &render(&r)).expect("reparses"), r);
    }

    #[test]
    fn misplaced_or_malformed_batch_sections_are_named() {
        let header = "-- revision: 0018_a8cd0dc08805\n-- down_revision:\n\n";
        let batch = "-- migrate:batch table=t key=id size=10\nUPDATE t SET c = 1 WHERE id >= :lo AND id < :hi;\n";
        for (body, line, code, wanted) in [
            (batch.to_string(), 4, "bad-batch", "comes after"),
            (format!("-- migrate:upgrade\n{batch}{batch}"), 7, "duplicate-section", "batch"),
            (format!("-- migrate:upgrade\n{batch}-- migrate:upgrade\nSELECT 1;\n-- migrate:upgrade\n"), 9, "duplicate-section", "upgrade"),
            (format!("-- migrate:upgrade\n{batch}-- migrate:upgrade transaction:false\nSELECT 1;\n"), 7, "bad-batch", "transactions"),
            (format!("-- migrate:upgrade transaction:false\nSELECT 1;\n{batch}"), 4, "bad-batch", "transactions"),
            ("-- migrate:upgrade\n-- migrate:batch table=t key=id size=10\nUPDATE t SET c = 1 WHERE id >= :lo;\n".to_owned(), 6, "bad-batch", ":hi"),
            ("-- migrate:upgrade\n-- migrate:batch table=t size=10\nSELECT 1;\n".to_owned(), 5, "bad-batch", "missing key="),
            ("-- migrate:upgrade\n-- migrate:batches\n".to_owned(), 5, "unknown-section", "did you mean `batch`"),
        ] {
            let (got_line, kind) = kind(NAME, &format!("{header}{body}"));
            assert_eq!((got_line, kind.code()), (line, code), "{body}: {kind}");
            assert!(kind.to_string().contains(wanted), "{body}: {kind}");
        }
    }
}
