//! dbmate: `<version>_<name>.sql` files with `-- migrate:up` and `-- migrate:down`
//! sections, the version being the digit string as written.

use std::collections::BTreeMap;
use std::path::Path;

use super::{
    duplicate, finish, is_top_level, leading_digits, malformed, message, numbered, script, stray,
    Direction, Draft, Key, Section,
};
use crate::import::{ForeignHistory, ForeignScript, ImportError, Note, SourceFile, Tool};

/// dbmate's migrations, `<version>_<name>.sql` directly in `dir` (dbmate does not look
/// into subdirectories), each with a `-- migrate:up` and usually a `-- migrate:down`
/// section. `dir` only names the directory in errors.
pub fn dbmate(dir: &Path, files: &[SourceFile]) -> Result<ForeignHistory, ImportError> {
    let tool = Tool::Dbmate;
    let mut notes = Vec::new();
    let mut drafts = BTreeMap::new();
    let mut seen: BTreeMap<Key, &str> = BTreeMap::new();
    for file in files.iter().filter(|f| is_top_level(&f.name)) {
        let Some(stem) = file.name.strip_suffix(".sql") else {
            continue;
        };
        // dbmate's pattern is `^(\d+).*\.sql$`: anything may follow the digits.
        let (digits, rest) = leading_digits(stem);
        if digits.is_empty() {
            notes.push(stray(tool, file, "<version>_<name>.sql"));
            continue;
        }
        // The version is the digit string itself: dbmate stores `001` and `1` as two
        // different versions, so only the same spelling is a duplicate.
        let key = Key::spelled(digits);
        if let Some(first) = seen.insert(key.clone(), &file.name) {
            return Err(duplicate(tool, digits, first, &file.name));
        }
        let (upgrade, downgrade) = dbmate_sections(file, &mut notes)?;
        let description = rest.trim_start_matches(['_', '-']);
        drafts.insert(
            key,
            Draft {
                id: digits.to_owned(),
                message: message(tool, digits, description),
                origin: file.name.clone(),
                upgrade,
                downgrade,
            },
        );
    }
    finish(tool, dir, drafts, notes)
}

/// `-- migrate:up` or `-- migrate:down` and its options (`transaction:false`). dbmate's
/// pattern is `^--\s*migrate:up(\s*$|\s+\S+)`: no indentation, and the word must end.
fn dbmate_marker(line: &str) -> Option<(Direction, bool)> {
    let directive = line.trim_end().strip_prefix("--")?.trim_start();
    let (direction, options) = if let Some(rest) = directive.strip_prefix("migrate:up") {
        (Direction::Up, rest)
    } else {
        (Direction::Down, directive.strip_prefix("migrate:down")?)
    };
    if !(options.is_empty() || options.starts_with(char::is_whitespace)) {
        return None;
    }
    // Like dbmate: only a well-formed `transaction:false` pair turns the transaction off.
    let transactional = !options
        .split_whitespace()
        .any(|option| option == "transaction:false");
    Some((direction, transactional))
}

fn dbmate_sections(
    file: &SourceFile,
    notes: &mut Vec<Note>,
) -> Result<(ForeignScript, Option<ForeignScript>), ImportError> {
    let mut up = Section::default();
    let mut down: Option<Section<'_>> = None;
    let mut state: Option<Direction> = None;
    let (mut up_transactional, mut down_transactional) = (true, true);
    // dbmate reports a missing up section before anything out of place, so these wait.
    let mut down_first: Option<usize> = None;
    let mut sql_first: Option<usize> = None;
    for (number, line) in numbered(&file.text) {
        // dbmate only honours the first of each marker; later ones are plain comments.
        match (dbmate_marker(line), state) {
            (Some((Direction::Up, transactional)), None) => {
                state = Some(Direction::Up);
                up_transactional = transactional;
                continue;
            }
            (Some((Direction::Down, _)), None) => {
                down_first.get_or_insert(number);
                continue;
            }
            (Some((Direction::Down, transactional)), Some(Direction::Up)) => {
                state = Some(Direction::Down);
                down_transactional = transactional;
                down = Some(Section::default());
                continue;
            }
            _ => {}
        }
        match (state, down.as_mut()) {
            (None, _) => {
                let trimmed = line.trim_start();
                if !(trimmed.is_empty() || trimmed.starts_with("--")) {
                    sql_first.get_or_insert(number);
                }
            }
            (Some(Direction::Down), Some(section)) => section.push(number, line),
            _ => up.push(number, line),
        }
    }
    if state.is_none() {
        return Err(malformed(
            file,
            1,
            "no `-- migrate:up` section; dbmate needs one",
        ));
    }
    if let Some(line) = down_first {
        return Err(malformed(
            file,
            line,
            "`-- migrate:down` before `-- migrate:up`; dbmate needs the up section first",
        ));
    }
    if let Some(line) = sql_first {
        return Err(malformed(
            file,
            line,
            "SQL before `-- migrate:up`; dbmate refuses statements outside the up and down \
             sections",
        ));
    }
    let upgrade = script(&file.name, &up, up_transactional, notes);
    // A present but empty down section is dbmate's "nothing to undo", not irreversible.
    let downgrade = down.map(|section| script(&file.name, &section, down_transactional, notes));
    Ok((upgrade, downgrade))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn dbmate_sections_ids_and_order() {
        let history = parse(
            Tool::Dbmate,
            &[
                (
                    "10_c.sql",
                    "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY i ON t (c);\n-- migrate:down\nDROP INDEX i;\n",
                ),
                (
                    "2_b.sql",
                    "-- header comment\n\n-- migrate:up\n\n-- keep me\nCREATE TABLE t (c int);\n\n-- migrate:down\n",
                ),
                ("001_a.sql", "--migrate:up\nCREATE TABLE a ();"),
                (
                    "20230101120000_create_users.sql",
                    "-- migrate:up\nCREATE TABLE users ();\n-- migrate:down transaction:false\nDROP TABLE users;",
                ),
            ],
        );
        assert_eq!(ids(&history), ["001", "2", "10", "20230101120000"]);
        assert_chain(&history);
        let a = revision(&history, "001");
        assert_eq!(a.message, "a");
        assert_eq!(a.upgrade, tx("CREATE TABLE a ();"));
        assert_eq!(a.downgrade, None);
        let b = revision(&history, "2");
        assert_eq!(b.upgrade, tx("-- keep me\nCREATE TABLE t (c int);"));
        // The marker is there: nothing to undo, which is not irreversible.
        assert_eq!(b.downgrade, Some(tx("")));
        let c = revision(&history, "10");
        assert_eq!(c.upgrade, no_tx("CREATE INDEX CONCURRENTLY i ON t (c);"));
        assert_eq!(c.downgrade, Some(tx("DROP INDEX i;")));
        let users = revision(&history, "20230101120000");
        assert_eq!(users.message, "create users");
        assert_eq!(users.origin, "20230101120000_create_users.sql");
        assert_eq!(users.downgrade, Some(no_tx("DROP TABLE users;")));
    }

    #[test]
    fn dbmate_ignores_subdirectories_and_notes_stray_sql() {
        let history = parse(
            Tool::Dbmate,
            &[
                ("1_a.sql", "-- migrate:up\nSELECT 1;"),
                ("old/2_b.sql", "-- migrate:up\nSELECT 2;"),
                ("schema.sql", "CREATE TABLE x ();"),
                (".gitkeep", ""),
            ],
        );
        assert_eq!(ids(&history), ["1"]);
        assert_eq!(history.notes.len(), 1, "{:?}", history.notes);
        assert_eq!(history.notes[0].origin, "schema.sql");
        assert!(history.notes[0]
            .message
            .contains("not a dbmate migration file name"));
    }

    #[test]
    fn dbmate_refuses_what_dbmate_refuses() {
        let error = parse_err(Tool::Dbmate, &[("1_a.sql", "CREATE TABLE a ();\n")]);
        assert_malformed(error, "1_a.sql", 1, "no `-- migrate:up` section");
        let error = parse_err(
            Tool::Dbmate,
            &[(
                "1_a.sql",
                "-- hello\n\nCREATE TABLE a ();\n-- migrate:up\nSELECT 1;\n",
            )],
        );
        assert_malformed(error, "1_a.sql", 3, "before `-- migrate:up`");
        let error = parse_err(
            Tool::Dbmate,
            &[(
                "1_a.sql",
                "\n-- migrate:down\nSELECT 1;\n-- migrate:up\nSELECT 2;\n",
            )],
        );
        assert_malformed(error, "1_a.sql", 2, "`-- migrate:down` before");
        // `-- migrate:upgrade` is not the marker.
        let error = parse_err(
            Tool::Dbmate,
            &[("1_a.sql", "-- migrate:upgrade\nSELECT 1;\n")],
        );
        assert_malformed(error, "1_a.sql", 1, "no `-- migrate:up` section");
        let error = parse_err(
            Tool::Dbmate,
            &[
                ("20230101_a.sql", "-- migrate:up\n"),
                ("20230101_b.sql", "-- migrate:up\n"),
            ],
        );
        assert_duplicate(error, "20230101_a.sql", "20230101_b.sql");
    }
}
