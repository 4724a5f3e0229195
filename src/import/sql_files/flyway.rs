//! Flyway: `V<version>__<description>.sql` migrations searched recursively, with
//! `U…` undo scripts as downgrades, `.sql.conf` script configs and `${…}` placeholders.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::{
    base_name, finish, insert_unique, message, note, numbered, script, stray, Draft, Found, Key,
    Section,
};
use crate::import::{ForeignHistory, ForeignScript, ImportError, Note, SourceFile, Tool};

/// Flyway's versioned migrations, `V<version>__<description>.sql`, anywhere under `dir`
/// (Flyway searches its locations recursively), with `U<version>__….sql` undo scripts as
/// their downgrades. `dir` only names the directory in errors.
pub fn flyway(dir: &Path, files: &[SourceFile]) -> Result<ForeignHistory, ImportError> {
    let tool = Tool::Flyway;
    let mut notes = Vec::new();
    // Script config files sit next to their script: `V2__x.sql.conf`.
    let configs: HashMap<&str, &str> = files
        .iter()
        .filter_map(|f| {
            let script = f.name.strip_suffix(".conf")?;
            script
                .ends_with(".sql")
                .then_some((script, f.text.as_str()))
        })
        .collect();
    let mut versioned: BTreeMap<Key, Found<'_>> = BTreeMap::new();
    let mut undo: BTreeMap<Key, Found<'_>> = BTreeMap::new();
    for file in files {
        let base = base_name(&file.name);
        match flyway_name(base) {
            FlywayName::Versioned {
                undo: is_undo,
                version,
                description,
            } => {
                let found = Found {
                    id: version.replace('_', "."),
                    file,
                    description,
                };
                let map = if is_undo { &mut undo } else { &mut versioned };
                insert_unique(tool, map, flyway_key(version), found)?;
            }
            FlywayName::Baseline => notes.push(note(
                &file.name,
                None,
                "Flyway baseline migration: it stands in for the versioned migrations up to \
                 its version on an empty database, and retort has no baselines; not imported",
                false,
            )),
            FlywayName::Repeatable => notes.push(note(
                &file.name,
                None,
                "repeatable migration: retort has no repeatable revisions; add its SQL to a \
                 revision (or a new one) by hand; not imported",
                false,
            )),
            FlywayName::Callback => notes.push(note(
                &file.name,
                None,
                "Flyway callback script: retort has no callbacks; not imported",
                false,
            )),
            FlywayName::Other if base.ends_with(".sql") => notes.push(stray(
                tool,
                file,
                "V<version>__<description>.sql, U… for undo, R__… for repeatable",
            )),
            FlywayName::Other => {}
        }
    }
    let mut drafts = BTreeMap::new();
    for (key, up) in versioned {
        let upgrade = flyway_script(up.file, &configs, &mut notes);
        let (downgrade, origin) = match undo.remove(&key) {
            Some(down) => (
                Some(flyway_script(down.file, &configs, &mut notes)),
                format!("{}, {}", up.file.name, down.file.name),
            ),
            None => (None, up.file.name.clone()),
        };
        let draft = Draft {
            message: message(tool, &up.id, up.description),
            id: up.id,
            origin,
            upgrade,
            downgrade,
        };
        drafts.insert(key, draft);
    }
    for orphan in undo.into_values() {
        notes.push(note(
            &orphan.file.name,
            None,
            format!(
                "undo migration without a versioned migration of version {}; not imported",
                orphan.id
            ),
            false,
        ));
    }
    finish(tool, dir, drafts, notes)
}

enum FlywayName<'a> {
    /// `V…` or, with `undo`, `U…`.
    Versioned {
        undo: bool,
        version: &'a str,
        description: &'a str,
    },
    Baseline,
    Repeatable,
    Callback,
    Other,
}

fn flyway_name(base: &str) -> FlywayName<'_> {
    let Some(stem) = base.strip_suffix(".sql") else {
        return FlywayName::Other;
    };
    if stem.starts_with("R__") {
        return FlywayName::Repeatable;
    }
    let mut chars = stem.chars();
    let prefix = chars.next();
    // The version ends at the first `__`: `_` alone is a version separator.
    if let Some((version, description)) = chars.as_str().split_once("__") {
        if is_flyway_version(version) {
            match prefix {
                Some('V' | 'U') => {
                    return FlywayName::Versioned {
                        undo: prefix == Some('U'),
                        version,
                        description,
                    }
                }
                Some('B') => return FlywayName::Baseline,
                _ => {}
            }
        }
    }
    // Callback scripts are named after their event: `beforeMigrate.sql`,
    // `afterEachMigrate__log.sql`, `createSchema.sql`.
    let event = stem.split("__").next().unwrap_or(stem);
    let after_prefix = event
        .strip_prefix("before")
        .or_else(|| event.strip_prefix("after"));
    if event == "createSchema"
        || after_prefix.is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()))
    {
        return FlywayName::Callback;
    }
    FlywayName::Other
}

/// Digits in parts separated by `.` or `_`: `1`, `1.2.10`, `2024_01_05`.
fn is_flyway_version(version: &str) -> bool {
    crate::import::version::is_dotted(version)
}

/// Flyway compares versions part by part as numbers and ignores trailing zero parts:
/// `1` and `1.0` are the same version.
fn flyway_key(version: &str) -> Key {
    Key::dotted(version)
}

fn flyway_script(
    file: &SourceFile,
    configs: &HashMap<&str, &str>,
    notes: &mut Vec<Note>,
) -> ForeignScript {
    let (placeholders, line) = flyway_placeholders(&file.text);
    if !placeholders.is_empty() {
        let list = placeholders
            .iter()
            .map(|name| format!("${{{name}}}"))
            .collect::<Vec<_>>()
            .join(", ");
        notes.push(note(
            &file.name,
            line,
            format!(
                "Flyway placeholders {list}: Flyway substitutes them when it runs the script, \
                 retort does not; write the values in"
            ),
            true,
        ));
    }
    let in_transaction = !configs
        .get(file.name.as_str())
        .is_some_and(|conf| flyway_conf_disables_transaction(conf));
    script(
        &file.name,
        &Section::whole(&file.text),
        in_transaction,
        notes,
    )
}

/// `executeInTransaction=false` in a script config file (Java properties syntax).
fn flyway_conf_disables_transaction(conf: &str) -> bool {
    conf.lines().any(|line| {
        line.split_once('=').is_some_and(|(key, value)| {
            let key = key.trim();
            let key = key.strip_prefix("flyway.").unwrap_or(key);
            key == "executeInTransaction" && value.trim().eq_ignore_ascii_case("false")
        })
    })
}

/// The distinct `${name}` placeholders of a script, and the line of the first one.
/// Flyway replaces them even inside quotes and dollar quotes, so no lexing is needed.
fn flyway_placeholders(text: &str) -> (Vec<String>, Option<usize>) {
    let mut names: Vec<String> = Vec::new();
    let mut first_line = None;
    for (number, line) in numbered(text) {
        let mut rest = line;
        while let Some(at) = rest.find("${") {
            let after = rest.get(at + 2..).unwrap_or_default();
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')))
                .unwrap_or(after.len());
            let name = after.get(..len).unwrap_or_default();
            let closed = after.get(len..).is_some_and(|r| r.starts_with('}'));
            if closed && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                first_line.get_or_insert(number);
                if !names.iter().any(|known| known == name) {
                    names.push(name.to_owned());
                }
            }
            rest = after;
        }
    }
    (names, first_line)
}

#[cfg(test)]
mod tests {
    use super::super::strip_zeros;
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn flyway_orders_dotted_versions_part_by_part() {
        let history = parse(
            Tool::Flyway,
            &[
                ("V1.10__ten.sql", "SELECT 10;"),
                ("V1.2__two.sql", "SELECT 2;"),
                ("V1__Init.sql", "SELECT 1;"),
                ("V2__Add_users.sql", "CREATE TABLE users (id int);"),
                ("V1_9__nine.sql", "SELECT 9;"),
            ],
        );
        assert_eq!(ids(&history), ["1", "1.2", "1.9", "1.10", "2"]);
        assert_chain(&history);
        let users = revision(&history, "2");
        assert_eq!(users.message, "Add users");
        assert_eq!(users.origin, "V2__Add_users.sql");
        assert_eq!(users.upgrade, tx("CREATE TABLE users (id int);"));
        assert_eq!(users.downgrade, None);
        assert_eq!(revision(&history, "1.9").message, "nine");
        assert!(history.notes.is_empty(), "{:?}", history.notes);
    }

    #[test]
    fn flyway_reads_subdirectories_and_pairs_undo_scripts() {
        let history = parse(
            Tool::Flyway,
            &[
                ("sql/V1__a.sql", "\n\n-- first\nCREATE TABLE a ();\n\n\n"),
                ("sql/undo/U1__a.sql", "DROP TABLE a;\n"),
                ("V3__.sql", "SELECT 3;"),
                ("U7__gone.sql", "SELECT 7;"),
                ("README.md", "# migrations"),
            ],
        );
        assert_eq!(ids(&history), ["1", "3"]);
        let first = revision(&history, "1");
        assert_eq!(first.upgrade, tx("-- first\nCREATE TABLE a ();"));
        assert_eq!(first.downgrade, Some(tx("DROP TABLE a;")));
        assert_eq!(first.origin, "sql/V1__a.sql, sql/undo/U1__a.sql");
        assert_eq!(revision(&history, "3").message, "flyway 3");
        let orphan = notes_about(&history, "U7__gone.sql");
        assert_eq!(orphan.len(), 1);
        assert!(!orphan[0].blocking);
        assert!(orphan[0].message.contains("undo"), "{}", orphan[0]);
        assert!(notes_about(&history, "README.md").is_empty());
    }

    #[test]
    fn flyway_notes_what_it_does_not_import() {
        let history = parse(
            Tool::Flyway,
            &[
                ("V1__a.sql", "SELECT 1;"),
                ("R__views.sql", "CREATE OR REPLACE VIEW v AS SELECT 1;"),
                ("B1__baseline.sql", "SELECT 1;"),
                ("beforeMigrate.sql", "SELECT 1;"),
                ("v2__lowercase.sql", "SELECT 2;"),
                ("V1.x__bad.sql", "SELECT 2;"),
                ("notes.txt", "hello"),
            ],
        );
        assert_eq!(ids(&history), ["1"]);
        let message = |origin: &str| {
            let notes = notes_about(&history, origin);
            assert_eq!(notes.len(), 1, "{origin}: {notes:?}");
            assert!(!notes[0].blocking);
            notes[0].message.clone()
        };
        assert!(message("R__views.sql").contains("repeatable"));
        assert!(message("B1__baseline.sql").contains("baseline"));
        assert!(message("beforeMigrate.sql").contains("callback"));
        assert!(message("v2__lowercase.sql").contains("not a flyway migration file name"));
        assert!(message("V1.x__bad.sql").contains("not a flyway migration file name"));
        assert!(notes_about(&history, "notes.txt").is_empty());
    }

    #[test]
    fn flyway_placeholders_are_blocking() {
        let history = parse(
            Tool::Flyway,
            &[
                (
                    "V1__a.sql",
                    "-- ${not closed\nCREATE TABLE ${schema}.t ();\nGRANT ALL ON ${schema}.t TO ${flyway:user};\nSELECT '${}';",
                ),
                ("V2__b.sql", "SELECT '$' || '{x}';"),
            ],
        );
        let notes = notes_about(&history, "V1__a.sql");
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].blocking);
        assert_eq!(notes[0].line, Some(2));
        assert!(
            notes[0].message.contains("${schema}, ${flyway:user}"),
            "{}",
            notes[0]
        );
        assert!(notes_about(&history, "V2__b.sql").is_empty());
    }

    #[test]
    fn flyway_script_config_turns_the_transaction_off() {
        let history = parse(
            Tool::Flyway,
            &[
                ("V1__a.sql", "ALTER TYPE e ADD VALUE 'x';"),
                (
                    "V1__a.sql.conf",
                    "# comment\nexecuteInTransaction = false\n",
                ),
                ("U1__a.sql", "SELECT 1;"),
                ("U1__a.sql.conf", "executeInTransaction=FALSE"),
                ("V2__b.sql", "SELECT 2;"),
                ("V2__b.sql.conf", "executeInTransaction=true"),
                ("V3__c.sql", "CREATE INDEX CONCURRENTLY i ON t (c);"),
            ],
        );
        let first = revision(&history, "1");
        assert!(!first.upgrade.transactional);
        assert_eq!(first.downgrade, Some(no_tx("SELECT 1;")));
        assert!(revision(&history, "2").upgrade.transactional);
        assert!(!revision(&history, "3").upgrade.transactional);
        assert!(history.notes.is_empty(), "{:?}", history.notes);
    }

    #[test]
    fn flyway_equal_versions_are_duplicates() {
        let error = parse_err(
            Tool::Flyway,
            &[("V1__a.sql", "SELECT 1;"), ("V1.0__b.sql", "SELECT 1;")],
        );
        assert_duplicate(error, "V1.0__b.sql", "V1__a.sql");
        let error = parse_err(
            Tool::Flyway,
            &[("a/V2__x.sql", "SELECT 1;"), ("b/V2__x.sql", "SELECT 1;")],
        );
        assert_duplicate(error, "a/V2__x.sql", "b/V2__x.sql");
    }

    #[test]
    fn numbers_compare_as_numbers() {
        let mut versions = [
            "10",
            "9",
            "1.10",
            "1.9.1",
            "1.9",
            "0",
            "99999999999999999999999",
        ];
        versions.sort_by_key(|v| flyway_key(v));
        assert_eq!(
            versions,
            [
                "0",
                "1.9",
                "1.9.1",
                "1.10",
                "9",
                "10",
                "99999999999999999999999"
            ]
        );
        assert_eq!(flyway_key("1.0.0"), flyway_key("001"));
        assert_eq!(strip_zeros("000"), "0");
    }
}
