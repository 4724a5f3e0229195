//! Finding a plain dump's failed statements. psql names only the line a failed
//! statement ends on, so the dump is read again up to the last such line and split the
//! way psql splits it ([`split_psql`]) to tell which statement each line belongs to.
//!
//! A dump can be far larger than memory, and its bulk is COPY rows, so it is read a
//! chunk of whole lines at a time: each chunk is split, what is settled is used, and
//! the next chunk starts where the last unsettled piece did. Rows that go on past a
//! chunk are skipped line by line without being kept.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::stderr::Reported;
use super::{first_chars, STATEMENT_CHARS};
use crate::sql::split::{ends_copy_data, split_psql, Piece};

/// How much text is split at once; a statement longer than that grows the chunk.
const CHUNK_BYTES: usize = 1 << 20;

/// Fills in the first line of each failed statement of a plain dump (reported by psql
/// with its line), leaving the statement empty when the file cannot be read again.
pub(super) fn fill_statements(path: &Path, errors: &mut [Reported]) {
    let wanted: BTreeSet<usize> = errors.iter().filter_map(|e| e.line).collect();
    if wanted.is_empty() {
        return;
    }
    let Ok(file) = File::open(path) else {
        return;
    };
    let found = owners(BufReader::new(file), &wanted, CHUNK_BYTES);
    for error in errors.iter_mut() {
        if let Some(text) = error.line.and_then(|n| found.get(&n)) {
            error.statement = text.clone();
        }
    }
}

/// For each wanted line (1-based) of the psql script `reader`, the first line of the
/// statement it belongs to: the one under way when the line starts, else the first one
/// starting on it; COPY rows and their `\.` belong to the COPY. A line with neither
/// (a comment) stands for itself. Reading stops after the last wanted line; `chunk_bytes`
/// is how much is split at once.
fn owners(
    mut reader: impl BufRead,
    wanted: &BTreeSet<usize>,
    chunk_bytes: usize,
) -> BTreeMap<usize, String> {
    let mut found = BTreeMap::new();
    let Some(&last) = wanted.last() else {
        return found;
    };
    let mut chunk = Chunk {
        first_line: 1,
        ..Chunk::default()
    };
    // The number of the next line to read.
    let mut next = 1;
    let mut at_end = false;
    let mut limit = chunk_bytes;
    let mut line = Vec::new();
    while !at_end {
        // Rows of a COPY that went on past the previous chunk: not SQL, and possibly
        // most of the file, so only looked at one line at a time.
        if let Some(copy) = chunk.copy.take() {
            loop {
                line.clear();
                if next > last || !matches!(reader.read_until(b'\n', &mut line), Ok(1..)) {
                    return found;
                }
                if wanted.contains(&next) {
                    found.insert(next, copy.clone());
                }
                next += 1;
                if ends_copy_data(&String::from_utf8_lossy(&line)) {
                    break;
                }
            }
            chunk = Chunk {
                first_line: next,
                ..Chunk::default()
            };
        }
        while chunk.text.len() < limit {
            line.clear();
            if next > last || !matches!(reader.read_until(b'\n', &mut line), Ok(1..)) {
                at_end = true;
                break;
            }
            chunk.text.push_str(&String::from_utf8_lossy(&line));
            next += 1;
        }
        let settled = chunk.settle(wanted, &mut found, at_end);
        // A single statement longer than the chunk: read on before splitting again.
        limit = if settled {
            chunk_bytes
        } else {
            limit.saturating_mul(2)
        };
    }
    found
}

/// Lines of the script being split: whole lines, except that the first may begin in
/// the middle (where the previous chunk's last unsettled piece began).
#[derive(Debug, Default)]
struct Chunk {
    text: String,
    /// The number of the line `text` starts in.
    first_line: usize,
    /// For a first line that begins earlier: its owner, when the earlier part settled it.
    carried: Option<String>,
    /// Inside COPY rows that go on past `text`: the COPY's first line.
    copy: Option<String>,
}

impl Chunk {
    /// Splits the chunk, records the owners of the wanted lines it settles, and keeps
    /// only the rest (or moves on to COPY rows). Returns whether anything was settled.
    /// At the end of the input every piece is settled.
    fn settle(
        &mut self,
        wanted: &BTreeSet<usize>,
        found: &mut BTreeMap<usize, String>,
        at_end: bool,
    ) -> bool {
        let text = self.text.as_str();
        let pieces = split_psql(text);
        // Where the pieces still open to what follows start: the splitter starts afresh
        // at a piece's start, so from there the next chunk gives the same pieces.
        let (cut, copy) = match pieces.last() {
            _ if at_end => (text.len(), None),
            None => (text.len(), None),
            Some(Piece::CopyData(rows)) if rows.terminated => (rows.end, None),
            Some(Piece::CopyData(rows)) => {
                let copy_before = pieces.iter().rev().skip(1).find_map(|p| match p {
                    Piece::Sql(s) => Some(s.offset),
                    _ => None,
                });
                if copy_before == Some(rows.copy_offset) {
                    (text.len(), Some(label(text, rows.copy_offset)))
                } else {
                    // Something started after the COPY on its line, and is not done.
                    (rows.copy_offset, None)
                }
            }
            Some(Piece::Sql(s)) => (s.offset, None),
            Some(Piece::Meta(m)) => (m.offset, None),
        };
        if cut == 0 && copy.is_none() && !text.is_empty() {
            return false;
        }
        let spans: Vec<Span> = pieces
            .iter()
            .filter_map(|piece| Span::of(text, piece))
            .filter(|span| span.start < cut)
            .collect();
        let mut carried = self.carried.take();
        let mut line_start = 0;
        let mut number = self.first_line;
        while line_start < cut {
            let line_end = text
                .get(line_start..)
                .and_then(|rest| rest.find('\n'))
                .map_or(text.len(), |i| line_start + i + 1);
            let owner = if line_start == 0 {
                carried.take()
            } else {
                None
            }
            .or_else(|| {
                spans
                    .iter()
                    .find(|s| s.start < line_start && line_start < s.end)
                    .or_else(|| {
                        spans
                            .iter()
                            .find(|s| s.start >= line_start && s.start < line_end)
                    })
                    .map(|s| s.label.clone())
            });
            if line_end > cut {
                // The cut piece starts on this line: the next chunk settles it, unless
                // something before the cut already has.
                carried = owner;
                break;
            }
            if wanted.contains(&number) {
                let own = text.get(line_start..line_end).unwrap_or_default().trim();
                let owner = owner.unwrap_or_else(|| first_chars(own, STATEMENT_CHARS));
                found.insert(number, owner);
            }
            line_start = line_end;
            number += 1;
        }
        *self = Chunk {
            text: text.get(cut..).unwrap_or_default().to_owned(),
            first_line: number,
            carried,
            copy,
        };
        true
    }
}

/// Where a piece owns the lines that start inside it, and what stands for it.
#[derive(Debug)]
struct Span {
    start: usize,
    /// Lines starting before `end` (and after `start`) belong to the piece.
    end: usize,
    label: String,
}

impl Span {
    fn of(text: &str, piece: &Piece<'_>) -> Option<Span> {
        match piece {
            // psql only sees the `;` after the line it is on has begun.
            Piece::Sql(s) => Some(Span {
                start: s.offset,
                end: s.end,
                label: label(text, s.offset),
            }),
            // Its own line is all a meta-command has; one inside a statement is
            // part of that statement.
            Piece::Meta(m) if !m.in_statement => Some(Span {
                start: m.offset,
                end: m.offset,
                label: label(text, m.offset),
            }),
            Piece::Meta(_) => None,
            Piece::CopyData(rows) => Some(Span {
                start: rows.offset,
                end: rows.end,
                label: label(text, rows.copy_offset),
            }),
        }
    }
}

/// The first line of what starts at `offset`, as shown in errors.
fn label(text: &str, offset: usize) -> String {
    let rest = text.get(offset..).unwrap_or_default();
    let line = rest.split('\n').next().unwrap_or_default();
    first_chars(line.trim(), STATEMENT_CHARS)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::classify::classify;
    use super::super::stderr::parse_psql;
    use super::*;

    /// psql 15 running a plain dump with ON_ERROR_STOP=0 (the file is PLAIN_SQL).
    const PSQL_STDERR: &str = r#"psql:dir: odd/y.sql:5: ERROR:  type "nosuchtype" does not exist
LINE 3:     b nosuchtype
              ^
psql:dir: odd/y.sql:7: ERROR:  role "nobody" does not exist
psql:dir: odd/y.sql:8: WARNING:  no privileges were granted for "t"
psql:dir: odd/y.sql:13: ERROR:  invalid input syntax for type integer: "x"
CONTEXT:  COPY t, line 2, column id: "x"
psql:dir: odd/y.sql:19: ERROR:  column "nosuch" does not exist
LINE 4:  SELECT nosuch;
                ^
psql:dir: odd/y.sql:27: ERROR:  role "nobody" does not exist
psql:dir: odd/y.sql:28: ERROR:  must be owner of extension plpgsql
psql:dir: odd/y.sql:31: ERROR:  must be owner of table t
psql:dir: odd/y.sql:32: ERROR:  permission denied for table t
psql:dir: odd/y.sql:33: ERROR:  must be owner of schema public
psql:dir: odd/y.sql:35: error: invalid command \restrict
psql:dir: odd/y.sql:36: ERROR:  must be owner of table t
"#;

    const PLAIN_SQL: &str = r#"SET client_min_messages = warning;
CREATE TABLE public.a (
    id integer NOT NULL,
    b nosuchtype
);

ALTER TABLE public.t OWNER TO nobody;
GRANT SELECT ON TABLE public.t TO nobody;
CREATE TABLE public.t (id int, s text);
COPY public.t (id, s) FROM stdin;
1	a;
x	b
\.

CREATE FUNCTION public.g() RETURNS integer
    LANGUAGE sql
    BEGIN ATOMIC
 SELECT nosuch;
END;
CREATE FUNCTION public.h() RETURNS integer
    LANGUAGE plpgsql
    AS $body$
begin
  -- a ; in a comment; 'quotes' too
  return 1;
end $body$;
ALTER FUNCTION public.h() OWNER TO nobody;
COMMENT ON EXTENSION plpgsql IS 'PL/pgSQL; procedural language';
CREATE ROLE lowly;
SET ROLE lowly;
ALTER TABLE public.t OWNER TO lowly;
GRANT SELECT ON TABLE public.t TO lowly;
COMMENT ON SCHEMA public IS 'standard public schema';
RESET ROLE;
\restrict abc
ALTER TABLE public.t
    ADD COLUMN c text; /* a comment */ SELECT 'it''s;' AS "a;b", E'\';' AS e;
"#;

    fn write_plain(dir: &Path) -> PathBuf {
        let sub = dir.join("dir: odd");
        std::fs::create_dir_all(&sub).expect("create the test directory");
        let path = sub.join("y.sql");
        std::fs::write(&path, PLAIN_SQL).expect("write the test dump");
        path
    }

    #[test]
    fn psql_errors_are_located_in_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = write_plain(dir.path());
        let mut errors = parse_psql(PSQL_STDERR);
        let lines: Vec<_> = errors.iter().filter_map(|e| e.line).collect();
        assert_eq!(lines, [5, 7, 13, 19, 27, 28, 31, 32, 33, 35, 36]);
        assert_eq!(errors[0].location.as_deref(), Some("dir: odd/y.sql:5"));
        assert_eq!(
            errors[2].detail,
            ["CONTEXT: COPY t, line 2, column id: \"x\""]
        );
        assert_eq!(errors[9].message, "invalid command \\restrict");
        fill_statements(&path, &mut errors);
        let statements: Vec<_> = errors.iter().map(|e| e.statement.as_str()).collect();
        assert_eq!(
            statements,
            [
                "CREATE TABLE public.a (",
                "ALTER TABLE public.t OWNER TO nobody;",
                "COPY public.t (id, s) FROM stdin;",
                "CREATE FUNCTION public.g() RETURNS integer",
                "ALTER FUNCTION public.h() OWNER TO nobody;",
                "COMMENT ON EXTENSION plpgsql IS 'PL/pgSQL; procedural language';",
                "ALTER TABLE public.t OWNER TO lowly;",
                "GRANT SELECT ON TABLE public.t TO lowly;",
                "COMMENT ON SCHEMA public IS 'standard public schema';",
                "\\restrict abc",
                "ALTER TABLE public.t",
            ]
        );

        let outcome = classify(errors, 0);
        let skipped: Vec<_> = outcome
            .skipped
            .iter()
            .map(|s| s.location.rsplit(':').next().unwrap_or_default())
            .collect();
        assert_eq!(skipped, ["7", "27", "28", "31", "32", "33"]);
        assert_eq!(outcome.real_total, 5);
        let real: Vec<_> = outcome.shown.iter().map(|f| f.location.as_str()).collect();
        assert_eq!(
            real,
            [
                "dir: odd/y.sql:5",
                "dir: odd/y.sql:13",
                "dir: odd/y.sql:19",
                "dir: odd/y.sql:35",
                "dir: odd/y.sql:36",
            ]
        );
        // "must be owner" is noise for OWNER TO, not for changing a table's columns.
        assert_eq!(outcome.shown[4].message, "must be owner of table t");
    }

    /// Owners of every line of `text`, split `chunk_bytes` at a time.
    fn every_owner(text: &str, chunk_bytes: usize) -> BTreeMap<usize, String> {
        let all: BTreeSet<usize> = (1..=text.split('\n').count()).collect();
        owners(text.as_bytes(), &all, chunk_bytes)
    }

    #[test]
    fn lines_belong_to_the_statement_psql_sees_them_in() {
        let whole = every_owner(PLAIN_SQL, usize::MAX);
        let at = |line: usize| whole.get(&line).map(String::as_str);
        assert_eq!(at(1), Some("SET client_min_messages = warning;"));
        assert_eq!(at(4), Some("CREATE TABLE public.a ("));
        // A blank line stands for itself.
        assert_eq!(at(6), Some(""));
        assert_eq!(at(10), Some("COPY public.t (id, s) FROM stdin;"));
        assert_eq!(at(11), Some("COPY public.t (id, s) FROM stdin;"));
        assert_eq!(at(13), Some("COPY public.t (id, s) FROM stdin;"));
        assert_eq!(at(14), Some(""));
        assert_eq!(at(18), Some("CREATE FUNCTION public.g() RETURNS integer"));
        assert_eq!(at(23), Some("CREATE FUNCTION public.h() RETURNS integer"));
        assert_eq!(at(24), Some("CREATE FUNCTION public.h() RETURNS integer"));
        assert_eq!(at(26), Some("CREATE FUNCTION public.h() RETURNS integer"));
        assert_eq!(at(27), Some("ALTER FUNCTION public.h() OWNER TO nobody;"));
        assert_eq!(at(35), Some("\\restrict abc"));
        assert_eq!(at(37), Some("ALTER TABLE public.t"));
        // However the file is cut into chunks, the answer is the same.
        for chunk_bytes in 1..=PLAIN_SQL.len() + 1 {
            assert_eq!(every_owner(PLAIN_SQL, chunk_bytes), whole, "{chunk_bytes}");
        }
    }

    #[test]
    fn copy_rows_meta_commands_and_crlf_in_chunks() {
        let text = "SELECT 1; SELECT\n2;\r\nCOPY t FROM stdin;\r\na'b\r\n$$;\r\n\\.\r\n\
                    \\connect x\nSELECT 'multi\nline'; -- c\n/* long\ncomment */\n\
                    SELECT 3 \\g\nSELECT 4;\nCOPY u FROM stdin; SELECT\n5;\nrow\n\\.\nEND;";
        let whole = every_owner(text, usize::MAX);
        let lines: Vec<&str> = whole.values().map(String::as_str).collect();
        assert_eq!(
            lines,
            [
                "SELECT 1; SELECT",
                // A statement is shown from where it starts.
                "SELECT",
                "COPY t FROM stdin;",
                "COPY t FROM stdin;",
                "COPY t FROM stdin;",
                "COPY t FROM stdin;",
                "\\connect x",
                "SELECT 'multi",
                "SELECT 'multi",
                "/* long",
                "comment */",
                "SELECT 3 \\g",
                "SELECT 3 \\g",
                "COPY u FROM stdin; SELECT",
                "SELECT",
                // Rows start once no statement is under way.
                "COPY u FROM stdin; SELECT",
                "COPY u FROM stdin; SELECT",
                "END;",
            ]
        );
        for chunk_bytes in 1..=text.len() + 1 {
            assert_eq!(every_owner(text, chunk_bytes), whole, "{chunk_bytes}");
        }
    }

    #[test]
    fn reading_stops_after_the_last_wanted_line() {
        let text = "COPY t FROM stdin;\n1\n2\n3\n\\.\nSELECT 1;\n";
        let wanted = BTreeSet::from([3]);
        for chunk_bytes in [1, 4, 1000] {
            let found = owners(text.as_bytes(), &wanted, chunk_bytes);
            assert_eq!(
                found,
                BTreeMap::from([(3, "COPY t FROM stdin;".to_owned())]),
                "{chunk_bytes}"
            );
        }
        assert!(owners(text.as_bytes(), &BTreeSet::new(), 4).is_empty());
        assert!(owners(&b""[..], &BTreeSet::from([1]), 4).is_empty());
    }
}
