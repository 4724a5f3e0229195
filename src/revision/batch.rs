//! A revision's `-- migrate:batch` section: one data-changing statement that the runner
//! repeats over key ranges of one table, one transaction per range, instead of one
//! statement holding its row locks on every row at once.
//!
//! ```text
//! -- migrate:batch table=app.events key=id size=10000 sleep=50ms
//! UPDATE app.events SET kind_id = k.id FROM app.kinds k
//!  WHERE k.name = events.kind AND events.id >= :lo AND events.id < :hi;
//! ```
//!
//! Pure: the options and the statement are checked here; `migrator::batch` runs it.

use super::Script;
use crate::sql::split;

/// The placeholder of a batch's first key (inclusive).
pub const LOW: &str = "lo";
/// The placeholder of the key just past a batch (exclusive).
pub const HIGH: &str = "hi";

/// A batch section of one direction of a revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The table the batches walk, as written: `[schema.]table`, each part unquoted.
    pub table: Vec<String>,
    /// The key columns the ranges are taken over, in order (`key=a` or `key=a,b`): an
    /// index must begin with them, and the last must have a next value (an integer,
    /// `date`, `timestamp[tz]` or `uuid` column).
    pub key: Vec<String>,
    /// Rows per batch (`size=`): the number of keys each range spans.
    pub size: u64,
    /// Pause between two batches, in milliseconds (`sleep=`, default 0).
    pub sleep_ms: u64,
    /// The time one batch should take (`target=`): the size adapts to it, batch after
    /// batch, starting from `size`.
    pub target_ms: Option<u64>,
    /// The replay lag of a replica beyond which the run waits (`max_lag=`).
    pub max_lag_ms: Option<u64>,
    /// Line of the `-- migrate:batch` marker.
    pub line: usize,
    /// The statement run per range, holding `:lo` and `:hi`.
    pub statement: Script,
    /// The section after the batch (a second `-- migrate:upgrade`, or `downgrade`):
    /// runs in the transaction that records the revision, once the last batch committed.
    pub after: Option<Script>,
}

impl Batch {
    /// The table as SQL, each part quoted.
    pub fn table_sql(&self) -> String {
        self.table
            .iter()
            .map(|part| crate::sql::quote_ident(part))
            .collect::<Vec<_>>()
            .join(".")
    }

    /// The table as a person writes it (`app.events`).
    pub fn table_name(&self) -> String {
        self.table.join(".")
    }

    /// The key columns as SQL: `id`, or `tenant_id, id`.
    pub fn key_sql(&self) -> String {
        self.key
            .iter()
            .map(|part| crate::sql::quote_ident(part))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The key as a person writes it: `id`, or `(tenant_id, id)`.
    pub fn key_name(&self) -> String {
        match self.key.as_slice() {
            [one] => one.clone(),
            many => format!("({})", many.join(", ")),
        }
    }

    /// The options as the marker line writes them: `table=app.events key=id size=1000`.
    pub fn options(&self) -> String {
        let key: Vec<String> = self
            .key
            .iter()
            .map(|k| crate::sql::quote_ident(k))
            .collect();
        let mut out = format!(
            "table={} key={} size={}",
            self.table_sql(),
            key.join(","),
            self.size
        );
        if self.sleep_ms > 0 {
            out.push_str(&format!(" sleep={}ms", self.sleep_ms));
        }
        if let Some(target) = self.target_ms {
            out.push_str(&format!(" target={target}ms"));
        }
        if let Some(lag) = self.max_lag_ms {
            out.push_str(&format!(" max_lag={lag}ms"));
        }
        out
    }

    /// The statement with `:lo` and `:hi` turned into parameters: `$1` and `$2` for a
    /// key of one column, padded to the placeholders' length so that an error position
    /// still points at the file's text; `ROW($1, $2)` and `ROW($3, $4)` for a key of two
    /// columns (the low bound's values first).
    pub fn bound_statement(&self) -> String {
        let sql = &self.statement.sql;
        let n = self.key.len().max(1);
        let row = |first: usize| {
            let list: Vec<String> = (first..first + n).map(|i| format!("${i}")).collect();
            format!("ROW({})", list.join(", "))
        };
        let (low, high) = if n == 1 {
            ("$1 ".to_owned(), "$2 ".to_owned())
        } else {
            (row(1), row(n + 1))
        };
        let mut out = String::with_capacity(sql.len());
        let mut copied = 0;
        for (at, name) in split::placeholders(sql) {
            let parameter = match name {
                LOW => low.as_str(),
                HIGH => high.as_str(),
                _ => continue,
            };
            out.push_str(&sql[copied..at]);
            out.push_str(parameter);
            copied = at + 1 + name.len();
        }
        out.push_str(&sql[copied..]);
        out
    }
}

#[cfg(test)]
impl Batch {
    /// A batch section over `table` by `key` (`tenant,id` for two columns), size 10, with
    /// `sql` as its statement: the unit tests' fixture.
    pub(crate) fn for_tests(table: &str, key: &str, sql: &str) -> Batch {
        Batch {
            table: table.split('.').map(str::to_owned).collect(),
            key: key.split(',').map(str::to_owned).collect(),
            size: 10,
            sleep_ms: 0,
            target_ms: None,
            max_lag_ms: None,
            line: 1,
            statement: Script {
                sql: sql.to_owned(),
                line: 2,
                transactional: true,
            },
            after: None,
        }
    }
}

/// The most rows one batch may span: a batch is one transaction, and past this it is no
/// batch any more.
pub const MAX_SIZE: u64 = 10_000_000;

/// Parses `table=S.T key=COL size=N [sleep=DUR] [target=DUR] [max_lag=DUR]` into a batch
/// whose marker line, statement and following section the parser fills in afterwards;
/// the error says what to write.
pub fn parse_options(text: &str) -> Result<Batch, String> {
    let mut table = None;
    let mut key = None;
    let mut size = None;
    let mut sleep_ms = 0;
    let mut target_ms = None;
    let mut max_lag_ms = None;
    let duration = |name: &str, value: &str| {
        crate::config::parse_duration(name, value)
            .map_err(|_| format!("{name}={value}: write a duration such as 50ms, 1s or 0"))
    };
    for word in words(text)? {
        let (name, value) = word
            .split_once('=')
            .ok_or_else(|| format!("`{word}` is not NAME=VALUE"))?;
        match name {
            "table" => {
                let parts = crate::sql::split_dotted(value)?;
                if parts.len() > 2 {
                    return Err(format!("table={value}: write TABLE or SCHEMA.TABLE"));
                }
                table = Some(parts);
            }
            "key" => {
                let mut columns = Vec::new();
                for part in split_list(value)? {
                    match crate::sql::split_dotted(part)?.as_slice() {
                        [column] => columns.push(column.clone()),
                        _ => {
                            return Err(format!(
                                "key={value}: write the key's column names, without their table"
                            ))
                        }
                    }
                }
                key = Some(columns);
            }
            "size" => {
                let n: u64 = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_SIZE).contains(n))
                    .ok_or_else(|| {
                        format!("size={value}: write a number of rows from 1 to {MAX_SIZE}")
                    })?;
                size = Some(n);
            }
            "sleep" => sleep_ms = duration(name, value)?,
            "target" => match duration(name, value)? {
                0 => return Err(format!("target={value}: a batch takes some time; write e.g. 200ms")),
                ms => target_ms = Some(ms),
            },
            "max_lag" => max_lag_ms = Some(duration(name, value)?),
            other => {
                return Err(format!(
                    "unknown option `{other}`; a batch takes table=, key=, size=, sleep=, target= and max_lag="
                ))
            }
        }
    }
    let missing =
        |what: &str| format!("missing {what}= (e.g. `table=app.events key=id size=10000`)");
    Ok(Batch {
        table: table.ok_or_else(|| missing("table"))?,
        key: key.ok_or_else(|| missing("key"))?,
        size: size.ok_or_else(|| missing("size"))?,
        sleep_ms,
        target_ms,
        max_lag_ms,
        line: 0,
        statement: Script::empty(),
        after: None,
    })
}

/// Comma-separated parts, a double-quoted part keeping its commas.
fn split_list(text: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    Ok(out)
}

/// Whitespace-separated words, a double-quoted part keeping its spaces.
fn words(text: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut start = None;
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => {
                start.get_or_insert(i);
                quoted = !quoted;
            }
            c if c.is_whitespace() && !quoted => {
                if let Some(s) = start.take() {
                    out.push(&text[s..i]);
                }
            }
            _ => {
                start.get_or_insert(i);
            }
        }
    }
    if quoted {
        return Err("unterminated double quote".to_owned());
    }
    if let Some(s) = start {
        out.push(&text[s..]);
    }
    Ok(out)
}

/// Checks a batch statement: one statement, with both `:lo` and `:hi` and no other
/// placeholder. The error says what to write.
pub fn check_statement(sql: &str) -> Result<(), String> {
    let statements = split::split(sql);
    match statements.len() {
        0 => return Err("the batch section has no statement; write one holding :lo and :hi".to_owned()),
        1 => {}
        n => {
            return Err(format!(
                "the batch section holds {n} statements; it runs exactly one per range (put the others in the upgrade section before or after it)"
            ))
        }
    }
    let found = split::placeholders(sql);
    if let Some((_, other)) = found.iter().find(|(_, n)| *n != LOW && *n != HIGH) {
        return Err(format!(
            "unknown placeholder :{other}; the batch statement takes :lo (first key, inclusive) and :hi (end key, exclusive)"
        ));
    }
    for needed in [LOW, HIGH] {
        if !found.iter().any(|(_, n)| *n == needed) {
            return Err(format!(
                "the batch statement does not use :{needed}; bound it to the range, e.g. `WHERE id >= :lo AND id < :hi`"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_with_quotes_and_defaults() {
        let o = parse_options(
            r#"table="My App".events key=id size=500 sleep=50ms target=1s max_lag=0"#,
        )
        .expect("ok");
        assert_eq!((o.target_ms, o.max_lag_ms), (Some(1000), Some(0)));
        assert_eq!(o.table, ["My App", "events"]);
        assert_eq!(o.key, ["id"]);
        assert_eq!((o.size, o.sleep_ms), (500, 50));
        let o = parse_options(r#"table=t key=tenant_id,"A,b" size=5"#).expect("composite");
        assert_eq!(o.key, ["tenant_id", "A,b"]);
        let o = parse_options("table=t key=\"Id\" size=1").expect("ok");
        assert_eq!(
            (o.table, o.key, o.sleep_ms),
            (vec!["t".to_owned()], vec!["Id".to_owned()], 0)
        );
    }

    #[test]
    fn bad_options_say_what_to_write() {
        for (text, wanted) in [
            ("key=id size=10", "missing table="),
            ("table=t size=10", "missing key="),
            ("table=t key=id", "missing size="),
            ("table=t key=id size=0", "from 1 to"),
            ("table=t key=id size=ten", "from 1 to"),
            ("table=t key=a,,b size=10", "empty name"),
            ("table=t key=t.a size=10", "without their table"),
            ("table=a.b.c key=id size=10", "SCHEMA.TABLE"),
            ("table=t key=id size=10 sleep=soon", "duration"),
            ("table=t key=id size=10 target=0", "takes some time"),
            ("table=t key=id size=10 max_lag=far", "duration"),
            ("table=t key=id size=10 pace=1", "unknown option `pace`"),
            ("table=\"t key=id size=10", "unterminated"),
            ("table=t key id size=10", "NAME=VALUE"),
        ] {
            let err = parse_options(text).expect_err(text);
            assert!(err.contains(wanted), "{text}: {err}");
        }
    }

    #[test]
    fn statements_need_both_placeholders_once_each_statement() {
        check_statement("UPDATE t SET c = 1 WHERE id >= :lo AND id < :hi").expect("good");
        for (sql, wanted) in [
            ("", "no statement"),
            ("UPDATE t SET c = 1 WHERE id >= :lo", ":hi"),
            ("UPDATE t SET c = ':lo' WHERE id < :hi", ":lo"),
            ("UPDATE t SET c = x::lo WHERE id < :hi", ":lo"),
            ("UPDATE t SET c = :c WHERE id >= :lo AND id < :hi", ":c"),
            ("SELECT :lo, :hi; SELECT 1", "2 statements"),
        ] {
            let err = check_statement(sql).expect_err(sql);
            assert!(err.contains(wanted), "{sql}: {err}");
        }
    }

    #[test]
    fn a_composite_key_binds_rows_of_parameters() {
        let batch = Batch::for_tests(
            "t",
            "tenant,id",
            "DELETE FROM t WHERE (tenant, id) >= :lo AND (tenant, id) < :hi",
        );
        assert_eq!(
            batch.bound_statement(),
            "DELETE FROM t WHERE (tenant, id) >= ROW($1, $2) AND (tenant, id) < ROW($3, $4)"
        );
        assert_eq!(batch.options(), "table=t key=tenant,id size=10");
        assert_eq!(
            (batch.key_sql(), batch.key_name()),
            ("tenant, id".to_owned(), "(tenant, id)".to_owned())
        );
    }

    #[test]
    fn placeholders_become_parameters_of_the_same_length() {
        let batch = Batch::for_tests(
            "t",
            "id",
            "UPDATE t SET c = ':lo'::text || x::hi WHERE id >= :lo AND id < :hi",
        );
        let bound = batch.bound_statement();
        assert_eq!(
            bound,
            "UPDATE t SET c = ':lo'::text || x::hi WHERE id >= $1  AND id < $2 "
        );
        assert_eq!(bound.len(), batch.statement.sql.len());
    }
}
