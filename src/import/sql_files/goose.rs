//! goose: `<version>_<name>.sql` files with `-- +goose …` annotations (Up, Down,
//! statement blocks, NO TRANSACTION, ENVSUB), and Go migrations it cannot import.

use std::collections::BTreeMap;
use std::path::Path;

use super::{
    duplicate, finish, is_digits, is_top_level, malformed, message, note, numbered, script, stray,
    strip_zeros, Direction, Draft, Key, Section,
};
use crate::import::{ForeignHistory, ForeignScript, ImportError, Note, SourceFile, Tool};

/// goose's migrations directly in `dir`: `<version>_<name>.sql` with `-- +goose Up` /
/// `-- +goose Down` annotations, and `<version>_<name>.go` migrations, which are imported
/// as empty revisions with a blocking note since their effect is Go code. `dir` only
/// names the directory in errors.
pub fn goose(dir: &Path, files: &[SourceFile]) -> Result<ForeignHistory, ImportError> {
    let tool = Tool::Goose;
    let mut notes = Vec::new();
    let mut drafts = BTreeMap::new();
    let mut seen: BTreeMap<Key, &str> = BTreeMap::new();
    for file in files.iter().filter(|f| is_top_level(&f.name)) {
        let (stem, is_go) = match file.name.strip_suffix(".sql") {
            Some(stem) => (stem, false),
            None => match file.name.strip_suffix(".go") {
                // Tests and the package's other Go files are not migrations.
                Some(stem) if !stem.ends_with("_test") => (stem, true),
                _ => continue,
            },
        };
        let parsed = stem.split_once('_').filter(|(digits, _)| is_digits(digits));
        let Some((digits, name)) = parsed else {
            if !is_go {
                notes.push(stray(tool, file, "<version>_<name>.sql"));
            }
            continue;
        };
        let id = strip_zeros(digits);
        if id == "0" {
            notes.push(note(
                &file.name,
                None,
                "goose versions start at 1 (goose refuses version 0); not imported",
                false,
            ));
            continue;
        }
        let key = Key::number(digits);
        if let Some(first) = seen.insert(key.clone(), &file.name) {
            return Err(duplicate(tool, &id, first, &file.name));
        }
        let (upgrade, downgrade) = if is_go {
            notes.push(note(
                &file.name,
                None,
                format!(
                    "Go migration {}: its effect is not in the imported revision; write its \
                     SQL by hand",
                    file.name
                ),
                true,
            ));
            let empty = ForeignScript {
                sql: String::new(),
                transactional: true,
            };
            (empty.clone(), Some(empty))
        } else {
            goose_sections(file, &mut notes)?
        };
        drafts.insert(
            key,
            Draft {
                message: message(tool, &id, name),
                id,
                origin: file.name.clone(),
                upgrade,
                downgrade,
            },
        );
    }
    finish(tool, dir, drafts, notes)
}

#[derive(Debug, PartialEq, Eq)]
enum GooseAnnotation {
    Up,
    Down,
    StatementBegin,
    StatementEnd,
    NoTransaction,
    EnvsubOn,
    EnvsubOff,
}

/// A `-- +goose …` line: `None` for any other line, `Some(Err(text))` for an annotation
/// goose does not know (goose refuses the file). Case-insensitive, as goose is.
fn goose_annotation(line: &str) -> Option<Result<GooseAnnotation, &str>> {
    let comment = line.trim().strip_prefix("--")?.trim_start();
    let marker = comment.get(..6)?;
    if !marker.eq_ignore_ascii_case("+goose") {
        return None;
    }
    let text = comment.get(6..)?.trim();
    let words: Vec<String> = text
        .split_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    Some(match words.as_slice() {
        ["up"] => Ok(GooseAnnotation::Up),
        ["down"] => Ok(GooseAnnotation::Down),
        ["statementbegin"] => Ok(GooseAnnotation::StatementBegin),
        ["statementend"] => Ok(GooseAnnotation::StatementEnd),
        ["no", "transaction"] => Ok(GooseAnnotation::NoTransaction),
        // Releases before 3.20 spelled it ENVSUBST.
        ["envsub" | "envsubst", "on"] => Ok(GooseAnnotation::EnvsubOn),
        ["envsub" | "envsubst", "off"] => Ok(GooseAnnotation::EnvsubOff),
        _ => Err(text),
    })
}

fn goose_sections(
    file: &SourceFile,
    notes: &mut Vec<Note>,
) -> Result<(ForeignScript, Option<ForeignScript>), ImportError> {
    let mut up = Section::default();
    let mut down: Option<Section<'_>> = None;
    let mut state: Option<Direction> = None;
    // The line of an open `StatementBegin`.
    let mut open_statement: Option<usize> = None;
    let mut transactional = true;
    let mut envsub = false;
    // Lines where goose would have replaced `$VAR` / `${VAR}` from its environment.
    let mut substituted: Option<usize> = None;
    let mut envsub_without_variables: Option<usize> = None;
    // A missing Up annotation is the clearer error, so SQL before it is reported last.
    let mut sql_first: Option<usize> = None;
    for (number, line) in numbered(&file.text) {
        if let Some(annotation) = goose_annotation(line) {
            let refuse = |message: &str| Err(malformed(file, number, message));
            match annotation {
                Ok(GooseAnnotation::Up) => match state {
                    None => state = Some(Direction::Up),
                    Some(_) => return refuse("a second `-- +goose Up`; goose refuses the file"),
                },
                Ok(GooseAnnotation::Down) => match (state, open_statement) {
                    (Some(Direction::Up), None) => {
                        state = Some(Direction::Down);
                        down = Some(Section::default());
                    }
                    (None, _) => return refuse(
                        "`-- +goose Down` before `-- +goose Up`; goose needs the Up section first",
                    ),
                    (Some(Direction::Down), _) => {
                        return refuse("a second `-- +goose Down`; goose refuses the file")
                    }
                    (Some(Direction::Up), Some(_)) => {
                        return refuse(
                            "`-- +goose Down` before the open `-- +goose StatementBegin` ends",
                        )
                    }
                },
                Ok(GooseAnnotation::StatementBegin) => match (state, open_statement) {
                    (None, _) => return refuse("`-- +goose StatementBegin` before `-- +goose Up`"),
                    (Some(_), Some(_)) => {
                        return refuse("`-- +goose StatementBegin` inside another one")
                    }
                    (Some(_), None) => open_statement = Some(number),
                },
                Ok(GooseAnnotation::StatementEnd) => {
                    if open_statement.take().is_none() {
                        return refuse(
                            "`-- +goose StatementEnd` without `-- +goose StatementBegin`",
                        );
                    }
                }
                Ok(GooseAnnotation::NoTransaction) => transactional = false,
                Ok(GooseAnnotation::EnvsubOn) => {
                    envsub = true;
                    envsub_without_variables.get_or_insert(number);
                }
                Ok(GooseAnnotation::EnvsubOff) => envsub = false,
                Err(text) => {
                    return refuse(&format!(
                        "unknown goose annotation `+goose {text}`; goose refuses the file"
                    ))
                }
            }
            continue;
        }
        match (state, down.as_mut()) {
            (None, _) => {
                let trimmed = line.trim_start();
                if !(trimmed.is_empty() || trimmed.starts_with("--")) {
                    sql_first.get_or_insert(number);
                }
                continue;
            }
            (Some(Direction::Down), Some(section)) => section.push(number, line),
            _ => up.push(number, line),
        }
        if envsub && has_shell_variable(line) {
            substituted.get_or_insert(number);
        }
    }
    if state.is_none() {
        return Err(malformed(
            file,
            1,
            "no `-- +goose Up` annotation; goose needs one",
        ));
    }
    if let Some(line) = sql_first {
        return Err(malformed(
            file,
            line,
            "SQL before `-- +goose Up`; goose refuses it",
        ));
    }
    if let Some(line) = open_statement {
        return Err(malformed(
            file,
            line,
            "`-- +goose StatementBegin` without `-- +goose StatementEnd`",
        ));
    }
    match (substituted, envsub_without_variables) {
        (Some(line), _) => notes.push(note(
            &file.name,
            Some(line),
            "goose substitutes environment variables here (`-- +goose ENVSUB ON`); retort \
             does not: write the values in",
            true,
        )),
        (None, Some(line)) => notes.push(note(
            &file.name,
            Some(line),
            "`-- +goose ENVSUB ON` but no `$` variable follows it; imported as written",
            false,
        )),
        (None, None) => {}
    }
    let upgrade = script(&file.name, &up, transactional, notes);
    let downgrade = down.map(|section| script(&file.name, &section, transactional, notes));
    Ok((upgrade, downgrade))
}

/// `$NAME` or `${…}`, which goose's interpolation replaces (dollar quotes included:
/// `$body$` loses `$body`).
fn has_shell_variable(line: &str) -> bool {
    line.match_indices('$').any(|(at, _)| {
        line.get(at + 1..)
            .and_then(|rest| rest.chars().next())
            .is_some_and(|c| c == '{' || c == '_' || c.is_ascii_alphabetic())
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn goose_sections_and_statement_blocks() {
        let text = "\
-- a leading comment
-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION f() RETURNS int AS $$
BEGIN
  RETURN 1;
END;
$$ LANGUAGE plpgsql;
-- +goose StatementEnd
CREATE TABLE t ();

-- +goose Down
DROP TABLE t;
DROP FUNCTION f();
";
        let history = parse(
            Tool::Goose,
            &[
                ("00010_ten.sql", text),
                ("00002_two.sql", "-- +goose up\nSELECT 2;\n"),
                ("README.md", "x"),
            ],
        );
        assert_eq!(ids(&history), ["2", "10"]);
        assert_chain(&history);
        let ten = revision(&history, "10");
        assert_eq!(ten.message, "ten");
        assert_eq!(
            ten.upgrade,
            tx("CREATE FUNCTION f() RETURNS int AS $$\nBEGIN\n  RETURN 1;\nEND;\n$$ LANGUAGE plpgsql;\nCREATE TABLE t ();")
        );
        assert_eq!(ten.downgrade, Some(tx("DROP TABLE t;\nDROP FUNCTION f();")));
        assert_eq!(revision(&history, "2").downgrade, None);
        assert!(history.notes.is_empty(), "{:?}", history.notes);
    }

    #[test]
    fn goose_no_transaction_covers_both_directions() {
        let history = parse(
            Tool::Goose,
            &[(
                "1_idx.sql",
                "-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX i ON t (c);\n-- +goose Down\nDROP INDEX i;\n",
            )],
        );
        let idx = revision(&history, "1");
        assert_eq!(idx.upgrade, no_tx("CREATE INDEX i ON t (c);"));
        assert_eq!(idx.downgrade, Some(no_tx("DROP INDEX i;")));
    }

    #[test]
    fn goose_go_migrations_and_envsub_are_blocking() {
        let history = parse(
            Tool::Goose,
            &[
                ("00001_init.sql", "-- +goose Up\nCREATE TABLE t ();\n"),
                ("00002_backfill.go", "package migrations"),
                ("00002_backfill_test.go", "package migrations"),
                ("migrations.go", "package migrations"),
                (
                    "00003_grant.sql",
                    "-- +goose ENVSUB ON\n-- +goose Up\nGRANT SELECT ON t TO ${APP_USER};\n",
                ),
                (
                    "00004_plain.sql",
                    "-- +goose Up\n-- +goose ENVSUB ON\nSELECT 1;\n-- +goose ENVSUB OFF\nSELECT '$HOME';\n",
                ),
                ("00000_zero.sql", "-- +goose Up\nSELECT 0;\n"),
                ("seed.sql", "INSERT INTO t DEFAULT VALUES;"),
            ],
        );
        assert_eq!(ids(&history), ["1", "2", "3", "4"]);
        let go = revision(&history, "2");
        assert_eq!(go.upgrade, tx(""));
        assert_eq!(go.downgrade, Some(tx("")));
        assert_eq!(go.message, "backfill");
        let go_notes = notes_about(&history, "00002_backfill.go");
        assert_eq!(go_notes.len(), 1);
        assert!(go_notes[0].blocking);
        assert!(go_notes[0].message.contains("Go migration"));
        let envsub = notes_about(&history, "00003_grant.sql");
        assert_eq!(envsub.len(), 1);
        assert!(envsub[0].blocking);
        assert_eq!(envsub[0].line, Some(3));
        let plain = notes_about(&history, "00004_plain.sql");
        assert_eq!(plain.len(), 1);
        assert!(!plain[0].blocking);
        assert!(!notes_about(&history, "00000_zero.sql").is_empty());
        assert!(notes_about(&history, "seed.sql")[0]
            .message
            .contains("not a goose migration file name"));
        assert!(notes_about(&history, "00002_backfill_test.go").is_empty());
        assert!(notes_about(&history, "migrations.go").is_empty());
    }

    #[test]
    fn goose_refuses_what_goose_refuses() {
        let error = parse_err(Tool::Goose, &[("1_a.sql", "-- just a comment\n\n")]);
        assert_malformed(error, "1_a.sql", 1, "no `-- +goose Up`");
        let error = parse_err(
            Tool::Goose,
            &[("1_a.sql", "-- c\nSELECT 1;\n-- +goose Up\nSELECT 2;\n")],
        );
        assert_malformed(error, "1_a.sql", 2, "before `-- +goose Up`");
        let error = parse_err(
            Tool::Goose,
            &[(
                "1_a.sql",
                "-- +goose Up\nSELECT 1;\n-- +goose Down\n-- +goose Up\n",
            )],
        );
        assert_malformed(error, "1_a.sql", 4, "second `-- +goose Up`");
        let error = parse_err(
            Tool::Goose,
            &[(
                "1_a.sql",
                "-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n",
            )],
        );
        assert_malformed(error, "1_a.sql", 2, "without `-- +goose StatementEnd`");
        let error = parse_err(
            Tool::Goose,
            &[("1_a.sql", "-- +goose Up\n-- +goose Sideways\n")],
        );
        assert_malformed(error, "1_a.sql", 2, "unknown goose annotation");
        let error = parse_err(
            Tool::Goose,
            &[("1_a.sql", "-- +goose Up\n"), ("01_b.go", "package m")],
        );
        assert_duplicate(error, "01_b.go", "1_a.sql");
    }
}
