//! golang-migrate: `<version>_<title>.up.sql` / `.down.sql` pairs, each file one
//! direction's whole script.

use std::collections::BTreeMap;
use std::path::Path;

use super::{
    duplicate, finish, is_top_level, leading_digits, message, orphan_down, pair_origin, script,
    stray, strip_zeros, Direction, Draft, Key, Pair, Section,
};
use crate::import::{ForeignHistory, ImportError, SourceFile, Tool};

/// golang-migrate's `<version>_<title>.up.sql` / `.down.sql` pairs directly in `dir`.
/// `dir` only names the directory in errors.
pub fn golang_migrate(dir: &Path, files: &[SourceFile]) -> Result<ForeignHistory, ImportError> {
    let tool = Tool::GolangMigrate;
    let mut notes = Vec::new();
    let mut pairs: BTreeMap<Key, Pair<'_>> = BTreeMap::new();
    for file in files.iter().filter(|f| is_top_level(&f.name)) {
        let Some((digits, title, direction)) = golang_migrate_name(&file.name) else {
            if file.name.ends_with(".sql") {
                notes.push(stray(
                    tool,
                    file,
                    "<version>_<title>.up.sql and <version>_<title>.down.sql",
                ));
            }
            continue;
        };
        let id = strip_zeros(digits);
        let pair = pairs.entry(Key::number(digits)).or_insert_with(|| Pair {
            id: id.clone(),
            up: None,
            down: None,
        });
        let slot = match direction {
            Direction::Up => &mut pair.up,
            Direction::Down => &mut pair.down,
        };
        if let Some((first, _)) = slot {
            return Err(duplicate(tool, &id, &first.name, &file.name));
        }
        *slot = Some((file, title));
    }
    let mut drafts = BTreeMap::new();
    for (key, pair) in pairs {
        let Some((up, title)) = pair.up else {
            if let Some((down, _)) = pair.down {
                notes.push(orphan_down(tool, down, &pair.id));
            }
            continue;
        };
        // The postgres driver sends each file as one query string; the usual
        // `BEGIN; … COMMIT;` around it is what retort's own transaction already does.
        let upgrade = script(&up.name, &Section::whole(&up.text), true, &mut notes);
        let downgrade = pair
            .down
            .map(|(down, _)| script(&down.name, &Section::whole(&down.text), true, &mut notes));
        let origin = pair_origin(up, pair.down.map(|(down, _)| down));
        drafts.insert(
            key,
            Draft {
                message: message(tool, &pair.id, title),
                id: pair.id,
                origin,
                upgrade,
                downgrade,
            },
        );
    }
    finish(tool, dir, drafts, notes)
}

/// `(version digits, title, direction)` of `<digits>_<title>.up.sql`, `<digits>.up.sql`
/// and the `.down.sql` equivalents.
fn golang_migrate_name(name: &str) -> Option<(&str, &str, Direction)> {
    let (stem, direction) = match name.strip_suffix(".up.sql") {
        Some(stem) => (stem, Direction::Up),
        None => (name.strip_suffix(".down.sql")?, Direction::Down),
    };
    let (digits, rest) = leading_digits(stem);
    if digits.is_empty() {
        return None;
    }
    let title = if rest.is_empty() {
        rest
    } else {
        rest.strip_prefix('_')?
    };
    Some((digits, title, direction))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn golang_migrate_pairs_and_orders_numerically() {
        let history = parse(
            Tool::GolangMigrate,
            &[
                ("0003_add.up.sql", "ALTER TABLE t ADD c int;\n"),
                ("0003_add.down.sql", "ALTER TABLE t DROP c;\n"),
                ("10_ten.up.sql", "SELECT 10;"),
                ("2_two_words.up.sql", "SELECT 2;"),
                ("0_init.up.sql", ""),
                ("4.up.sql", "SELECT 4;"),
                ("7_gone.down.sql", "SELECT 7;"),
                ("main.go", "package main"),
                ("sub/5_x.up.sql", "SELECT 5;"),
            ],
        );
        assert_eq!(ids(&history), ["0", "2", "3", "4", "10"]);
        assert_chain(&history);
        let add = revision(&history, "3");
        assert_eq!(add.message, "add");
        assert_eq!(add.origin, "0003_add.up.sql, 0003_add.down.sql");
        assert_eq!(add.upgrade, tx("ALTER TABLE t ADD c int;"));
        assert_eq!(add.downgrade, Some(tx("ALTER TABLE t DROP c;")));
        assert_eq!(revision(&history, "0").upgrade, tx(""));
        assert_eq!(revision(&history, "2").message, "two words");
        assert_eq!(revision(&history, "2").downgrade, None);
        assert_eq!(revision(&history, "4").message, "golang-migrate 4");
        assert_eq!(history.notes.len(), 1, "{:?}", history.notes);
        assert_eq!(history.notes[0].origin, "7_gone.down.sql");
        assert!(!history.notes[0].blocking);
    }

    #[test]
    fn golang_migrate_transaction_wrappers_and_control() {
        let history = parse(
            Tool::GolangMigrate,
            &[
                (
                    "1_a.up.sql",
                    "-- adds a\nBEGIN;\n\nCREATE TABLE a ();\nINSERT INTO a DEFAULT VALUES;\n\nCOMMIT;\n",
                ),
                ("1_a.down.sql", "begin transaction; DROP TABLE a; end;"),
                ("2_b.up.sql", "CREATE UNIQUE INDEX CONCURRENTLY i ON a (x);"),
                (
                    "3_c.up.sql",
                    "BEGIN;\nCREATE TABLE c ();\nCOMMIT;\nVACUUM c;\n",
                ),
                ("4_d.up.sql", "SELECT 1;\nCOMMIT;\nSELECT 2;"),
            ],
        );
        let a = revision(&history, "1");
        assert_eq!(
            a.upgrade,
            tx("-- adds a\nCREATE TABLE a ();\nINSERT INTO a DEFAULT VALUES;")
        );
        assert_eq!(a.downgrade, Some(tx("DROP TABLE a;")));
        assert!(!revision(&history, "2").upgrade.transactional);
        let c = revision(&history, "3");
        assert_eq!(
            c.upgrade,
            no_tx("BEGIN;\nCREATE TABLE c ();\nCOMMIT;\nVACUUM c;")
        );
        assert_eq!(
            revision(&history, "4").upgrade,
            no_tx("SELECT 1;\nCOMMIT;\nSELECT 2;")
        );
        let lines: Vec<(&str, Option<usize>)> = history
            .notes
            .iter()
            .map(|n| (n.origin.as_str(), n.line))
            .collect();
        assert_eq!(lines, [("3_c.up.sql", Some(1)), ("4_d.up.sql", Some(2))]);
        assert!(history
            .notes
            .iter()
            .all(|n| !n.blocking && n.message.contains("explicit transaction control")));
    }

    #[test]
    fn golang_migrate_duplicate_up() {
        let error = parse_err(
            Tool::GolangMigrate,
            &[("1_a.up.sql", ""), ("01_b.up.sql", "")],
        );
        assert_duplicate(error, "01_b.up.sql", "1_a.up.sql");
    }
}
