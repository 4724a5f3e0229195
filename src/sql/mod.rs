//! SQL text, without a database: quoting of identifiers and literals (the one place SQL
//! text is built from names), in [`split`], splitting scripts into statements, and in
//! [`words`], the identifiers a text mentions.
//!
//! Every statement retort writes (generated revisions, dumps, its own bookkeeping) quotes
//! names here, so a generated file quotes uniformly and a name is never spliced in raw.

pub mod split;
pub mod words;

/// Keywords that must be quoted as identifiers: every keyword that is not UNRESERVED in
/// the newest grammar retort supports (`SELECT word FROM pg_get_keywords() WHERE
/// catcode <> 'U'` on PostgreSQL 18). A newer grammar's list is a superset of the older
/// ones' (16 added `system_user`, 17 the SQL/JSON words and `merge_action`), so a name
/// quoted for 18 reads back as the same name on every major from 13 on, while a name
/// left bare by an older list would be a syntax error on a newer server.
const QUOTED_KEYWORDS: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "between",
    "bigint",
    "binary",
    "bit",
    "boolean",
    "both",
    "case",
    "cast",
    "char",
    "character",
    "check",
    "coalesce",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "dec",
    "decimal",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "exists",
    "extract",
    "false",
    "fetch",
    "float",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "greatest",
    "group",
    "grouping",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "inout",
    "int",
    "integer",
    "intersect",
    "interval",
    "into",
    "is",
    "isnull",
    "join",
    "json",
    "json_array",
    "json_arrayagg",
    "json_exists",
    "json_object",
    "json_objectagg",
    "json_query",
    "json_scalar",
    "json_serialize",
    "json_table",
    "json_value",
    "lateral",
    "leading",
    "least",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "merge_action",
    "national",
    "natural",
    "nchar",
    "none",
    "normalize",
    "not",
    "notnull",
    "null",
    "nullif",
    "numeric",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "out",
    "outer",
    "overlaps",
    "overlay",
    "placing",
    "position",
    "precision",
    "primary",
    "real",
    "references",
    "returning",
    "right",
    "row",
    "select",
    "session_user",
    "setof",
    "similar",
    "smallint",
    "some",
    "substring",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "then",
    "time",
    "timestamp",
    "to",
    "trailing",
    "treat",
    "trim",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "values",
    "varchar",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
    "xmlattributes",
    "xmlconcat",
    "xmlelement",
    "xmlexists",
    "xmlforest",
    "xmlnamespaces",
    "xmlparse",
    "xmlpi",
    "xmlroot",
    "xmlserialize",
    "xmltable",
];

/// Splits a dotted name as a person writes it on a command line or a marker line
/// (`app.users`, `"My Schema"."T.1"`) into its parts, unquoted: double quotes keep dots
/// and case, `""` is a quote. The error says what is wrong (an empty part, an open quote).
pub fn split_dotted(text: &str) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = text.trim().chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                current.push('"');
            }
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    if quoted {
        return Err(format!("unterminated quote in {text:?}"));
    }
    parts.push(current);
    if parts.iter().any(String::is_empty) {
        return Err(format!("empty name in {text:?}"));
    }
    Ok(parts)
}

/// Quotes an identifier only when needed, like PostgreSQL's `quote_ident` on the newest
/// major: names made of `[a-z_][a-z0-9_]*` that are not keywords stay bare. (`$` is
/// accepted by the lexer but `quote_ident` quotes it, and we follow the server so both
/// halves of a dump agree.)
pub fn quote_ident(ident: &str) -> String {
    let mut chars = ident.chars();
    let safe = match chars.next() {
        Some(first) => {
            (first.is_ascii_lowercase() || first == '_')
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                && QUOTED_KEYWORDS.binary_search(&ident).is_err()
        }
        None => false,
    };
    if safe {
        ident.to_string()
    } else {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }
}

/// Quotes a string literal (standard_conforming_strings = on, the default since 9.1).
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_sorted_for_binary_search() {
        assert!(QUOTED_KEYWORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn words_reserved_only_in_newer_majors_are_quoted() {
        for word in [
            "system_user",
            "json_table",
            "json_object",
            "merge_action",
            "select",
        ] {
            assert_eq!(quote_ident(word), format!("\"{word}\""));
        }
        for word in ["users", "json_data", "merge", "_x1"] {
            assert_eq!(quote_ident(word), word);
        }
    }

    #[test]
    fn quote_ident_follows_postgres() {
        assert_eq!(quote_ident("users"), "users");
        assert_eq!(quote_ident("_x1"), "_x1");
        assert_eq!(quote_ident("Users"), "\"Users\"");
        assert_eq!(quote_ident("Mixed Case"), "\"Mixed Case\"");
        assert_eq!(quote_ident("1abc"), "\"1abc\"");
        assert_eq!(quote_ident("a$b"), "\"a$b\"");
        assert_eq!(quote_ident("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quote_ident(""), "\"\"");
        // Reserved and column-name keywords are quoted, unreserved ones are not.
        for word in [
            "select", "user", "integer", "xmltable", "all", "analyse", "setof",
        ] {
            assert_eq!(quote_ident(word), format!("\"{word}\""));
        }
        for word in ["name", "comment", "data"] {
            assert_eq!(quote_ident(word), word);
        }
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
