//! Parsing what `pg_restore --verbose` and `psql` write on stderr about each failed
//! statement: its location (TOC entry, or file and line), the message with its DETAIL,
//! HINT and CONTEXT lines, and (from pg_restore) the statement itself.

use super::{first_chars, STATEMENT_CHARS};

/// One failed statement as a program reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Reported {
    /// TOC entry, phase or "file:line"; None when the program gave none.
    pub(super) location: Option<String>,
    /// psql's line number, to find the statement in the file.
    pub(super) line: Option<usize>,
    /// The message without the program's decoration ("could not execute query: ",
    /// "ERROR:  ").
    pub(super) message: String,
    /// The server's own message, what classification looks at.
    pub(super) server_message: String,
    pub(super) detail: Vec<String>,
    /// The first line of the statement, when known.
    pub(super) statement: String,
}

#[derive(Debug, Default)]
pub(super) struct PgRestoreErrors {
    pub(super) errors: Vec<Reported>,
    /// The count in "warning: errors ignored on restore: N".
    pub(super) ignored: Option<usize>,
}

/// Splits "could not execute query: ERROR:  role "x" does not exist" into the message to
/// show and the server's part.
fn split_message(text: &str) -> (String, String) {
    let text = text.trim();
    let text = text
        .strip_prefix("could not execute query: ")
        .unwrap_or(text);
    for level in ["ERROR:", "FATAL:", "PANIC:"] {
        if let Some(at) = text.find(level) {
            let server = text[at + level.len()..].trim().to_owned();
            let before = text[..at].trim_end();
            let shown = if before.is_empty() {
                server.clone()
            } else {
                format!("{before} {server}")
            };
            return (shown, server);
        }
    }
    (text.to_owned(), text.to_owned())
}

/// A continuation line of a server error (after the message line) worth keeping.
fn detail_line(line: &str) -> Option<String> {
    ["DETAIL:", "HINT:", "CONTEXT:"]
        .iter()
        .find(|p| line.starts_with(**p))
        .map(|_| line.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Parses pg_restore's (--verbose) stderr. Per failed statement it writes
///
/// ```text
/// pg_restore: while PROCESSING TOC:
/// pg_restore: from TOC entry 215; 1259 16386 TABLE public t postgres
/// pg_restore: error: could not execute query: ERROR:  role "rdsadmin" does not exist
/// Command was: CREATE POLICY ...
/// ```
///
/// where the "from TOC entry" line is left out when the entry is the same as for the
/// previous error, and at the end "pg_restore: warning: errors ignored on restore: N".
pub(super) fn parse_pg_restore(stderr: &str) -> PgRestoreErrors {
    let mut out = PgRestoreErrors::default();
    let mut phase: Option<String> = None;
    let mut entry: Option<String> = None;
    let mut current: Option<usize> = None;
    let mut command: Option<Vec<&str>> = None;
    let finish_command = |out: &mut PgRestoreErrors, current: Option<usize>, lines: Vec<&str>| {
        if let Some(error) = current.and_then(|i| out.errors.get_mut(i)) {
            if let Some(first) = lines.iter().map(|l| l.trim()).find(|l| !l.is_empty()) {
                error.statement = first_chars(first, STATEMENT_CHARS);
            }
        }
    };
    for line in stderr.lines() {
        let Some(rest) = line.strip_prefix("pg_restore: ") else {
            if let Some(first) = line.strip_prefix("Command was: ") {
                command = Some(vec![first]);
            } else if let Some(lines) = command.as_mut() {
                lines.push(line);
            } else if let (Some(detail), Some(error)) = (
                detail_line(line),
                current.and_then(|i| out.errors.get_mut(i)),
            ) {
                error.detail.push(detail);
            }
            continue;
        };
        if let Some(lines) = command.take() {
            finish_command(&mut out, current, lines);
        }
        if let Some(name) = rest
            .strip_prefix("while ")
            .and_then(|r| r.strip_suffix(':'))
        {
            phase = Some(name.to_owned());
            entry = None;
            current = None;
        } else if let Some(toc) = rest.strip_prefix("from ") {
            entry = Some(toc.trim().to_owned());
        } else if let Some(message) = rest.strip_prefix("error: ") {
            let (message, server_message) = split_message(message);
            let location = entry
                .clone()
                .or_else(|| phase.as_ref().map(|p| format!("while {p}")));
            out.errors.push(Reported {
                location,
                line: None,
                message,
                server_message,
                detail: Vec::new(),
                statement: String::new(),
            });
            current = Some(out.errors.len() - 1);
        } else if let Some(count) = rest.strip_prefix("warning: errors ignored on restore: ") {
            out.ignored = count.trim().parse().ok();
            current = None;
        } else if let Some(detail) = rest
            .strip_prefix("detail: ")
            .or_else(|| rest.strip_prefix("hint: "))
        {
            if let Some(error) = current.and_then(|i| out.errors.get_mut(i)) {
                error.detail.push(detail.trim().to_owned());
            }
        } else {
            // Progress ("creating TABLE ...") and other warnings end an error's text.
            current = None;
        }
    }
    if let Some(lines) = command.take() {
        finish_command(&mut out, current, lines);
    }
    out
}

/// psql's message levels that mean a statement (or meta-command) failed.
const PSQL_ERRORS: &[&str] = &["ERROR", "FATAL", "PANIC", "error"];

/// Levels psql prefixes with the location too, that do not.
const PSQL_OTHERS: &[&str] = &[
    "WARNING", "NOTICE", "INFO", "LOG", "DEBUG", "warning", "detail", "hint", "DETAIL", "HINT",
    "CONTEXT",
];

/// Splits "psql:FILE:LINE: LEVEL: message" (FILE may contain colons).
fn split_psql_line(line: &str) -> Option<(&str, usize, &str, &str)> {
    let rest = line.strip_prefix("psql:")?;
    let mut search = 0;
    while let Some(found) = rest[search..].find(": ") {
        let at = search + found;
        search = at + 2;
        let before = &rest[..at];
        let Some((file, number)) = before.rsplit_once(':') else {
            continue;
        };
        let Ok(number) = number.parse::<usize>() else {
            continue;
        };
        let after = &rest[at + 2..];
        let Some((level, message)) = after.split_once(':') else {
            continue;
        };
        if PSQL_ERRORS.contains(&level) || PSQL_OTHERS.contains(&level) {
            return Some((file, number, level, message.trim()));
        }
    }
    None
}

/// Parses psql's stderr: `psql:FILE:LINE: ERROR:  message`, followed by the server's
/// LINE/DETAIL/HINT/CONTEXT lines. The statement is not repeated; [`fill_statements`]
/// finds it in the file.
pub(super) fn parse_psql(stderr: &str) -> Vec<Reported> {
    let mut errors: Vec<Reported> = Vec::new();
    let mut current: Option<usize> = None;
    for line in stderr.lines() {
        if let Some((file, number, level, message)) = split_psql_line(line) {
            current = None;
            if PSQL_ERRORS.contains(&level) {
                let (message, server_message) = split_message(message);
                errors.push(Reported {
                    location: Some(format!("{file}:{number}")),
                    line: Some(number),
                    message,
                    server_message,
                    detail: Vec::new(),
                    statement: String::new(),
                });
                current = Some(errors.len() - 1);
            } else if matches!(level, "detail" | "hint" | "DETAIL" | "HINT" | "CONTEXT") {
                if let Some(error) = errors.last_mut() {
                    error.detail.push(format!("{level}: {message}"));
                }
            }
        } else if let Some(message) = line.strip_prefix("psql: error: ") {
            let (message, server_message) = split_message(message);
            errors.push(Reported {
                location: None,
                line: None,
                message,
                server_message,
                detail: Vec::new(),
                statement: String::new(),
            });
            current = Some(errors.len() - 1);
        } else if let (Some(detail), Some(error)) =
            (detail_line(line), current.and_then(|i| errors.get_mut(i)))
        {
            error.detail.push(detail);
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::classify::{classify, SHOWN_ERRORS};
    use super::super::RestoreError;
    use super::*;

    /// pg_restore 15 --verbose restoring into a database where some objects already
    /// existed, from a dump whose owner role was dropped.
    const PG_RESTORE_STDERR: &str = r#"pg_restore: connecting to database for restore
pg_restore: creating FUNCTION "public.h()"
pg_restore: while PROCESSING TOC:
pg_restore: from TOC entry 216; 1255 16486 FUNCTION h() postgres
pg_restore: error: could not execute query: ERROR:  function "h" already exists with same argument types
Command was: CREATE FUNCTION public.h() RETURNS integer
    LANGUAGE plpgsql
    AS $$
begin

  return 1;
end $$;


pg_restore: creating TABLE "public.t"
pg_restore: from TOC entry 214; 1259 16478 TABLE t r_y
pg_restore: error: could not execute query: ERROR:  relation "t" already exists
Command was: CREATE TABLE public.t (
    id integer NOT NULL,
    s text
);


pg_restore: creating VIEW "public.v"
pg_restore: processing data for table "public.t"
pg_restore: from TOC entry 3347; 0 16478 TABLE DATA t r_y
pg_restore: error: COPY failed for table "t": ERROR:  null value in column "x" of relation "t" violates not-null constraint
DETAIL:  Failing row contains (1, a, null).
CONTEXT:  COPY t, line 1: "1	a"
pg_restore: creating CONSTRAINT "public.t t_pkey"
pg_restore: creating POLICY "public.t p"
pg_restore: from TOC entry 3346; 3256 16485 POLICY t p r_y
pg_restore: error: could not execute query: ERROR:  role "r_y" does not exist
Command was: CREATE POLICY p ON public.t TO r_y USING (true);


pg_restore: creating ACL "public.TABLE t"
pg_restore: error: could not execute query: ERROR:  role "rdsadmin" does not exist
Command was: GRANT SELECT ON TABLE public.t TO rdsadmin;


pg_restore: warning: errors ignored on restore: 5
"#;

    #[test]
    fn pg_restore_errors_are_located_and_classified() {
        let parsed = parse_pg_restore(PG_RESTORE_STDERR);
        assert_eq!(parsed.ignored, Some(5));
        let locations: Vec<_> = parsed
            .errors
            .iter()
            .map(|e| e.location.as_deref().unwrap_or("-"))
            .collect();
        assert_eq!(
            locations,
            [
                "TOC entry 216; 1255 16486 FUNCTION h() postgres",
                "TOC entry 214; 1259 16478 TABLE t r_y",
                "TOC entry 3347; 0 16478 TABLE DATA t r_y",
                "TOC entry 3346; 3256 16485 POLICY t p r_y",
                // pg_restore does not repeat the entry line for the ACL: the last one stands
                // (its progress line says which ACL it was).
                "TOC entry 3346; 3256 16485 POLICY t p r_y",
            ]
        );
        let first = &parsed.errors[0];
        assert_eq!(
            first.message,
            "function \"h\" already exists with same argument types"
        );
        assert_eq!(
            first.statement,
            "CREATE FUNCTION public.h() RETURNS integer"
        );
        assert_eq!(parsed.errors[1].statement, "CREATE TABLE public.t (");
        let copy = &parsed.errors[2];
        assert_eq!(
            copy.message,
            "COPY failed for table \"t\": null value in column \"x\" of relation \"t\" violates \
             not-null constraint"
        );
        assert_eq!(
            copy.detail,
            [
                "DETAIL: Failing row contains (1, a, null).",
                "CONTEXT: COPY t, line 1: \"1 a\""
            ]
        );
        assert_eq!(copy.statement, "");
        assert_eq!(
            parsed.errors[3].server_message,
            "role \"r_y\" does not exist"
        );
        assert_eq!(
            parsed.errors[4].statement,
            "GRANT SELECT ON TABLE public.t TO rdsadmin;"
        );

        let outcome = classify(parsed.errors, 5);
        assert_eq!(outcome.real_total, 3);
        assert_eq!(outcome.shown.len(), 3);
        let skipped: Vec<_> = outcome.skipped.iter().map(|s| s.message.as_str()).collect();
        assert_eq!(
            skipped,
            [
                "role \"r_y\" does not exist",
                "role \"rdsadmin\" does not exist"
            ]
        );
        assert_eq!(
            outcome.skipped[0].statement,
            "CREATE POLICY p ON public.t TO r_y USING (true);"
        );
    }

    #[test]
    fn errors_pg_restore_counted_but_not_parsed_are_real() {
        let parsed = parse_pg_restore(
            "pg_restore: from TOC entry 3346; 3256 16485 POLICY t p r_y\n\
             pg_restore: error: could not execute query: ERROR:  role \"r_y\" does not exist\n\
             Command was: CREATE POLICY p ON public.t TO r_y USING (true);\n\n\n\
             pg_restore: warning: errors ignored on restore: 3\n",
        );
        let outcome = classify(parsed.errors, parsed.ignored.unwrap_or(0));
        assert_eq!(outcome.skipped.len(), 1);
        assert_eq!(outcome.real_total, 2);
        assert!(outcome.shown.is_empty());
    }

    #[test]
    fn errors_outside_toc_entries_name_the_phase() {
        let parsed = parse_pg_restore(
            "pg_restore: while INITIALIZING:\n\
             pg_restore: error: could not execute query: ERROR:  unrecognized configuration parameter \"transaction_timeout\"\n\
             Command was: SET transaction_timeout = 0;\n\
             pg_restore: warning: errors ignored on restore: 1\n",
        );
        assert_eq!(parsed.errors.len(), 1);
        assert_eq!(
            parsed.errors[0].location.as_deref(),
            Some("while INITIALIZING")
        );
        assert_eq!(parsed.errors[0].statement, "SET transaction_timeout = 0;");
        assert_eq!(classify(parsed.errors, 1).real_total, 1);
    }

    #[test]
    fn error_message_says_what_where_and_what_next() {
        let parsed = parse_pg_restore(PG_RESTORE_STDERR);
        let outcome = classify(parsed.errors, 5);
        let error = RestoreError::Errors {
            path: PathBuf::from("prod.dump"),
            database: "retort_scratch_test_0a".into(),
            program: PathBuf::from("/usr/lib/postgresql/15/bin/pg_restore"),
            total: outcome.real_total,
            shown: outcome.shown,
            skipped: outcome.skipped.len(),
        };
        let text = error.to_string();
        assert_eq!(error.exit_code(), 3);
        for part in [
            "restoring prod.dump into database retort_scratch_test_0a",
            "3 statement(s) failed",
            "(2 role-noise error(s) were tolerated)",
            "TOC entry 214; 1259 16478 TABLE t r_y: relation \"t\" already exists",
            "statement: CREATE TABLE public.t (",
            "DETAIL: Failing row contains (1, a, null).",
            "partially restored",
            "dropped at the end anyway",
        ] {
            assert!(text.contains(part), "{part:?} missing in:\n{text}");
        }
        assert!(!text.contains("more"), "{text}");
    }

    #[test]
    fn only_the_first_errors_are_shown() {
        let stderr: String = (1..=8)
            .map(|i| format!("psql:d.sql:{i}: ERROR:  syntax error at or near \"x{i}\"\n"))
            .collect();
        let outcome = classify(parse_psql(&stderr), 0);
        assert_eq!(outcome.real_total, 8);
        assert_eq!(outcome.shown.len(), SHOWN_ERRORS);
        let error = RestoreError::Errors {
            path: PathBuf::from("d.sql"),
            database: "db".into(),
            program: PathBuf::from("psql"),
            total: outcome.real_total,
            shown: outcome.shown,
            skipped: 0,
        };
        let text = error.to_string();
        assert!(text.contains("d.sql:5: syntax error"), "{text}");
        assert!(!text.contains("d.sql:6:"), "{text}");
        assert!(text.contains("... and 3 more"), "{text}");
    }

    #[test]
    fn psql_connection_failure_is_unlocated() {
        let errors = parse_psql(
            "psql: error: connection to server at \"127.0.0.1\", port 1 failed: Connection refused\n",
        );
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].location, None);
        assert!(errors[0].message.starts_with("connection to server"));
    }
}
