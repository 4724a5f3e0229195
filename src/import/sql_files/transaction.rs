//! Which scripts PostgreSQL refuses inside a transaction block, and the `BEGIN; … COMMIT;`
//! wrappers that retort's own per-revision transaction makes redundant.

use super::trim_blank;
use crate::sql::split::{split, Statement};

/// Whether some statement of `sql` is one PostgreSQL refuses inside a transaction block
/// (`CREATE INDEX CONCURRENTLY`, `VACUUM`, `CREATE DATABASE`...), so that the script
/// has to run outside retort's per-revision transaction.
pub(crate) fn needs_no_transaction(sql: &str) -> bool {
    split(sql).iter().any(|statement| {
        let words = words(statement.sql);
        refused_in_transaction(&as_strs(&words))
    })
}

fn refused_in_transaction(words: &[&str]) -> bool {
    match words {
        ["CREATE", "INDEX", "CONCURRENTLY", ..]
        | ["CREATE", "UNIQUE", "INDEX", "CONCURRENTLY", ..]
        | ["DROP", "INDEX", "CONCURRENTLY", ..]
        | ["VACUUM", ..]
        | ["CREATE" | "DROP", "DATABASE" | "TABLESPACE", ..]
        | ["ALTER", "SYSTEM", ..]
        | ["ALTER", "DATABASE", _, "SET", "TABLESPACE", ..] => true,
        ["REINDEX", rest @ ..] => reindex_refused(rest),
        // `ALTER TABLE p DETACH PARTITION c CONCURRENTLY` (PostgreSQL 14+).
        ["ALTER", "TABLE", rest @ ..] => {
            rest.contains(&"DETACH") && rest.last() == Some(&"CONCURRENTLY")
        }
        // CLUSTER without a table reclusters the whole database, one transaction a table.
        ["CLUSTER", rest @ ..] => {
            let rest = skip_options(rest);
            rest.is_empty() || rest == ["VERBOSE"]
        }
        _ => false,
    }
}

/// `REINDEX [ (options) ] {INDEX|TABLE|SCHEMA|DATABASE|SYSTEM} [CONCURRENTLY] name`:
/// CONCURRENTLY (as a keyword or an option) and the whole-schema/database kinds commit
/// as they go.
fn reindex_refused(rest: &[&str]) -> bool {
    if rest.first() == Some(&"(") {
        let options = rest.get(1..).unwrap_or_default();
        let options = options
            .iter()
            .position(|w| *w == ")")
            .and_then(|end| options.get(..end))
            .unwrap_or(options);
        let concurrently = options.iter().enumerate().any(|(i, w)| {
            *w == "CONCURRENTLY" && !matches!(options.get(i + 1), Some(&("FALSE" | "OFF" | "0")))
        });
        if concurrently {
            return true;
        }
    }
    matches!(
        skip_options(rest),
        ["SCHEMA" | "DATABASE" | "SYSTEM", ..] | [_, "CONCURRENTLY", ..]
    )
}

/// `rest` after a leading parenthesized option list, if it has one.
fn skip_options<'a, 'b>(rest: &'a [&'b str]) -> &'a [&'b str] {
    if rest.first() != Some(&"(") {
        return rest;
    }
    rest.iter()
        .position(|w| *w == ")")
        .and_then(|end| rest.get(end + 1..))
        .unwrap_or_default()
}

/// BEGIN, COMMIT and the like as statements of their own: the script manages its
/// transactions itself, which a revision run inside retort's transaction cannot.
pub(super) fn is_transaction_control(words: &[&str]) -> bool {
    match words {
        ["BEGIN" | "COMMIT" | "END" | "ABORT", ..] | ["START" | "PREPARE", "TRANSACTION", ..] => {
            true
        }
        // ROLLBACK TO SAVEPOINT stays inside the transaction.
        ["ROLLBACK", rest @ ..] => !rest.iter().take(2).any(|w| *w == "TO"),
        _ => false,
    }
}

fn is_begin(words: &[&str]) -> bool {
    matches!(
        words,
        ["BEGIN"] | ["BEGIN", "TRANSACTION" | "WORK"] | ["START", "TRANSACTION"]
    )
}

fn is_commit(words: &[&str]) -> bool {
    matches!(
        words,
        ["COMMIT" | "END"] | ["COMMIT" | "END", "TRANSACTION" | "WORK"]
    )
}

/// Where a `BEGIN; … COMMIT;` around the whole script is: (offset of BEGIN, end of its
/// `;`, offset of COMMIT).
pub(super) fn wrapper(sql: &str, statements: &[Statement<'_>]) -> Option<(usize, usize, usize)> {
    let (first, last) = match statements {
        [first, .., last] => (first, last),
        _ => return None,
    };
    if !is_begin(&as_strs(&words(first.sql))) || !is_commit(&as_strs(&words(last.sql))) {
        return None;
    }
    let mut body = first.offset + first.sql.len();
    let rest = sql.get(body..)?;
    let spaces = rest.len() - rest.trim_start().len();
    if rest.get(spaces..)?.starts_with(';') {
        body += spaces + 1;
    }
    Some((first.offset, body, last.offset))
}

/// `sql` without a `BEGIN; … COMMIT;` around all of it (comments before the BEGIN are
/// kept), and whether there was one: retort runs each revision in a transaction of its
/// own, so the script's is redundant.
pub(crate) fn strip_transaction_wrapper(sql: &str) -> (String, bool) {
    let Some((begin, body, commit)) = wrapper(sql, &split(sql)) else {
        return (sql.to_owned(), false);
    };
    let head = trim_blank(sql.get(..begin).unwrap_or_default());
    let inner = trim_blank(
        sql.get(body..commit)
            .unwrap_or_default()
            .trim_start_matches([' ', '\t']),
    );
    let stripped = match (head.is_empty(), inner.is_empty()) {
        (true, _) => inner.to_owned(),
        (false, true) => head.to_owned(),
        (false, false) => format!("{head}\n{inner}"),
    };
    (stripped, true)
}

/// The first keywords of a statement, upper-cased, with comments skipped: enough to
/// recognise the statement. Quoted names and strings become `"` and `'` (their content
/// never matters here), other punctuation its own word; the reading stops at a dollar
/// quote, which no statement looked for has before its deciding words.
pub(super) fn words(sql: &str) -> Vec<String> {
    const LIMIT: usize = 64;
    let bytes = sql.as_bytes();
    let at = |i: usize| bytes.get(i).copied();
    let mut words = Vec::new();
    let mut i = 0;
    while words.len() < LIMIT {
        let Some(b) = at(i) else { break };
        match b {
            _ if b.is_ascii_whitespace() => i += 1,
            b'-' if at(i + 1) == Some(b'-') => {
                while at(i).is_some_and(|b| b != b'\n' && b != b'\r') {
                    i += 1;
                }
            }
            b'/' if at(i + 1) == Some(b'*') => {
                let mut depth = 0usize;
                loop {
                    match (at(i), at(i + 1)) {
                        (None, _) => return words,
                        (Some(b'/'), Some(b'*')) => {
                            depth += 1;
                            i += 2;
                        }
                        (Some(b'*'), Some(b'/')) => {
                            depth -= 1;
                            i += 2;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => i += 1,
                    }
                }
            }
            b'"' | b'\'' => {
                i += 1;
                loop {
                    match at(i) {
                        None => break,
                        Some(q) if q == b => {
                            i += 1;
                            // A doubled quote is the quote character itself.
                            if at(i) != Some(b) {
                                break;
                            }
                            i += 1;
                        }
                        Some(_) => i += 1,
                    }
                }
                words.push(char::from(b).to_string());
            }
            b'$' => break,
            _ if b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80 => {
                let start = i;
                while at(i).is_some_and(|b| {
                    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
                }) {
                    i += 1;
                }
                let word = bytes.get(start..i).unwrap_or_default();
                words.push(String::from_utf8_lossy(word).to_ascii_uppercase());
            }
            _ => {
                words.push(char::from(b).to_string());
                i += 1;
            }
        }
    }
    words
}

pub(super) fn as_strs(words: &[String]) -> Vec<&str> {
    words.iter().map(String::as_str).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_refused_in_a_transaction() {
        let refused = [
            "CREATE INDEX CONCURRENTLY i ON t (c)",
            "create unique index concurrently i on t (c);",
            "CREATE /* why */ INDEX -- not now\n CONCURRENTLY IF NOT EXISTS i ON t (c)",
            "DROP INDEX CONCURRENTLY IF EXISTS i",
            "REINDEX INDEX CONCURRENTLY i",
            "REINDEX (VERBOSE, CONCURRENTLY) TABLE t",
            "REINDEX (CONCURRENTLY true) TABLE t",
            "REINDEX SCHEMA public",
            "REINDEX DATABASE app",
            "VACUUM (ANALYZE) t",
            "vacuum",
            "CREATE DATABASE app",
            "DROP DATABASE IF EXISTS app",
            "ALTER SYSTEM SET work_mem = '64MB'",
            "CREATE TABLESPACE fast LOCATION '/ssd'",
            "DROP TABLESPACE fast",
            "ALTER DATABASE \"my app\" SET TABLESPACE fast",
            "ALTER TABLE p DETACH PARTITION p1 CONCURRENTLY",
            "CLUSTER",
            "CLUSTER VERBOSE",
            "SELECT 1; CREATE INDEX CONCURRENTLY i ON t (c);",
        ];
        for sql in refused {
            assert!(needs_no_transaction(sql), "{sql}");
        }
        let allowed = [
            "CREATE INDEX i ON t (c)",
            "CREATE TABLE concurrently (x int)",
            "SELECT 'CREATE INDEX CONCURRENTLY i ON t (c)'",
            "-- CREATE INDEX CONCURRENTLY i ON t (c)\nSELECT 1",
            "DO $$ BEGIN VACUUM; END $$",
            "REINDEX TABLE t",
            "REINDEX (CONCURRENTLY false) TABLE t",
            "ALTER DATABASE app SET work_mem = '64MB'",
            "ALTER TABLE p DETACH PARTITION p1",
            "CLUSTER t USING i",
            "CREATE TABLE \"vacuum\" (x int)",
            "",
        ];
        for sql in allowed {
            assert!(!needs_no_transaction(sql), "{sql}");
        }
    }

    #[test]
    fn transaction_wrappers() {
        let cases = [
            ("BEGIN;\nSELECT 1;\nCOMMIT;", "SELECT 1;", true),
            ("START TRANSACTION;\nSELECT 1;\nEND;\n", "SELECT 1;", true),
            ("BEGIN WORK; SELECT 1; COMMIT WORK;", "SELECT 1;", true),
            (
                "-- head\n\nBEGIN;\n\nSELECT 1;\n\nCOMMIT TRANSACTION;\n-- tail",
                "-- head\nSELECT 1;",
                true,
            ),
            ("BEGIN;\nCOMMIT;", "", true),
            (
                "BEGIN ISOLATION LEVEL SERIALIZABLE;\nSELECT 1;\nCOMMIT;",
                "",
                false,
            ),
            ("BEGIN;\nSELECT 1;", "", false),
            ("SELECT 1;\nCOMMIT;", "", false),
            ("SELECT 1;", "", false),
            (
                "CREATE FUNCTION f() RETURNS int BEGIN ATOMIC SELECT 1; END;",
                "",
                false,
            ),
        ];
        for (sql, stripped, wrapped) in cases {
            let (got, was_wrapped) = strip_transaction_wrapper(sql);
            assert_eq!(was_wrapped, wrapped, "{sql}");
            if wrapped {
                assert_eq!(got, stripped, "{sql}");
            } else {
                assert_eq!(got, sql);
            }
        }
    }
}
