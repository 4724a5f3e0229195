//! sqlx: simple `<version>_<description>.sql` migrations or `.up.sql` / `.down.sql`
//! pairs, with `-- no-transaction` as a script's first bytes.

use std::collections::BTreeMap;
use std::path::Path;

use super::{
    duplicate, finish, is_digits, is_top_level, message, orphan_down, pair_origin, script, stray,
    strip_zeros, Direction, Draft, Key, Pair, Section,
};
use crate::import::{ForeignHistory, ForeignScript, ImportError, Note, SourceFile, Tool};

/// sqlx's migrations directly in `dir`: `<version>_<description>.sql` (irreversible) or
/// `.up.sql` / `.down.sql` pairs. sqlx refuses a directory mixing both kinds; retort
/// takes them. `dir` only names the directory in errors.
pub fn sqlx(dir: &Path, files: &[SourceFile]) -> Result<ForeignHistory, ImportError> {
    let tool = Tool::Sqlx;
    let mut notes = Vec::new();
    let mut pairs: BTreeMap<Key, Pair<'_>> = BTreeMap::new();
    for file in files.iter().filter(|f| is_top_level(&f.name)) {
        if !file.name.ends_with(".sql") {
            continue;
        }
        // sqlx splits the name at its first `_` and parses the left part as the version.
        let parsed = file
            .name
            .split_once('_')
            .filter(|(digits, _)| is_digits(digits));
        let Some((digits, rest)) = parsed else {
            notes.push(stray(
                tool,
                file,
                "<version>_<description>.sql, or .up.sql and .down.sql",
            ));
            continue;
        };
        let (description, direction) = if let Some(d) = rest.strip_suffix(".up.sql") {
            (d, Some(Direction::Up))
        } else if let Some(d) = rest.strip_suffix(".down.sql") {
            (d, Some(Direction::Down))
        } else {
            (rest.strip_suffix(".sql").unwrap_or(rest), None)
        };
        let id = strip_zeros(digits);
        let pair = pairs.entry(Key::number(digits)).or_insert_with(|| Pair {
            id: id.clone(),
            up: None,
            down: None,
        });
        // A simple migration takes the up slot and forbids a down one.
        let conflict = match direction {
            Some(Direction::Down) => pair
                .down
                .or(pair.up.filter(|(up, _)| !up.name.ends_with(".up.sql"))),
            Some(Direction::Up) => pair.up,
            None => pair.up.or(pair.down),
        };
        if let Some((first, _)) = conflict {
            return Err(duplicate(tool, &id, &first.name, &file.name));
        }
        match direction {
            Some(Direction::Down) => pair.down = Some((file, description)),
            _ => pair.up = Some((file, description)),
        }
    }
    let mut drafts = BTreeMap::new();
    for (key, pair) in pairs {
        let Some((up, description)) = pair.up else {
            if let Some((down, _)) = pair.down {
                notes.push(orphan_down(tool, down, &pair.id));
            }
            continue;
        };
        let upgrade = sqlx_script(up, &mut notes);
        let downgrade = pair.down.map(|(down, _)| sqlx_script(down, &mut notes));
        let origin = pair_origin(up, pair.down.map(|(down, _)| down));
        drafts.insert(
            key,
            Draft {
                message: message(tool, &pair.id, description),
                id: pair.id,
                origin,
                upgrade,
                downgrade,
            },
        );
    }
    finish(tool, dir, drafts, notes)
}

fn sqlx_script(file: &SourceFile, notes: &mut Vec<Note>) -> ForeignScript {
    // Exactly sqlx's test: the very first bytes, no leading whitespace allowed.
    let transactional = !file.text.starts_with("-- no-transaction");
    script(
        &file.name,
        &Section::whole(&file.text),
        transactional,
        notes,
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn sqlx_simple_and_reversible() {
        let history = parse(
            Tool::Sqlx,
            &[
                ("20240101000000_init.sql", "CREATE TABLE t ();\n"),
                ("2_add_column.up.sql", "ALTER TABLE t ADD c int;"),
                ("2_add_column.down.sql", "ALTER TABLE t DROP c;"),
                (
                    "10_index.sql",
                    "-- no-transaction\nCREATE INDEX CONCURRENTLY i ON t (c);",
                ),
                ("11_late.sql", " -- no-transaction\nSELECT 1;"),
                ("0003_.sql", "SELECT 3;"),
                ("9_orphan.down.sql", "SELECT 9;"),
                ("1.sql", "SELECT 1;"),
                ("notes.md", "x"),
            ],
        );
        assert_eq!(ids(&history), ["2", "3", "10", "11", "20240101000000"]);
        assert_chain(&history);
        let add = revision(&history, "2");
        assert_eq!(add.message, "add column");
        assert_eq!(add.origin, "2_add_column.up.sql, 2_add_column.down.sql");
        assert_eq!(add.downgrade, Some(tx("ALTER TABLE t DROP c;")));
        assert_eq!(revision(&history, "3").message, "sqlx 3");
        let init = revision(&history, "20240101000000");
        assert_eq!(init.message, "init");
        assert_eq!(init.downgrade, None);
        let index = revision(&history, "10");
        assert_eq!(
            index.upgrade,
            no_tx("-- no-transaction\nCREATE INDEX CONCURRENTLY i ON t (c);")
        );
        // sqlx only looks at the very first bytes.
        assert!(revision(&history, "11").upgrade.transactional);
        let origins: Vec<&str> = history.notes.iter().map(|n| n.origin.as_str()).collect();
        assert_eq!(origins, ["1.sql", "9_orphan.down.sql"]);
    }

    #[test]
    fn sqlx_duplicates() {
        let error = parse_err(
            Tool::Sqlx,
            &[("1_a.sql", "SELECT 1;"), ("1_a.up.sql", "SELECT 1;")],
        );
        assert_duplicate(error, "1_a.sql", "1_a.up.sql");
        let error = parse_err(
            Tool::Sqlx,
            &[("1_a.sql", "SELECT 1;"), ("1_a.down.sql", "SELECT 1;")],
        );
        assert_duplicate(error, "1_a.down.sql", "1_a.sql");
        let error = parse_err(Tool::Sqlx, &[("1_a.sql", ""), ("001_b.sql", "")]);
        assert_duplicate(error, "001_b.sql", "1_a.sql");
    }
}
