//! Identifiers as words of SQL text: which names a text mentions, and renaming one
//! name throughout a text. Deliberately lexical (no parser): the diff engine uses these
//! on the catalog's own renderings of definitions, where a false positive costs at
//! most one object recreated or ordered needlessly.

use std::collections::BTreeSet;

use super::quote_ident;

/// The identifiers and words of SQL text, unquoted (`"My Type"` gives `My Type`): what the
/// reference order of changes looks names up in. Generous like [`mentions`]: words inside
/// string literals and comments count too, and a false positive only orders two changes
/// needlessly.
pub fn words(text: &str) -> BTreeSet<String> {
    tokens(text, false)
        .filter_map(|token| match token.strip_prefix('"') {
            Some(quoted) => Some(
                quoted
                    .strip_suffix('"')
                    .unwrap_or(quoted)
                    .replace("\"\"", "\""),
            ),
            None => token
                .starts_with(|c: char| c.is_alphanumeric() || c == '_')
                .then_some(token),
        })
        .collect()
}

/// The tokens of SQL text: double-quoted identifiers as written (quotes included, `""`
/// kept), words (letters, digits, `_`, and `$` after the first character), and every
/// other character on its own; whitespace skipped, and `--` and `/* */` comments too
/// when `skip_comments` is set. Lexical only: string literals are not told apart, which
/// suits reading a statement's head (`CREATE INDEX CONCURRENTLY name ON table`).
pub fn tokens(text: &str, skip_comments: bool) -> impl Iterator<Item = String> + '_ {
    let mut chars = text.chars().peekable();
    std::iter::from_fn(move || loop {
        let c = chars.next()?;
        if c.is_whitespace() {
            continue;
        }
        if skip_comments && c == '-' && chars.peek() == Some(&'-') {
            for c in chars.by_ref() {
                if c == '\n' {
                    break;
                }
            }
            continue;
        }
        if skip_comments && c == '/' && chars.peek() == Some(&'*') {
            chars.next();
            let mut last = ' ';
            for c in chars.by_ref() {
                if last == '*' && c == '/' {
                    break;
                }
                last = c;
            }
            continue;
        }
        if c == '"' {
            let mut ident = String::from('"');
            while let Some(c) = chars.next() {
                ident.push(c);
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        ident.push('"');
                        chars.next();
                    } else {
                        break;
                    }
                }
            }
            return Some(ident);
        }
        if c.is_alphanumeric() || c == '_' {
            let mut word = String::from(c);
            while let Some(&c) = chars.peek() {
                if c.is_alphanumeric() || c == '_' || c == '$' {
                    word.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            return Some(word);
        }
        return Some(c.to_string());
    })
}

/// Whether `text` mentions the identifier `ident` (as printed by `quote_ident`) as a whole
/// word. Deliberately generous: a false positive only recreates one view too many.
pub fn mentions(text: &str, name: &str) -> bool {
    let ident = quote_ident(name);
    let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '$' || c == '"';
    text.match_indices(&ident).any(|(start, _)| {
        let before = text[..start].chars().next_back();
        let after = text[start + ident.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

/// Replaces every identifier token `old` (bare or double-quoted, as `quote_ident` writes
/// it) by `new` in SQL text, leaving string literals alone.
pub fn replace_identifier(text: &str, old: &str, new: &str) -> String {
    let old = quote_ident(old);
    let new = quote_ident(new);
    let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut previous: Option<char> = None;
    while let Some(c) = rest.chars().next() {
        if c == '\'' {
            // A literal, with '' escapes: copied as is.
            let mut end = 1;
            let bytes = rest.as_bytes();
            while end < bytes.len() {
                if bytes[end] == b'\'' {
                    if bytes.get(end + 1) == Some(&b'\'') {
                        end += 2;
                        continue;
                    }
                    end += 1;
                    break;
                }
                end += 1;
            }
            out.push_str(&rest[..end]);
            previous = Some('\'');
            rest = &rest[end..];
            continue;
        }
        if rest.starts_with(&old) && !previous.is_some_and(|p| is_word(p) || p == '"') {
            let after = rest[old.len()..].chars().next();
            if !after.is_some_and(|a| is_word(a) || a == '"') {
                out.push_str(&new);
                previous = new.chars().next_back();
                rest = &rest[old.len()..];
                continue;
            }
        }
        out.push(c);
        previous = Some(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_unquote_identifiers_and_keep_plain_words() {
        let found = words(r#"SELECT "My ""Odd"" Type".x, $1 FROM public.t_1 WHERE a$b"#);
        for word in ["SELECT", "My \"Odd\" Type", "x", "public", "t_1", "a$b"] {
            assert!(found.contains(word), "{word} missing from {found:?}");
        }
        assert!(!found.contains("$1"));
    }

    #[test]
    fn tokens_keep_quotes_and_may_skip_comments() {
        let head: Vec<String> = tokens(
            "-- why\nCREATE /* c */ INDEX \"My \"\"Idx\" ON s.t (c)",
            true,
        )
        .collect();
        assert_eq!(
            head,
            [
                "CREATE",
                "INDEX",
                "\"My \"\"Idx\"",
                "ON",
                "s",
                ".",
                "t",
                "(",
                "c",
                ")"
            ]
        );
        let all: Vec<String> = tokens("a -- b", false).collect();
        assert_eq!(all, ["a", "-", "-", "b"]);
    }

    #[test]
    fn mentions_matches_whole_identifiers_only() {
        assert!(mentions("FROM public.users u", "users"));
        assert!(!mentions("FROM public.users_archive", "users"));
        assert!(!mentions("FROM public.my_users", "users"));
        assert!(mentions("FROM public.\"User Data\"", "User Data"));
    }

    #[test]
    fn identifiers_are_replaced_outside_literals_only() {
        assert_eq!(
            replace_identifier(
                "CHECK ((email ~~ '%email%'::text) AND (email_x > 0))",
                "email",
                "mail"
            ),
            "CHECK ((mail ~~ '%email%'::text) AND (email_x > 0))"
        );
        assert_eq!(
            replace_identifier("(\"Email\" IS NOT NULL)", "Email", "E-mail"),
            "(\"E-mail\" IS NOT NULL)"
        );
        assert_eq!(
            replace_identifier("lower(email)", "email", "select"),
            "lower(\"select\")"
        );
    }
}
