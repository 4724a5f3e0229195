//! Histories of the tools that keep migrations as plain SQL files: Flyway, dbmate,
//! golang-migrate, goose and sqlx.
//!
//! Each parser takes the directory's files (already read, see [`super::read_dir`]) and
//! rebuilds the history the tool itself would run: which files are migrations, in which
//! order, with which SQL in each direction and whether the tool wraps it in a
//! transaction. Nothing here touches the disk or a database, so every rule can be tested
//! on strings, and none of it may panic: the files are whatever a user's repository holds.
//!
//! These tools all run their migrations in one straight line, so every history is a
//! chain ordered by version. Whatever does not convert faithfully (Flyway placeholders,
//! goose's Go migrations, repeatable migrations...) becomes a [`Note`]; a blocking one
//! when the imported SQL would not do what the tool did.

use std::collections::BTreeMap;
use std::path::Path;

pub(super) use super::version::{is_digits, strip_zeros, VersionKey as Key};
use super::{ForeignHistory, ForeignRevision, ForeignScript, ImportError, Note, SourceFile, Tool};
use crate::sql::split::{line_column, split};
use transaction::{
    as_strs, is_transaction_control, needs_no_transaction, strip_transaction_wrapper, words,
    wrapper,
};

mod dbmate;
mod flyway;
mod golang_migrate;
mod goose;
mod sqlx;
mod transaction;

pub use dbmate::dbmate;
pub use flyway::flyway;
pub use golang_migrate::golang_migrate;
pub use goose::goose;
pub use sqlx::sqlx;

/// Reads `files` as `tool`'s migration directory `dir`; `None` for Alembic, whose
/// history is Python and is read by [`super::alembic`].
pub fn read(
    tool: Tool,
    dir: &Path,
    files: &[SourceFile],
) -> Option<Result<ForeignHistory, ImportError>> {
    let parse: fn(&Path, &[SourceFile]) -> Result<ForeignHistory, ImportError> = match tool {
        Tool::Alembic => return None,
        Tool::Flyway => flyway,
        Tool::Dbmate => dbmate,
        Tool::GolangMigrate => golang_migrate,
        Tool::Goose => goose,
        Tool::Sqlx => sqlx,
    };
    Some(parse(dir, files))
}

// ---------------------------------------------------------------------------------------
// Shared pieces

fn leading_digits(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text.split_at_checked(end).unwrap_or((text, ""))
}

fn base_name(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// dbmate, golang-migrate, goose and sqlx read only the directory itself.
fn is_top_level(name: &str) -> bool {
    !name.contains('/')
}

/// A versioned file found by a parser, before its SQL is read.
struct Found<'a> {
    id: String,
    file: &'a SourceFile,
    description: &'a str,
}

/// The up and down files of one version; for sqlx a simple migration sits in `up`.
struct Pair<'a> {
    id: String,
    up: Option<(&'a SourceFile, &'a str)>,
    down: Option<(&'a SourceFile, &'a str)>,
}

/// The `origin` of a revision read from an up file and maybe a down file.
fn pair_origin(up: &SourceFile, down: Option<&SourceFile>) -> String {
    match down {
        Some(down) => format!("{}, {}", up.name, down.name),
        None => up.name.clone(),
    }
}

fn insert_unique<'a>(
    tool: Tool,
    map: &mut BTreeMap<Key, Found<'a>>,
    key: Key,
    found: Found<'a>,
) -> Result<(), ImportError> {
    if let Some(first) = map.get(&key) {
        return Err(duplicate(
            tool,
            &first.id,
            &first.file.name,
            &found.file.name,
        ));
    }
    map.insert(key, found);
    Ok(())
}

/// A revision before the chain links it.
struct Draft {
    id: String,
    message: String,
    origin: String,
    upgrade: ForeignScript,
    downgrade: Option<ForeignScript>,
}

/// Chains the revisions in version order.
fn finish(
    tool: Tool,
    dir: &Path,
    drafts: BTreeMap<Key, Draft>,
    notes: Vec<Note>,
) -> Result<ForeignHistory, ImportError> {
    if drafts.is_empty() {
        return Err(ImportError::Empty {
            tool,
            dir: dir.to_owned(),
            hint: hint(tool),
        });
    }
    let mut revisions: Vec<ForeignRevision> = Vec::with_capacity(drafts.len());
    for draft in drafts.into_values() {
        let parents = revisions.last().map(|r| r.id.clone()).into_iter().collect();
        revisions.push(ForeignRevision {
            id: draft.id,
            parents,
            depends_on: Vec::new(),
            branch_labels: Vec::new(),
            message: draft.message,
            upgrade: draft.upgrade,
            downgrade: draft.downgrade,
            origin: draft.origin,
        });
    }
    Ok(ForeignHistory {
        tool,
        revisions,
        notes,
    })
}

fn hint(tool: Tool) -> &'static str {
    match tool {
        Tool::Flyway => {
            "Flyway migrations are named V<version>__<description>.sql (subdirectories are searched too)"
        }
        Tool::Dbmate => {
            "dbmate migrations are named <version>_<name>.sql and sit directly in the directory"
        }
        Tool::GolangMigrate => {
            "golang-migrate migrations are named <version>_<title>.up.sql (with a .down.sql) and sit directly in the directory"
        }
        Tool::Goose => {
            "goose migrations are named <version>_<name>.sql (or .go) and sit directly in the directory"
        }
        Tool::Sqlx => {
            "sqlx migrations are named <version>_<description>.sql (or .up.sql and .down.sql) and sit directly in the directory"
        }
        Tool::Alembic => "Alembic revisions are Python files under versions/",
    }
}

fn message(tool: Tool, id: &str, description: &str) -> String {
    let spaced = description.replace('_', " ");
    let trimmed = spaced.trim();
    if trimmed.is_empty() {
        format!("{tool} {id}")
    } else {
        trimmed.to_owned()
    }
}

fn note(origin: &str, line: Option<usize>, message: impl Into<String>, blocking: bool) -> Note {
    Note {
        origin: origin.to_owned(),
        line,
        message: message.into(),
        blocking,
    }
}

fn stray(tool: Tool, file: &SourceFile, expected: &str) -> Note {
    note(
        &file.name,
        None,
        format!("not a {tool} migration file name (expected {expected}); not imported"),
        false,
    )
}

fn orphan_down(tool: Tool, file: &SourceFile, id: &str) -> Note {
    note(
        &file.name,
        None,
        format!("down migration without an up migration of version {id}; {tool} ignores it; not imported"),
        false,
    )
}

fn duplicate(tool: Tool, version: &str, first: &str, second: &str) -> ImportError {
    ImportError::DuplicateVersion {
        tool,
        version: version.to_owned(),
        first: first.to_owned(),
        second: second.to_owned(),
    }
}

fn malformed(file: &SourceFile, line: usize, message: &str) -> ImportError {
    ImportError::Malformed {
        file: file.name.clone(),
        line,
        message: message.to_owned(),
    }
}

/// Lines with their 1-based numbers, each with its line break.
fn numbered(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split_inclusive('\n')
        .enumerate()
        .map(|(i, line)| (i + 1, line))
}

/// `text` without its leading blank lines and trailing whitespace.
fn trim_blank(text: &str) -> &str {
    let start: usize = text
        .split_inclusive('\n')
        .take_while(|line| line.trim().is_empty())
        .map(str::len)
        .sum();
    text.get(start..).unwrap_or_default().trim_end()
}

/// The lines of one direction's script, each with its line number in the file, so that
/// a note about a statement can point into the file even after annotations are dropped.
#[derive(Default)]
struct Section<'a> {
    lines: Vec<(usize, &'a str)>,
}

impl<'a> Section<'a> {
    fn whole(text: &'a str) -> Self {
        Section {
            lines: numbered(text).collect(),
        }
    }

    fn push(&mut self, number: usize, line: &'a str) {
        self.lines.push((number, line));
    }

    /// The text without surrounding blank lines, and the file line of each of its lines.
    fn trimmed(&self) -> (String, Vec<usize>) {
        let is_text = |(_, line): &&(usize, &str)| !line.trim().is_empty();
        let start = self
            .lines
            .iter()
            .position(|l| is_text(&l))
            .unwrap_or(self.lines.len());
        let end = self
            .lines
            .iter()
            .rposition(|l| is_text(&l))
            .map_or(start, |i| i + 1);
        let kept = self.lines.get(start..end).unwrap_or_default();
        let text: String = kept.iter().map(|(_, line)| *line).collect();
        (
            text.trim_end().to_owned(),
            kept.iter().map(|(number, _)| *number).collect(),
        )
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Up,
    Down,
}

/// The script of one direction: surrounding blank lines trimmed, a transaction wrapper
/// dropped, and `transactional` unless the tool ran it outside one (`in_transaction`
/// false) or PostgreSQL would refuse it inside one.
fn script(
    origin: &str,
    section: &Section<'_>,
    in_transaction: bool,
    notes: &mut Vec<Note>,
) -> ForeignScript {
    let (text, lines) = section.trimmed();
    let statements = split(&text);
    let wrapped = wrapper(&text, &statements).is_some();
    let last = statements.len().saturating_sub(1);
    let control = statements.iter().enumerate().find(|(i, statement)| {
        let is_wrapper = wrapped && (*i == 0 || *i == last);
        !is_wrapper && is_transaction_control(&as_strs(&words(statement.sql)))
    });
    if let Some((_, statement)) = control {
        let (line, _) = line_column(&text, statement.offset);
        notes.push(note(
            origin,
            line.checked_sub(1).and_then(|i| lines.get(i)).copied(),
            "explicit transaction control inside the script; imported as transaction:false, \
             review it",
            false,
        ));
        return ForeignScript {
            sql: text,
            transactional: false,
        };
    }
    let (sql, wrapped) = strip_transaction_wrapper(&text);
    // A script that opened its own transaction ran in one whatever the tool did.
    let transactional = (wrapped || in_transaction) && !needs_no_transaction(&sql);
    ForeignScript { sql, transactional }
}

/// Helpers the tests of every parser share.
#[cfg(test)]
mod test_support {
    use super::*;

    pub(super) fn file(name: &str, text: &str) -> SourceFile {
        SourceFile {
            name: name.to_owned(),
            text: text.to_owned(),
        }
    }

    /// Files as `read_dir` hands them over: sorted by name.
    pub(super) fn files(list: &[(&str, &str)]) -> Vec<SourceFile> {
        let mut files: Vec<SourceFile> = list.iter().map(|(n, t)| file(n, t)).collect();
        files.sort_by(|a, b| a.name.cmp(&b.name));
        files
    }

    pub(super) fn dir() -> &'static Path {
        Path::new("migrations")
    }

    pub(super) fn parse(tool: Tool, list: &[(&str, &str)]) -> ForeignHistory {
        match read(tool, dir(), &files(list)) {
            Some(Ok(history)) => history,
            Some(Err(e)) => panic!("{tool}: {e}"),
            None => panic!("{tool}: not a SQL-file tool"),
        }
    }

    pub(super) fn parse_err(tool: Tool, list: &[(&str, &str)]) -> ImportError {
        match read(tool, dir(), &files(list)) {
            Some(Ok(history)) => panic!("{tool}: expected an error, got {history:?}"),
            Some(Err(e)) => e,
            None => panic!("{tool}: not a SQL-file tool"),
        }
    }

    pub(super) fn ids(history: &ForeignHistory) -> Vec<&str> {
        history.revisions.iter().map(|r| r.id.as_str()).collect()
    }

    /// Each revision's parent is the one before it.
    pub(super) fn assert_chain(history: &ForeignHistory) {
        let mut previous: Option<&str> = None;
        for revision in &history.revisions {
            let expected: Vec<String> = previous.map(str::to_owned).into_iter().collect();
            assert_eq!(revision.parents, expected, "{}", revision.id);
            assert!(revision.depends_on.is_empty());
            assert!(revision.branch_labels.is_empty());
            previous = Some(&revision.id);
        }
    }

    pub(super) fn revision<'h>(history: &'h ForeignHistory, id: &str) -> &'h ForeignRevision {
        history
            .revisions
            .iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("no revision {id} in {:?}", ids(history)))
    }

    pub(super) fn tx(sql: &str) -> ForeignScript {
        ForeignScript {
            sql: sql.to_owned(),
            transactional: true,
        }
    }

    pub(super) fn no_tx(sql: &str) -> ForeignScript {
        ForeignScript {
            sql: sql.to_owned(),
            transactional: false,
        }
    }

    pub(super) fn notes_about<'h>(history: &'h ForeignHistory, origin: &str) -> Vec<&'h Note> {
        history
            .notes
            .iter()
            .filter(|n| n.origin == origin)
            .collect()
    }

    pub(super) fn assert_malformed(error: ImportError, file: &str, line: usize, fragment: &str) {
        match error {
            ImportError::Malformed {
                file: f,
                line: l,
                message,
            } => {
                assert_eq!((f.as_str(), l), (file, line), "{message}");
                assert!(message.contains(fragment), "{message}");
            }
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    pub(super) fn assert_duplicate(error: ImportError, want_first: &str, want_second: &str) {
        match error {
            ImportError::DuplicateVersion { first, second, .. } => {
                assert_eq!((first.as_str(), second.as_str()), (want_first, want_second));
            }
            other => panic!("expected DuplicateVersion, got {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    #[test]
    fn empty_directories_say_what_names_the_tool_uses() {
        for tool in Tool::ALL {
            if tool == Tool::Alembic {
                assert!(read(tool, dir(), &[]).is_none());
                continue;
            }
            let junk = files(&[("README.md", "x"), ("sub/other.txt", "y")]);
            match read(tool, dir(), &junk) {
                Some(Err(ImportError::Empty {
                    tool: t,
                    dir: d,
                    hint,
                })) => {
                    assert_eq!(t, tool);
                    assert_eq!(d, dir());
                    assert!(hint.contains(".sql"), "{hint}");
                }
                other => panic!("{tool}: {other:?}"),
            }
        }
    }

    #[test]
    fn notes_point_at_file_lines_inside_sections() {
        let goose_text = "\
-- +goose Up
-- +goose StatementBegin
SELECT 1;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
SELECT 2;
-- +goose StatementEnd
ROLLBACK;
";
        let history = parse(Tool::Goose, &[("1_a.sql", goose_text)]);
        let a = revision(&history, "1");
        assert_eq!(a.upgrade, tx("SELECT 1;"));
        assert_eq!(a.downgrade, Some(no_tx("SELECT 2;\nROLLBACK;")));
        assert_eq!(history.notes.len(), 1, "{:?}", history.notes);
        assert_eq!(history.notes[0].line, Some(10));

        let dbmate_text = "-- migrate:up\n\nSELECT 1;\nSAVEPOINT s;\nROLLBACK TO SAVEPOINT s;\n-- migrate:down\n\nBEGIN;\n";
        let history = parse(Tool::Dbmate, &[("1_a.sql", dbmate_text)]);
        let a = revision(&history, "1");
        assert!(a.upgrade.transactional);
        assert_eq!(a.downgrade, Some(no_tx("BEGIN;")));
        assert_eq!(history.notes.len(), 1, "{:?}", history.notes);
        assert_eq!(history.notes[0].line, Some(8));
    }

    /// Inputs no tool would accept must give errors or notes, never a panic.
    #[test]
    fn arbitrary_input_never_panics() {
        const PIECES: [&str; 24] = [
            "-- migrate:up",
            "-- migrate:down transaction:false",
            "-- +goose Up",
            "-- +goose Down",
            "-- +goose StatementBegin",
            "-- +goose StatementEnd",
            "-- +goose NO TRANSACTION",
            "-- +goose ENVSUB ON",
            "${x}",
            "$$",
            "$a$",
            "BEGIN;",
            "COMMIT;",
            "REINDEX (",
            "CREATE INDEX CONCURRENTLY",
            "/*",
            "*/",
            "'",
            "\"",
            "\n",
            "é",
            "_",
            ".sql",
            "__",
        ];
        const NAMES: [&str; 12] = [
            "1_a.sql",
            "V1__a.sql",
            "U1__a.sql",
            "V1__a.sql.conf",
            "2_b.up.sql",
            "2_b.down.sql",
            "3_c.go",
            "R__r.sql",
            "x/V1_1__s.sql",
            "0.sql",
            "_.sql",
            "9.up.sql",
        ];
        // xorshift: deterministic, and no dependency for a test.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % bound as u64).expect("bound fits")
        };
        for _ in 0..400 {
            let mut list = Vec::new();
            for _ in 0..1 + next(4) {
                let mut text = String::new();
                for _ in 0..next(12) {
                    if next(3) == 0 {
                        let bytes: Vec<u8> = (0..next(8))
                            .map(|_| u8::try_from(next(256)).expect("byte"))
                            .collect();
                        text.push_str(&String::from_utf8_lossy(&bytes));
                    } else {
                        text.push_str(PIECES[next(PIECES.len())]);
                    }
                    if next(2) == 0 {
                        text.push('\n');
                    }
                }
                let name = if next(4) == 0 {
                    let bytes: Vec<u8> = (0..next(10))
                        .map(|_| u8::try_from(next(256)).expect("byte"))
                        .collect();
                    format!(
                        "{}{}",
                        String::from_utf8_lossy(&bytes),
                        PIECES[next(PIECES.len())]
                    )
                } else {
                    NAMES[next(NAMES.len())].to_owned()
                };
                list.push(file(&name, &text));
            }
            list.sort_by(|a, b| a.name.cmp(&b.name));
            for tool in Tool::ALL {
                if let Some(Ok(history)) = read(tool, dir(), &list) {
                    assert!(!history.revisions.is_empty());
                    assert_chain(&history);
                }
            }
            for f in &list {
                let _ = needs_no_transaction(&f.text);
                let _ = strip_transaction_wrapper(&f.text);
            }
        }
    }
}
