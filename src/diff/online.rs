//! Online forms (`new-migration --autogenerate --online`): the statements that would
//! block a busy table's traffic for as long as they scan or build are rendered in the
//! forms that do not, where PostgreSQL has one:
//!
//! - `CREATE INDEX` / `DROP INDEX` on an existing table → `CONCURRENTLY`;
//! - a foreign key or check added to an existing table → `NOT VALID`, then `VALIDATE
//!   CONSTRAINT` (which only takes SHARE UPDATE EXCLUSIVE while it scans);
//! - a unique or primary key constraint → `CREATE UNIQUE INDEX CONCURRENTLY`, then
//!   `ADD CONSTRAINT … USING INDEX`;
//! - `SET NOT NULL` → a `CHECK (col IS NOT NULL) NOT VALID` validated first, which
//!   PostgreSQL 12+ uses to skip its own scan, dropped afterwards.
//!
//! Each step must commit before the next starts to gain anything (and CONCURRENTLY
//! cannot run in a transaction block at all), so a script with an online form runs
//! with `transaction:false`. Tables created by the same migration keep the plain forms:
//! nobody else can see them yet.

use super::*;

/// The statements of `changes` (planned from `from`) with the online forms, and
/// whether one was used (then the section needs `transaction:false`).
pub fn render_online(changes: &[Change], from: &Schema) -> (Vec<Statement>, bool) {
    let mut online = false;
    let mut out = Vec::new();
    for change in changes {
        match change {
            Change::AddIndex(index) if concurrent_ok(from, &index.table) => {
                out.push(statement(concurrently(&index.definition)));
                online = true;
            }
            Change::DropIndex { name } if index_of(from, name).is_some() => {
                out.push(statement(format!("DROP INDEX CONCURRENTLY {}", qn(name))));
                online = true;
            }
            Change::AlterTable { name, changes } if concurrent_ok(from, name) => {
                for each in changes {
                    match online_table_change(name, each) {
                        Some(statements) => {
                            out.extend(statements);
                            online = true;
                        }
                        None => out.push(table_change(name, each)),
                    }
                }
            }
            _ => out.extend(change.statements()),
        }
    }
    (with_unchecked_bodies(changes, out), online)
}

/// Whether `table` exists in `from` as a plain table or a partition (CONCURRENTLY and
/// NOT VALID are refused on a partitioned table's parent) or a materialized view.
fn concurrent_ok(from: &Schema, table: &QualifiedName) -> bool {
    from.tables
        .iter()
        .any(|t| &t.name == table && t.partition_key.is_none())
        || from.materialized_views.iter().any(|v| &v.name == table)
}

fn index_of<'a>(from: &'a Schema, name: &QualifiedName) -> Option<&'a Index> {
    from.indexes
        .iter()
        .find(|i| &i.name == name && concurrent_ok(from, &i.table))
}

/// `CREATE [UNIQUE] INDEX name ON ...` (as `pg_get_indexdef` writes it) with
/// `CONCURRENTLY` after `INDEX`.
fn concurrently(definition: &str) -> String {
    match definition.split_once("INDEX ") {
        Some((head, tail)) => format!("{head}INDEX CONCURRENTLY {tail}"),
        None => definition.to_string(),
    }
}

fn online_table_change(table: &QualifiedName, change: &TableChange) -> Option<Vec<Statement>> {
    let name = qn(table);
    match change {
        TableChange::AddConstraint(c)
            if matches!(c.kind, ConstraintKind::ForeignKey | ConstraintKind::Check)
                && c.validated =>
        {
            let constraint = quote_ident(&c.name);
            Some(vec![
                statement(format!(
                    "ALTER TABLE {name} ADD CONSTRAINT {constraint} {} NOT VALID",
                    c.definition
                )),
                hazardous(
                    format!("ALTER TABLE {name} VALIDATE CONSTRAINT {constraint}"),
                    HazardKind::CastMayFail,
                    format!("fails if existing rows of {name} break {constraint}"),
                ),
            ])
        }
        TableChange::AddConstraint(c)
            if matches!(c.kind, ConstraintKind::Unique | ConstraintKind::PrimaryKey)
                && !c.deferrable =>
        {
            let (keyword, columns) = key_columns(&c.definition)?;
            let constraint = quote_ident(&c.name);
            Some(vec![
                hazardous(
                    format!(
                        "CREATE UNIQUE INDEX CONCURRENTLY {constraint} ON {name} {columns}"
                    ),
                    HazardKind::CastMayFail,
                    format!(
                        "fails on duplicate keys in {name}, leaving an INVALID index {constraint} \
                         to drop before retrying"
                    ),
                ),
                statement(format!(
                    "ALTER TABLE {name} ADD CONSTRAINT {constraint} {keyword} USING INDEX {constraint}"
                )),
            ])
        }
        TableChange::AlterColumn {
            name: column,
            change: ColumnChange::SetNotNull,
        } => {
            let check = quote_ident(&not_null_check_name(&table.name, column));
            let col = quote_ident(column);
            Some(vec![
                statement(format!(
                    "ALTER TABLE {name} ADD CONSTRAINT {check} CHECK ({col} IS NOT NULL) NOT VALID"
                )),
                hazardous(
                    format!("ALTER TABLE {name} VALIDATE CONSTRAINT {check}"),
                    HazardKind::CastMayFail,
                    format!("fails if {name}.{col} holds NULLs"),
                ),
                // The validated check proves the column has no NULLs: no second scan.
                statement(format!(
                    "ALTER TABLE {name} ALTER COLUMN {col} SET NOT NULL"
                )),
                statement(format!("ALTER TABLE {name} DROP CONSTRAINT {check}")),
            ])
        }
        _ => None,
    }
}

/// `UNIQUE (a, b)` → (`UNIQUE`, `(a, b)`); `None` for anything fancier (INCLUDE, NULLS
/// NOT DISTINCT, WITH, USING INDEX TABLESPACE), which keeps the plain form.
fn key_columns(definition: &str) -> Option<(&'static str, &str)> {
    let (keyword, rest) = if let Some(rest) = definition.strip_prefix("UNIQUE ") {
        ("UNIQUE", rest)
    } else {
        ("PRIMARY KEY", definition.strip_prefix("PRIMARY KEY ")?)
    };
    let simple = rest.starts_with('(')
        && rest.ends_with(')')
        && rest[1..rest.len() - 1]
            .chars()
            .all(|c| c != '(' && c != ')');
    simple.then_some((keyword, rest))
}

/// A name for the temporary NOT NULL check, within PostgreSQL's 63-byte limit. Not
/// `<table>_<column>_not_null`: PostgreSQL 18 gives that name to the NOT NULL constraint
/// that `SET NOT NULL` creates while the check still exists, which would then be named
/// `..._not_null1`.
fn not_null_check_name(table: &str, column: &str) -> String {
    const SUFFIX: &str = "_nn_check";
    let mut name = format!("{table}_{column}");
    while name.len() > 63 - SUFFIX.len() {
        name.pop();
    }
    name.push_str(SUFFIX);
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrently_goes_after_index() {
        assert_eq!(
            concurrently("CREATE UNIQUE INDEX u ON public.t USING btree (a)"),
            "CREATE UNIQUE INDEX CONCURRENTLY u ON public.t USING btree (a)"
        );
        assert_eq!(
            concurrently("CREATE INDEX \"INDEX x\" ON public.t USING btree (a)"),
            "CREATE INDEX CONCURRENTLY \"INDEX x\" ON public.t USING btree (a)"
        );
    }

    #[test]
    fn only_plain_keys_become_index_first() {
        assert_eq!(key_columns("UNIQUE (email)"), Some(("UNIQUE", "(email)")));
        assert_eq!(
            key_columns("PRIMARY KEY (a, b)"),
            Some(("PRIMARY KEY", "(a, b)"))
        );
        assert_eq!(key_columns("UNIQUE (a) INCLUDE (b)"), None);
        assert_eq!(key_columns("UNIQUE NULLS NOT DISTINCT (a)"), None);
        assert!(not_null_check_name(&"t".repeat(60), "c").len() <= 63);
        assert_eq!(not_null_check_name("accounts", "n"), "accounts_n_nn_check");
    }
}
